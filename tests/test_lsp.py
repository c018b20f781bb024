"""`graphc lsp` end to end: a real server subprocess driven over stdio by pygls's own client, as
an editor drives it.  The server runs with torch, pygls and lsprotocol made unimportable
(``sys.modules["torch"] = None``), so any request that imported torch would fail, and the
protocol is checked by a client the server shares no code with.  The shapes expected are PyTorch's own
(nn.Conv2d's output-size rule; torchvision's ResNet-50 stem and stage widths)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("pygls.lsp.server")  # pygls 2 (pygls 1 has no pygls.lsp.server)
from lsprotocol import types as T  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402
from pygls.uris import from_fs_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESNET50 = ROOT / "models" / "resnet50.model"
SERVER = ("import sys; sys.modules['torch'] = sys.modules['pygls'] = sys.modules['lsprotocol'] = None; "
          "from graphc.cli import main; sys.exit(main(['lsp']))")
TIMEOUT = 20


class Session:
    """One server for the module; each test runs its coroutines on the session's loop."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.client = LanguageClient("graphc-tests", "1")
        self.diagnostics: dict[str, list[T.Diagnostic]] = {}
        self.waiters: dict[str, asyncio.Event] = {}

        @self.client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_diagnostics(params: T.PublishDiagnosticsParams):
            self.diagnostics[params.uri] = params.diagnostics
            self.waiter(params.uri).set()

        self.run(self.client.start_io(sys.executable, "-c", SERVER, cwd=str(ROOT),
                                      env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}))
        self.run(self.client.initialize_async(T.InitializeParams(
            capabilities=T.ClientCapabilities(), initialization_options={"debounce_ms": 5})))
        self.client.initialized(T.InitializedParams())
        self.versions: dict[str, int] = {}

    def waiter(self, uri: str) -> asyncio.Event:
        return self.waiters.setdefault(uri, asyncio.Event())

    def run(self, coro):
        return self.loop.run_until_complete(asyncio.wait_for(coro, TIMEOUT))

    def diagnostics_of(self, uri: str) -> list[T.Diagnostic]:
        """The next diagnostics published for ``uri``."""
        async def wait():
            await self.waiter(uri).wait()
            self.waiter(uri).clear()
            return list(self.diagnostics[uri])
        return self.run(wait())

    def open(self, path: Path, text: str | None = None) -> str:
        uri = from_fs_path(str(path))
        self.waiter(uri).clear()
        self.versions[uri] = 1
        self.client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(
            uri=uri, language_id="graphc", version=1, text=path.read_text() if text is None else text)))
        return uri

    def change(self, uri: str, text: str) -> None:
        self.waiter(uri).clear()
        self.versions[uri] += 1
        self.client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
            [T.TextDocumentContentChangeWholeDocument(text=text)]))

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(T.DidCloseTextDocumentParams(T.TextDocumentIdentifier(uri)))

    def stop(self):
        self.run(self.client.shutdown_async(None))
        self.client.exit(None)
        self.run(self.client.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def lsp():
    s = Session()
    yield s
    s.stop()


def doc(uri):
    return T.TextDocumentIdentifier(uri=uri)


SMALL = textwrap.dedent("""\
    block Pair(c) {
        input x
        y = x -> Conv2d(c, 3) -> ReLU
        output y
    }

    model Small {
        input image: [B, 3, 32, 32]
        a = image -> first: Pair(8)
        b = a -> second: Pair(16) -> Flatten
        output b
    }
    """)


def test_diagnostics_on_open_and_change(lsp, tmp_path):
    path = tmp_path / "bad.model"
    bad = SMALL.replace("input image: [B, 3, 32, 32]", "input image: [B, 3, 4, 4]")
    uri = lsp.open(path, bad)
    diags = lsp.diagnostics_of(uri)
    # the second 3×3 convolution of a 4×4 image would be 0×0 (torch: 4 - 3 + 1 = 2, then 0)
    assert [d.code for d in diags] == ["shape-nonpositive"]
    assert diags[0].severity == T.DiagnosticSeverity.Error
    assert diags[0].range.start.line == 2  # the block line (0-based), where the convolution is
    lsp.change(uri, SMALL)  # fixed in the buffer, never saved
    assert lsp.diagnostics_of(uri) == []
    # a request inside the debounce compiles at once; the diagnostics still follow
    lsp.change(uri, bad)
    hints = lsp.run(lsp.client.text_document_inlay_hint_async(T.InlayHintParams(
        doc(uri), T.Range(T.Position(0, 0), T.Position(20, 0)))))
    assert hints is not None
    assert [d.code for d in lsp.diagnostics_of(uri)] == ["shape-nonpositive"]
    lsp.close(uri)


def test_imported_file_diagnostics_go_to_its_own_uri(lsp, tmp_path):
    lib = tmp_path / "lib.model"
    lib.write_text("block Widen(c) {\n    input x\n    y = x -> Conv2d(c, 3, paddin=1)\n    output y\n}\n")
    main = tmp_path / "main.model"
    text = ('import "lib.model"\n\nmodel M {\n    input x: [B, 3, 8, 8]\n'
            '    y = x -> Widen(4)\n    output y\n}\n')
    uri = lsp.open(main, text)
    lib_uri = from_fs_path(str(lib))
    mine = lsp.diagnostics_of(uri)
    theirs = lsp.diagnostics_of(lib_uri)
    assert [d.code for d in theirs] == ["unknown-argument"]
    assert theirs[0].range.start.line == 2 and "padding" in theirs[0].message  # did you mean
    assert len(mine) == 1 and mine[0].range.start.line == 0 and "lib.model" in mine[0].message
    lib.write_text(lib.read_text().replace("paddin=", "padding="))
    lsp.client.text_document_did_save(T.DidSaveTextDocumentParams(doc(from_fs_path(str(lib)))))
    lsp.change(uri, text + "\n")
    assert lsp.diagnostics_of(uri) == []
    assert lsp.diagnostics_of(lib_uri) == []  # cleared once the import is fine
    lsp.close(uri)


def test_inlay_hints_show_every_step_and_merge_block_uses(lsp, tmp_path):
    path = tmp_path / "small.model"
    uri = lsp.open(path, SMALL)
    lsp.diagnostics_of(uri)
    hints = lsp.run(lsp.client.text_document_inlay_hint_async(T.InlayHintParams(
        doc(uri), T.Range(T.Position(0, 0), T.Position(20, 0)))))
    at = {(h.position.line, h.position.character): h.label for h in hints}
    lines = SMALL.splitlines()
    # the block's convolution: 32 -> 30 in the first use (8 channels), 30 -> 28 in the second (16)
    conv_end = lines[2].index("Conv2d(c, 3)") + len("Conv2d(c, 3)")
    assert at[(2, conv_end)] == "(B, 8|16, 30|28, 30|28)"
    assert at[(1, len("    input x"))] == ": (B, 3|8, 32|30, 32|30)"     # the block's input, per use
    assert at[(8, len("    a"))] == ": (B, 8, 30, 30)"                    # an assignment
    flatten_end = lines[9].index("Flatten") + len("Flatten")
    assert at[(9, lines[9].index("Pair(16)") + len("Pair(16)"))] == "(B, 16, 28, 28)"  # a step
    assert (9, flatten_end) not in at                  # the last step of a one-line assignment...
    assert at[(9, len("    b"))] == ": (B, 12544)"      # ...is shown at its name: 16 * 28 * 28
    lsp.close(uri)


def test_hover_lists_every_use_of_a_block_line_and_the_formula(lsp):
    uri = lsp.open(RESNET50)
    lsp.diagnostics_of(uri)
    lines = RESNET50.read_text().splitlines()
    row = next(i for i, ln in enumerate(lines) if "conv2: Conv2d(c, 3, stride=stride" in ln)
    h = lsp.run(lsp.client.text_document_hover_async(T.HoverParams(
        doc(uri), T.Position(row, lines[row].index("Conv2d") + 2))))
    text = h.contents.value
    assert "**Conv2d**" in text and "4 uses" in text
    for stage, shape in [("layer1.0", "(B, 64, 56, 56)"), ("layer2.0", "(B, 128, 28, 28)"),
                         ("layer3.0", "(B, 256, 14, 14)"), ("layer4.0", "(B, 512, 7, 7)")]:
        assert f"`{stage}.conv2` `{shape}`" in text
    stem = next(i for i, ln in enumerate(lines) if "conv1: Conv2d(64, 7" in ln)
    h = lsp.run(lsp.client.text_document_hover_async(T.HoverParams(
        doc(uri), T.Position(stem, lines[stem].index("Conv2d") + 1))))
    text = h.contents.value
    assert "parameters: 9,408" in text                         # 64 * 3 * 7 * 7, no bias
    assert "H_out = floor((224 + 2·3 − 1·(7−1) − 1)/2) + 1 = 112" in text
    assert "MACs: 118,013,952·B" in text                       # 9,408 * 112 * 112 per image
    add = next(i for i, ln in enumerate(lines) if "out = add(y, shortcut)" in ln)
    h = lsp.run(lsp.client.text_document_hover_async(T.HoverParams(
        doc(uri), T.Position(add, lines[add].index("shortcut") + 1))))  # a value where it is used
    assert h.contents.value == "`shortcut`: `(B, 256|512|1024|2048, 56|28|14|7, 56|28|14|7)`"
    lsp.close(uri)


def test_definition_of_blocks_values_labels_and_imported_blocks(lsp, tmp_path):
    lib = tmp_path / "blocks.model"
    lib.write_text("block Widen(c) {\n    input x\n    y = x -> Conv2d(c, 1)\n    output y\n}\n")
    main = tmp_path / "net.model"
    text = ('import "blocks.model"\nconst W = 4\n\nmodel M {\n    input x: [B, 3, 8, 8]\n'
            '    y = x -> stem: Widen(W)\n    z = y -> ReLU\n    output z\n}\n')
    uri = lsp.open(main, text)
    lsp.diagnostics_of(uri)

    def goto(line, col):
        loc = lsp.run(lsp.client.text_document_definition_async(T.DefinitionParams(doc(uri), T.Position(line, col))))
        return (Path(loc.uri).name if loc else None,
                (loc.range.start.line, loc.range.start.character) if loc else None)

    lines = text.splitlines()
    assert goto(5, lines[5].index("Widen") + 1) == ("blocks.model", (0, 6))    # into the imported file
    assert goto(5, lines[5].index("(W)") + 1) == ("net.model", (1, 6))          # a constant
    assert goto(6, lines[6].index("y ->") ) == ("net.model", (5, 4))            # a value
    assert goto(7, lines[7].index("z")) == ("net.model", (6, 4))
    assert goto(0, 10) == ("blocks.model", (0, 0))                              # the import's path
    symbols = lsp.run(lsp.client.text_document_document_symbol_async(T.DocumentSymbolParams(doc(uri))))
    assert [(s.name, s.kind) for s in symbols] == [("W", T.SymbolKind.Constant), ("M", T.SymbolKind.Class)]
    kids = {c.name: c.kind for c in symbols[1].children}
    assert kids["x"] == T.SymbolKind.Variable and kids["y"] == T.SymbolKind.Variable
    assert kids["z"] == T.SymbolKind.Variable
    labels = [g.name for c in symbols[1].children for g in (c.children or [])]
    assert labels == ["stem"]
    lsp.close(uri)


def test_completion_of_kinds_and_arguments(lsp, tmp_path):
    path = tmp_path / "typing.model"
    text = "model M {\n    input x: [B, 3, 8, 8]\n    y = x -> Conv2d(8, \n    output y\n}\n"
    uri = lsp.open(path, text)
    lsp.diagnostics_of(uri)  # a syntax error while typing: completion still answers
    got = lsp.run(lsp.client.text_document_completion_async(T.CompletionParams(
        doc(uri), T.Position(2, len("    y = x -> Conv2d(8, ")))))
    args = {i.label: i for i in got.items if i.kind == T.CompletionItemKind.Property}
    # nn.Conv2d's own keyword arguments
    assert {"kernel_size", "stride", "padding", "dilation", "groups", "bias"} <= set(args)
    assert args["stride"].insert_text == "stride=" and "= 1" in args["stride"].detail
    kinds = {i.label for i in got.items if i.kind == T.CompletionItemKind.Class}
    assert {"Conv2d", "Linear", "ReLU", "LSTM", "MultiheadAttention"} <= kinds
    item = next(i for i in got.items if i.label == "Linear")
    resolved = lsp.run(lsp.client.completion_item_resolve_async(item))
    assert "nn.Linear" in resolved.documentation.value
    lsp.close(uri)


def test_formatting(lsp, tmp_path):
    path = tmp_path / "messy.model"
    text = "model M {\ninput x: [B, 4]\ny = x -> Linear(2)   -> ReLU\noutput y\n}\n"
    uri = lsp.open(path, text)
    lsp.diagnostics_of(uri)
    edits = lsp.run(lsp.client.text_document_formatting_async(T.DocumentFormattingParams(
        doc(uri), T.FormattingOptions(tab_size=4, insert_spaces=True))))
    assert len(edits) == 1 and edits[0].range.start == T.Position(0, 0)
    assert edits[0].new_text == "model M {\n    input x: [B, 4]\n    y = x -> Linear(2) -> ReLU\n    output y\n}\n"
    lsp.close(uri)


def _raw(messages: list[bytes], server: str = SERVER) -> tuple[int, list[dict]]:
    """The server's exit status and its answers to raw protocol bytes."""
    import json

    data = b"".join(b"Content-Length: %d\r\n\r\n" % len(m) + m for m in messages)
    r = subprocess.run([sys.executable, "-c", server], input=data, capture_output=True, cwd=ROOT, timeout=60,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    out, answers = r.stdout, []
    while out:
        head, _, rest = out.partition(b"\r\n\r\n")
        n = int(head.split(b":")[1])
        answers.append(json.loads(rest[:n]))
        out = rest[n:]
    return r.returncode, answers


def test_protocol_errors_and_exit_status():
    init = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}'
    # a request before initialize, bad JSON, an unknown method; then shutdown and exit: status 0
    code, answers = _raw([b'{"jsonrpc":"2.0","id":0,"method":"textDocument/hover","params":{}}', init,
                          b"{not json", b'{"jsonrpc":"2.0","id":2,"method":"graphc/nothing"}',
                          b'{"jsonrpc":"2.0","id":3,"method":"shutdown"}', b'{"jsonrpc":"2.0","method":"exit"}'])
    assert code == 0
    by_id = {a.get("id"): a for a in answers}
    assert by_id[0]["error"]["code"] == -32002                        # ServerNotInitialized
    caps = by_id[1]["result"]["capabilities"]
    assert caps["textDocumentSync"]["change"] == 2 and caps["renameProvider"] == {"prepareProvider": True}
    assert by_id[None]["error"]["code"] == -32700                     # ParseError
    assert by_id[2]["error"]["code"] == -32601                        # MethodNotFound
    assert by_id[3] == {"jsonrpc": "2.0", "id": 3, "result": None}
    # the input ends without shutdown: status 1, as the protocol asks; a header without a length
    # is skipped, the next message still answered
    code, answers = _raw([init])
    assert code == 1
    import json

    bad = b"Content-Length: twelve\r\n\r\n"
    data = bad + b"".join(b"Content-Length: %d\r\n\r\n" % len(m) + m for m in [init])
    r = subprocess.run([sys.executable, "-c", SERVER], input=data, capture_output=True, cwd=ROOT, timeout=60,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    body = r.stdout.partition(b"\r\n\r\n")[2]
    assert json.loads(body)["id"] == 1 and r.returncode == 1


def test_incremental_changes_in_utf16(lsp, tmp_path):
    # an edit given as a range, after a character outside the BMP (two UTF-16 code units)
    text = "# 𝔾 graphc\nmodel M {\n    input x: [B, 4]\n    y = x -> Linear(2)\n    output y\n}\n"
    uri = lsp.open(tmp_path / "wide.model", text)
    assert lsp.diagnostics_of(uri) == []
    lsp.waiter(uri).clear()
    lsp.versions[uri] += 1
    # "𝔾" is 2 units: the 'g' of graphc is at character 5; replace "Linear(2)" by "Linear(0)"
    row = 3
    col = text.splitlines()[row].index("(2)") + 1
    lsp.client.text_document_did_change(T.DidChangeTextDocumentParams(
        T.VersionedTextDocumentIdentifier(uri=uri, version=lsp.versions[uri]),
        [T.TextDocumentContentChangePartial(range=T.Range(T.Position(row, col), T.Position(row, col + 1)),
                                            text="0")]))
    diags = lsp.diagnostics_of(uri)
    assert [d.code for d in diags] == ["invalid-argument"]               # nn.Linear(4, 0) is refused
    assert diags[0].range.start.line == row
    # "graphc" after "# 𝔾 " starts at UTF-16 unit 5 (𝔾 is a surrogate pair): replace it
    lsp.versions[uri] += 1
    lsp.client.text_document_did_change(T.DidChangeTextDocumentParams(
        T.VersionedTextDocumentIdentifier(uri=uri, version=lsp.versions[uri]),
        [T.TextDocumentContentChangePartial(range=T.Range(T.Position(0, 5), T.Position(0, 11)), text="shapes"),
         T.TextDocumentContentChangePartial(range=T.Range(T.Position(row, col), T.Position(row, col + 1)),
                                            text="2")]))
    edits = lsp.run(lsp.client.text_document_formatting_async(T.DocumentFormattingParams(
        doc(uri), T.FormattingOptions(tab_size=4, insert_spaces=True))))
    assert list(edits) == []                 # the buffer is exactly the formatted text...
    symbols = lsp.run(lsp.client.text_document_document_symbol_async(T.DocumentSymbolParams(doc(uri))))
    assert symbols[0].name == "M"
    lsp.change(uri, text.replace("graphc", "shapes") + "#")  # ...which this change, a whole text, shows
    edits = lsp.run(lsp.client.text_document_formatting_async(T.DocumentFormattingParams(
        doc(uri), T.FormattingOptions(tab_size=4, insert_spaces=True))))
    assert edits[0].new_text == text.replace("graphc", "shapes") + "\n#\n"  # fmt: a blank line before it
    lsp.close(uri)


def test_completion_in_the_training_section(lsp, tmp_path):
    text = ("model M {\n    input x: [B, 4]\n    y = x -> Linear(2)\n    output y\n    train {\n"
            "        loss = \n        optimizer = AdamW()\n        \n    }\n}\n")
    uri = lsp.open(tmp_path / "train.model", text)
    lsp.diagnostics_of(uri)

    def labels(line, col):
        got = lsp.run(lsp.client.text_document_completion_async(T.CompletionParams(doc(uri), T.Position(line, col))))
        return {i.label: i for i in got.items}

    losses = labels(5, len("        loss = "))
    assert {"CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss"} <= set(losses) and "AdamW" not in losses
    assert losses["CrossEntropyLoss"].detail == "loss (nn.CrossEntropyLoss)"
    args = labels(6, len("        optimizer = AdamW("))
    # torch.optim.AdamW's keywords and defaults
    assert "= 0.001" in args["lr"].detail and "= 0.01" in args["weight_decay"].detail
    settings = labels(7, 8)
    assert {"loss", "optimizer", "scheduler", "data", "epochs", "batch_size"} <= set(settings)
    assert "Conv2d" not in settings and "= 32" in settings["batch_size"].detail
    lsp.change(uri, text.replace("loss = ", "loss = MSELoss()"))   # parses: a hover on a component
    h = lsp.run(lsp.client.text_document_hover_async(T.HoverParams(doc(uri), T.Position(6, 22))))
    assert "torch.optim.AdamW" in h.contents.value and "`betas`" in h.contents.value
    lsp.close(uri)


def test_an_oversized_message_is_read_past_and_answered():
    """A message over the size limit is skipped in pieces and answered; the next ones are served."""
    init = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}'
    msgs = [b'{"jsonrpc":"2.0","id":9,"method":"x","params":"' + b"a" * 300 + b'"}', init,
            b'{"jsonrpc":"2.0","id":2,"method":[1]}',
            b'{"jsonrpc":"2.0","id":3,"method":"shutdown"}', b'{"jsonrpc":"2.0","method":"exit"}']
    small = SERVER.replace("from graphc.cli import main;", "import graphc.lsp.rpc as rpc; rpc.MAX_MESSAGE = 200; "
                                                           "from graphc.cli import main;")
    code, answers = _raw(msgs, small)
    by_id = {a.get("id"): a for a in answers}
    assert "the limit is 200" in by_id[None]["error"]["message"]
    assert "capabilities" in by_id[1]["result"]
    assert by_id[2]["error"]["code"] == -32600  # InvalidRequest: the method is not a string
    assert by_id[3]["result"] is None and code == 0
