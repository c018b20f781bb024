"""``graphc lsp``: the language server, on stdio (the protocol itself in graphc.lsp.rpc).

Diagnostics as you type (an edit after a pause is checked at once, a burst of edits once it
pauses; an imported file's own diagnostics go to its own URI), inlay hints with the shape after
every step, hover with a layer's arguments, shapes, parameters, MACs and size formulas, go to
definition, references, rename, quick fixes, the outline, completion and formatting.  Everything
comes from ``graphc.api.compile_source`` and the public ``Program``: the server never imports torch.
Messages are plain dicts, named as the protocol names them (camelCase).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from graphc import __version__
from graphc import ast as A
from graphc.lsp import navigate
from graphc.lsp.incremental import ChunkParser
from graphc.lsp.positions import Lines
from graphc.lsp.rpc import Server, log_exception
from graphc.lsp.uris import from_fs_path, to_fs_path
from graphc.source import Span

#: Seconds a burst of edits must pause before the file is checked again (initializationOptions
#: ``{"debounce_ms": N}`` changes it); the first edit after a pause is checked at once.
DEBOUNCE_S = 0.015
#: A file larger than this is not read from disk for an import's definitions.
MAX_READ = 1 << 20

SEVERITY = {"error": 1, "warning": 2, "note": 3}   # DiagnosticSeverity
SYNC_INCREMENTAL = 2


@dataclass
class State:
    """The last compile of an open document."""

    uri: str
    path: str
    text: str | None = None          # the text compiled (None: not yet)
    comp: object = None              # graphc.api.Compilation
    index: object = None             # graphc.lsp.shapes.ShapeIndex, made when asked
    tree: A.File | None = None       # the last tree that parsed (kept while the text does not)
    published: set[str] = field(default_factory=set)  # other URIs given diagnostics from here
    pending: object = None           # the rpc.Timer of the next publish
    parser: ChunkParser = field(default_factory=ChunkParser)  # reuses the parse of unchanged items
    last_change: float = -1e9        # loop time of the last edit


class GraphcServer(Server):
    def __init__(self):
        super().__init__()
        self.docs: dict[str, str] = {}      # uri -> the editor's text of every open document
        self.versions: dict[str, int] = {}  # uri -> the version of that text
        self.open_paths: dict[str, str] = {}  # normalized path -> the uri the editor opened it by
        self.states: dict[str, State] = {}
        self.debounce = DEBOUNCE_S
        self.files = navigate.Files(self.read)

    # ------------------------------------------------------------------ documents
    def path_of(self, uri: str) -> str:
        return to_fs_path(uri) or uri

    def uri_of(self, path: str) -> str:
        """The URI of a path: the editor's own when the file is open (editors spell URIs
        differently: ``file:///c%3A/x.model``), else ``file://`` + the path."""
        return self.open_paths.get(os.path.normcase(os.path.normpath(path))) or from_fs_path(path) or path

    def is_open(self, path: str) -> bool:
        return os.path.normcase(os.path.normpath(path)) in self.open_paths

    def text_of(self, uri: str) -> str:
        return self.docs.get(uri, "")

    def read(self, path: str) -> str | None:
        """The text of ``path``: the editor's buffer when it is open, else the file on disk."""
        uri = self.open_paths.get(os.path.normcase(os.path.normpath(path)))
        if uri in self.docs:
            return self.docs[uri]
        try:
            with open(path, "rb") as f:
                return f.read(MAX_READ).decode("utf-8-sig", errors="replace")
        except OSError:
            return None

    def state(self, uri: str) -> State:
        """The document's compile, made current first when the text has changed since."""
        st = self.states.get(uri)
        if st is None:
            st = self.states[uri] = State(uri, self.path_of(uri))
        text = self.text_of(uri)
        if st.text != text:
            self.compile(st, text)
        return st

    def compile(self, st: State, text: str) -> None:
        from graphc.api import Compilation, compile_source
        from graphc.errors import diag
        from graphc.source import Source

        # a request that arrives while a publish waits compiles now; the publish, when its time
        # comes, finds the text compiled and only sends the diagnostics
        try:
            try:
                tree = st.parser.parse(text, st.path)
            except Exception:  # a bug of the chunking: the whole file's parse decides
                log_exception("incremental parse failed")
                tree = None
            st.comp = compile_source(text, st.path, tree=tree)
        except Exception as e:  # a bug in graphc: say so where the user looks, keep serving
            log_exception("compile failed")
            st.comp = Compilation(Source(st.path, text), None, [diag(
                Span(st.path, 1, 1, 1, 2), "io-error", f"graphc internal error: {type(e).__name__}: {e}",
                "this is a bug in graphc; `graphc check --debug` shows the traceback")])
        st.text = text
        st.index = None
        tree = st.comp.program.file if st.comp.program is not None else None
        tree = tree if tree is not None else self.files.tree(st.path, text)
        if tree is not None:
            st.tree = tree

    def shapes(self, st: State):
        """The document's graphc.lsp.shapes.ShapeIndex."""
        if st.index is None:
            from graphc.lsp.shapes import ShapeIndex

            st.index = ShapeIndex(st.comp.programs)
        return st.index

    def schedule(self, uri: str, delay: float | None = None) -> None:
        """Publish the document's diagnostics after ``delay`` seconds.  An edit (no ``delay``)
        after a pause longer than the debounce is checked at once; the edits of a burst (typing
        fast, a paste, an editor's multi-cursor change) push the check back until they pause."""
        st = self.states.get(uri)
        if st is None:
            st = self.states[uri] = State(uri, self.path_of(uri))
        if delay is None:
            now = self.loop.time()
            burst = st.pending is not None or now - st.last_change < self.debounce
            delay = self.debounce if burst else 0.0
            st.last_change = now
        if st.pending is not None:
            st.pending.cancel()
        st.pending = self.loop.call_later(delay, self.publish, uri)

    def publish(self, uri: str) -> None:
        if uri not in self.states or uri not in self.docs:
            return
        st = self.state(uri)
        st.pending = None
        lines = Lines(st.text)
        by_path: dict[str, list] = {}
        for d in st.comp.diagnostics:
            by_path.setdefault(d.span.path, []).append(d)
        mine = [self.diagnostic(lines, d) for d in by_path.pop(st.path, [])]
        mine += self.import_summaries(st, by_path, lines)
        mine_params = {"uri": uri, "diagnostics": mine}
        if isinstance(self.versions.get(uri), int):
            mine_params["version"] = self.versions[uri]   # the text they are of: always the newest
        self.notify("textDocument/publishDiagnostics", mine_params)
        now: set[str] = set()
        for path, diags in by_path.items():
            if self.is_open(path):  # an open file reports its own diagnostics
                continue
            other = from_fs_path(path)
            if other is None:
                continue
            src = st.comp.source.imported.get(path)
            olines = Lines(src.text if src is not None else "")
            self.notify("textDocument/publishDiagnostics",
                        {"uri": other, "diagnostics": [self.diagnostic(olines, d) for d in diags]})
            now.add(other)
        for gone in st.published - now:
            self.notify("textDocument/publishDiagnostics", {"uri": gone, "diagnostics": []})
        st.published = now
        # the shapes of the new text, ready for the hover and the inlay hints that follow
        self.loop.call_soon(self._index, uri, st.text)

    def _index(self, uri: str, text: str) -> None:
        st = self.states.get(uri)
        if st is not None and st.text == text and st.pending is None:
            self.shapes(st)

    def import_summaries(self, st: State, by_path: dict, lines: Lines) -> list[dict]:
        """One diagnostic on the ``import`` line for each imported file that has errors."""
        if st.tree is None:
            return []
        imports = [it for it in st.tree.items if isinstance(it, A.Import)]
        out = []
        for path, diags in by_path.items():
            errors = [d for d in diags if d.severity == "error"]
            if not errors or not imports:
                continue
            imp = next((i for i in imports if navigate.import_path(st.path, i.path) == path), imports[0])
            first = errors[0]
            out.append({"range": lines.range(imp.path_span), "severity": SEVERITY["error"], "source": "graphc",
                        "code": "invalid-import",
                        "message": f"{path}: {len(errors)} error{'s' if len(errors) > 1 else ''}; the first, "
                                   f"{first.span.line}:{first.span.col}: {first.message}"})
        return out

    @staticmethod
    def diagnostic(lines: Lines, d) -> dict:
        msg = d.message + (f"\nhint: {d.hint}" if d.hint else "")
        return {"range": lines.range(d.span), "message": msg, "severity": SEVERITY[d.severity],
                "code": d.code, "source": "graphc"}


