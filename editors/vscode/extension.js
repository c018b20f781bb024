// The graphc VS Code client: starts `graphc lsp` (stdio) for .model files.
// Settings: graphc.server.command / graphc.server.args / graphc.server.debounceMs.
"use strict";

const path = require("path");
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client = null;

function serverOptions() {
  const config = vscode.workspace.getConfiguration("graphc");
  let command = config.get("server.command", "graphc");
  const args = config.get("server.args", ["lsp"]);
  const folders = vscode.workspace.workspaceFolders;
  // a relative path with a separator (".venv/bin/graphc") is the workspace's; a bare name is PATH's
  if (!path.isAbsolute(command) && /[\\/]/.test(command) && folders && folders.length > 0) {
    command = path.join(folders[0].uri.fsPath, command);
  }
  return { command, args, transport: TransportKind.stdio };
}

function clientOptions() {
  const config = vscode.workspace.getConfiguration("graphc");
  return {
    documentSelector: [{ language: "graphc" }],
    initializationOptions: { debounce_ms: config.get("server.debounceMs", 15) },
    outputChannelName: "graphc",
  };
}

async function start() {
  client = new LanguageClient("graphc", "graphc", serverOptions(), clientOptions());
  try {
    await client.start();
  } catch (err) {
    const command = serverOptions().command;
    vscode.window.showErrorMessage(
      `graphc: could not start "${command} lsp" (${err && err.message ? err.message : err}). ` +
      "Set graphc.server.command to the graphc of the environment graphc is installed in, " +
      "and install the server's extra: pip install 'graphc[lsp]'.");
  }
}

async function stop() {
  if (client) {
    const c = client;
    client = null;
    await c.stop().catch(() => undefined);
  }
}

async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("graphc.restartServer", async () => {
      await stop();
      await start();
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration("graphc.server")) {
        await stop();
        await start();
      }
    }),
  );
  await start();
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };
