"""The requests of ``graphc lsp``: inlay hints, hover, definition, outline, completion, formatting."""

from __future__ import annotations

from graphc.lsp import navigate
from graphc.lsp.positions import Lines
from graphc.lsp.server import server

# SymbolKind
SYMBOL_KINDS = {"model": 5, "block": 12, "constant": 14, "input": 13, "value": 13, "label": 8, "parameter": 26}
INLAY_TYPE = 1


def _uri(params) -> str:
    return params["textDocument"]["uri"]


def _markdown(text: str) -> dict:
    return {"kind": "markdown", "value": text}


@server.request("textDocument/inlayHint")
def inlay_hints(params):
    st = server.state(_uri(params))
    lines = Lines(st.text)
    r = params["range"]
    hints = server.shapes(st).hints(st.path, r["start"]["line"] + 1, r["end"]["line"] + 1)
    return [{"position": lines.position(h.line, h.col), "label": h.label, "kind": INLAY_TYPE,
             "paddingLeft": not h.label.startswith(":")} for h in hints]


@server.request("textDocument/hover")
def hover(params):
    st = server.state(_uri(params))
    lines = Lines(st.text)
    line, col = lines.graphc(params["position"])
    index = server.shapes(st)
    w = navigate.word_at(st.tree, line, col) if st.tree is not None else None
    text = None
    if w is not None and w.kind == "name":  # a value where it is used: its shape
        defn = navigate.enclosing(st.tree, line, col)
        shape = index.value_shape(defn, w.text) if defn is not None else None
        text = f"`{w.text}`: `{shape}`" if shape else None
    if text is None:
        text = index.hover(st.path, line, col)
    if text is None and w is not None and w.kind == "kind":
        text = navigate.kind_doc(w.text) or None
    if text is None:
        return None
    return {"contents": _markdown(text)}


@server.request("textDocument/definition")
def definition(params):
    st = server.state(_uri(params))
    if st.tree is None:
        return None
    lines = Lines(st.text)
    line, col = lines.graphc(params["position"])
    from graphc.lsp.refs import target_at

    # a name as references and rename resolve it (a keyword argument of a block call, a label in
    # a tie/freeze path followed into its block), else an import's path
    target = target_at(server.files, st.path, st.tree, line, col)
    span = target.definition if target is not None else navigate.definition(server.files, st.path, st.tree,
                                                                            line, col)
    if span is None:
        return None
    other = Lines(st.text if span.path == st.path else server.read(span.path) or "")
    return {"uri": server.uri_of(span.path), "range": other.range(span)}


@server.request("textDocument/documentSymbol")
def document_symbols(params):
    st = server.state(_uri(params))
    if st.tree is None:
        return []
    lines = Lines(st.text)

    def convert(s: navigate.Symbol) -> dict:
        return {"name": s.name, "kind": SYMBOL_KINDS[s.kind], "range": lines.range(s.span),
                "selectionRange": lines.range(s.name_span), "detail": s.kind,
                "children": [convert(c) for c in s.children]}

    return [convert(s) for s in navigate.outline(st.tree)]


@server.request("textDocument/completion")
def completion(params):
    from graphc.lsp import complete

    uri = _uri(params)
    text = server.text_of(uri)
    st = server.states.get(uri) or server.state(uri)
    lines = Lines(text)
    trees = server.files.closure(st.path, st.tree) if st.tree is not None else []
    offset = lines.offset(params["position"])
    line, col = lines.graphc(params["position"])
    return {"isIncomplete": False, "items": complete.items(text, offset, st.tree, trees, line, col)}


@server.request("completionItem/resolve")
def completion_resolve(item):
    from graphc.lsp import complete

    return complete.resolve(item)


@server.request("textDocument/formatting")
def formatting(params):
    from graphc.errors import GraphcError
    from graphc.fmt import format_text

    uri = _uri(params)
    text = server.text_of(uri)
    try:
        new = format_text(text, server.path_of(uri))
    except GraphcError as e:
        server.notify("window/showMessage", {"type": 2, "message": _first(e)})
        return None
    if new == text:
        return []
    end = {"line": text.count("\n") + 1, "character": 0}
    return [{"range": {"start": {"line": 0, "character": 0}, "end": end}, "newText": new}]


def _first(e) -> str:
    d = e.diagnostics[0] if e.diagnostics else None
    return f"graphc fmt: {d.span}: {d.message}" if d is not None else f"graphc fmt: {e}"