server = GraphcServer()

CAPABILITIES = {
    "positionEncoding": "utf-16",
    "textDocumentSync": {"openClose": True, "change": SYNC_INCREMENTAL, "save": {"includeText": False}},
    "hoverProvider": True,
    "inlayHintProvider": {"resolveProvider": False},
    "definitionProvider": True,
    "referencesProvider": True,
    "renameProvider": {"prepareProvider": True},
    "codeActionProvider": {"codeActionKinds": ["quickfix"]},
    "documentSymbolProvider": True,
    "completionProvider": {"triggerCharacters": ["(", ",", ">", "="], "resolveProvider": True},
    "documentFormattingProvider": True,
}


@server.request("initialize")
def initialize(params):
    opts = (params or {}).get("initializationOptions") or {}
    if isinstance(opts, dict) and isinstance(opts.get("debounce_ms"), (int, float)):
        server.debounce = max(0.0, float(opts["debounce_ms"]) / 1000)
    server.initialized = True
    server.loop.call_soon(_warm)  # after the answer: the editor goes on while the checker loads
    return {"capabilities": CAPABILITIES, "serverInfo": {"name": "graphc", "version": __version__}}


WARM_UP = "model Warm {\n    input x: [B, 3, 8, 8]\n    y = x -> Conv2d(4, 3) -> Flatten -> Linear(2)\n    output y\n}\n"


def _warm() -> None:
    """Load the checker (the parser, the layers, lowering, inference, the shape index) with a
    small compile, unless a document came first and loads it anyway."""
    if server.states:
        return
    from graphc.api import compile_source
    from graphc.lsp.shapes import ShapeIndex

    try:
        ShapeIndex(compile_source(WARM_UP, "<warm-up>").programs)
    except Exception:  # only a warm-up: the first real compile reports what is wrong
        log_exception("warm-up failed")


@server.notification("initialized")
def initialized(params):
    pass


@server.request("shutdown")
def shutdown(params):
    server.shutdown_requested = True
    return None


@server.notification("exit")
def exit_(params):
    server.stop(0 if server.shutdown_requested else 1)


@server.notification("textDocument/didOpen")
def did_open(params):
    doc = params["textDocument"]
    server.docs[doc["uri"]] = doc["text"]
    server.versions[doc["uri"]] = doc.get("version")
    path = to_fs_path(doc["uri"])
    if path is not None:
        server.open_paths[os.path.normcase(os.path.normpath(path))] = doc["uri"]
    server.schedule(doc["uri"], 0)


@server.notification("textDocument/didChange")
def did_change(params):
    uri = params["textDocument"]["uri"]
    text = server.docs.get(uri, "")
    for change in params["contentChanges"]:
        r = change.get("range")
        if r is None:
            text = change["text"]
        else:
            lines = Lines(text)
            start, end = lines.offset(r["start"]), lines.offset(r["end"])
            text = text[:start] + change["text"] + text[end:]
    server.docs[uri] = text
    server.versions[uri] = params["textDocument"].get("version")
    server.schedule(uri)


@server.notification("textDocument/didSave")
def did_save(params):
    # a saved file may be imported by the other open files: check them again
    saved = params["textDocument"]["uri"]
    for uri in list(server.states):
        if uri != saved:
            server.states[uri].text = None
            server.schedule(uri)


@server.notification("textDocument/didClose")
def did_close(params):
    uri = params["textDocument"]["uri"]
    server.docs.pop(uri, None)
    server.versions.pop(uri, None)
    path = to_fs_path(uri)
    if path is not None:
        server.open_paths.pop(os.path.normcase(os.path.normpath(path)), None)
    st = server.states.pop(uri, None)
    if st is None:
        return
    if st.pending is not None:
        st.pending.cancel()
    for other in {uri, *st.published}:
        server.notify("textDocument/publishDiagnostics", {"uri": other, "diagnostics": []})


@server.notification("$/cancelRequest")
def cancel(params):
    pass  # requests are answered in order as they come, each at once: none is left to cancel


@server.notification("$/setTrace")
def set_trace(params):
    pass


# registers hover, hints, definition, ... and references, rename, code actions
from graphc.lsp import edits, features  # noqa: E402,F401
