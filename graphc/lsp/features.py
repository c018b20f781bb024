"""The requests of ``graphc lsp``: inlay hints, hover, definition, outline, completion, formatting."""

from __future__ import annotations

from lsprotocol import types as T
from pygls.uris import from_fs_path

from graphc.lsp import navigate
from graphc.lsp.positions import Lines
from graphc.lsp.server import GraphcServer, server

SYMBOL_KINDS = {"model": T.SymbolKind.Class, "block": T.SymbolKind.Function, "constant": T.SymbolKind.Constant,
                "input": T.SymbolKind.Variable, "value": T.SymbolKind.Variable, "label": T.SymbolKind.Field,
                "parameter": T.SymbolKind.TypeParameter}


@server.feature(T.TEXT_DOCUMENT_INLAY_HINT, T.InlayHintOptions(resolve_provider=False))
def inlay_hints(ls: GraphcServer, params: T.InlayHintParams):
    st = ls.state(params.text_document.uri)
    lines = Lines(st.text)
    r = params.range
    hints = ls.shapes(st).hints(st.path, r.start.line + 1, r.end.line + 1)
    return [T.InlayHint(position=lines.position(h.line, h.col), label=h.label, kind=T.InlayHintKind.Type,
                        padding_left=not h.label.startswith(":")) for h in hints]


@server.feature(T.TEXT_DOCUMENT_HOVER)
def hover(ls: GraphcServer, params: T.HoverParams):
    st = ls.state(params.text_document.uri)
    lines = Lines(st.text)
    line, col = lines.graphc(params.position)
    index = ls.shapes(st)
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
    return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=text))


@server.feature(T.TEXT_DOCUMENT_DEFINITION)
def definition(ls: GraphcServer, params: T.DefinitionParams):
    st = ls.state(params.text_document.uri)
    if st.tree is None:
        return None
    lines = Lines(st.text)
    line, col = lines.graphc(params.position)
    span = navigate.definition(ls.files, st.path, st.tree, line, col)
    if span is None:
        return None
    other = Lines(st.text if span.path == st.path else ls.read(span.path) or "")
    return T.Location(uri=from_fs_path(span.path) or span.path, range=other.range(span))


@server.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbols(ls: GraphcServer, params: T.DocumentSymbolParams):
    st = ls.state(params.text_document.uri)
    if st.tree is None:
        return []
    lines = Lines(st.text)

    def convert(s: navigate.Symbol) -> T.DocumentSymbol:
        return T.DocumentSymbol(name=s.name, kind=SYMBOL_KINDS[s.kind], range=lines.range(s.span),
                                selection_range=lines.range(s.name_span), detail=s.kind,
                                children=[convert(c) for c in s.children])

    return [convert(s) for s in navigate.outline(st.tree)]


@server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=["(", ",", ">"],
                                                                resolve_provider=True))
def completion(ls: GraphcServer, params: T.CompletionParams):
    uri = params.text_document.uri
    text = ls.workspace.get_text_document(uri).source
    st = ls.states.get(uri) or ls.state(uri)
    lines = Lines(text)
    trees = ls.files.closure(st.path, st.tree) if st.tree is not None else []
    blocks = {it.name.id: it for t in trees for it in t.items if isinstance(it, navigate.A.BlockDef)}
    items: list[T.CompletionItem] = []
    ctx = navigate.call_context(text, lines.offset(params.position))
    if ctx is not None:
        kind, given = ctx
        for i, (name, detail, doc) in enumerate(navigate.argument_items(kind, given, blocks)):
            items.append(T.CompletionItem(label=name, kind=T.CompletionItemKind.Property, detail=detail,
                                          insert_text=f"{name}=", sort_text=f"0{i:03d}",
                                          documentation=doc or None))
    from graphc.layers.base import LAYERS

    for kind in LAYERS:
        items.append(T.CompletionItem(label=kind, kind=T.CompletionItemKind.Class, sort_text=f"2{kind}",
                                      data={"kind": kind}))
    for name, b in blocks.items():
        params_text = ", ".join(p.name.id for p in b.params)
        items.append(T.CompletionItem(label=name, kind=T.CompletionItemKind.Function,
                                      detail=f"block {name}({params_text})", sort_text=f"1{name}"))
    if st.tree is not None:
        line, col = lines.graphc(params.position)
        defn = navigate.enclosing(st.tree, line, col)
        names = navigate.local_names(defn) if defn is not None else {}
        for t in trees:
            for it in t.items:
                if isinstance(it, navigate.A.ConstDef):
                    names.setdefault(it.name.id, it.name.span)
        for name in names:
            items.append(T.CompletionItem(label=name, kind=T.CompletionItemKind.Variable, sort_text=f"1{name}"))
    return T.CompletionList(is_incomplete=False, items=items)


@server.feature(T.COMPLETION_ITEM_RESOLVE)
def completion_resolve(ls: GraphcServer, item: T.CompletionItem):
    kind = item.data.get("kind") if isinstance(item.data, dict) else None
    if kind:
        doc = navigate.kind_doc(kind)
        if doc:
            item.documentation = T.MarkupContent(kind=T.MarkupKind.Markdown, value=doc)
    return item


@server.feature(T.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: GraphcServer, params: T.DocumentFormattingParams):
    from graphc.errors import GraphcError
    from graphc.fmt import format_text

    uri = params.text_document.uri
    text = ls.workspace.get_text_document(uri).source
    try:
        new = format_text(text, ls.path_of(uri))
    except GraphcError as e:
        ls.window_show_message(T.ShowMessageParams(T.MessageType.Warning,
                                                   _first(e)))
        return None
    if new == text:
        return []
    end = T.Position(text.count("\n") + 1, 0)
    return [T.TextEdit(range=T.Range(T.Position(0, 0), end), new_text=new)]


def _first(e) -> str:
    d = e.diagnostics[0] if e.diagnostics else None
    return f"graphc fmt: {d.span}: {d.message}" if d is not None else f"graphc fmt: {e}"
