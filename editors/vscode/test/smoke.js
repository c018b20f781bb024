// Drives `graphc lsp` with vscode-jsonrpc, the JSON-RPC library VS Code's client is built on:
// initialize, open a file with an error, wait for its diagnostic, hover, quick fix, shutdown.
//   node test/smoke.js PYTHON REPO_ROOT
"use strict";

const cp = require("child_process");
const path = require("path");
const rpc = require("vscode-jsonrpc/node");

const [python, root] = process.argv.slice(2);
const proc = cp.spawn(python, ["-m", "graphc", "lsp"], {
  cwd: root, env: { ...process.env, PYTHONPATH: root }, stdio: ["pipe", "pipe", "inherit"],
});
const conn = rpc.createMessageConnection(new rpc.StreamMessageReader(proc.stdout),
                                         new rpc.StreamMessageWriter(proc.stdin));
const fail = (msg) => { console.error("smoke: " + msg); process.exit(1); };
setTimeout(() => fail("no answer in 60 s"), 60000).unref();

const uri = "file://" + path.join(root, "smoke_does_not_exist.model");
const text = "model M {\n    input x: [B, 3, 8, 8]\n    y = x -> Conv2d(8, 3, paddin=1) -> ReLU\n    output y\n}\n";

conn.onNotification("textDocument/publishDiagnostics", async (params) => {
  if (params.uri !== uri) return;
  const d = params.diagnostics;
  if (d.length !== 1 || d[0].code !== "unknown-argument") fail("diagnostics " + JSON.stringify(d));
  const hover = await conn.sendRequest("textDocument/hover",
    { textDocument: { uri }, position: { line: 2, character: 15 } });
  if (!hover || !hover.contents.value.includes("Conv2d")) fail("hover " + JSON.stringify(hover));
  const actions = await conn.sendRequest("textDocument/codeAction",
    { textDocument: { uri }, range: d[0].range, context: { diagnostics: d } });
  const edit = actions[0] && actions[0].edit.changes[uri][0];
  if (!edit || edit.newText !== "padding") fail("code actions " + JSON.stringify(actions));
  await conn.sendRequest("shutdown");
  conn.sendNotification("exit");
  proc.on("exit", (code) => {
    if (code !== 0) fail("exit status " + code);
    console.log("smoke: graphc lsp answered vscode-jsonrpc (diagnostics, hover, quick fix)");
    process.exit(0);
  });
});

conn.listen();
(async () => {
  const init = await conn.sendRequest("initialize", { processId: process.pid, rootUri: null, capabilities: {} });
  if (!init.capabilities.hoverProvider) fail("capabilities " + JSON.stringify(init));
  conn.sendNotification("initialized", {});
  conn.sendNotification("textDocument/didOpen",
    { textDocument: { uri, languageId: "graphc", version: 1, text } });
})();
