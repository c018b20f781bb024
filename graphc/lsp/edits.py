"""The requests of ``graphc lsp`` that find or change names: references, rename, code actions."""

from __future__ import annotations

from lsprotocol import types as T
from pygls.uris import from_fs_path

from graphc.lsp import actions, navigate, refs
from graphc.lsp.positions import Lines
from graphc.lsp.server import GraphcServer, server


def _trees(ls: GraphcServer, st) -> list:
    """The trees a name may be used in: the file's and its imports', and every open file's (an
    open file that imports this one uses its blocks and constants)."""
    out, seen = [], set()
    for other in [st, *ls.states.values()]:
        tree = other.tree if other is st else ls.files.tree(other.path, ls.read(other.path))
        if tree is None:
            continue
        for t in ls.files.closure(other.path, tree):
            if t.path not in seen:
                seen.add(t.path)
                out.append(t)
    return out


def _target(ls: GraphcServer, uri: str, pos: T.Position):
    st = ls.state(uri)
    if st.tree is None:
        return st, None
    line, col = Lines(st.text).graphc(pos)
    return st, refs.target_at(ls.files, st.path, st.tree, line, col)


def _location_lines(ls: GraphcServer, st, cache: dict, path: str) -> Lines:
    if path not in cache:
        cache[path] = Lines(st.text if path == st.path else ls.read(path) or "")
    return cache[path]


@server.feature(T.TEXT_DOCUMENT_REFERENCES)
def references(ls: GraphcServer, params: T.ReferenceParams):
    st, target = _target(ls, params.text_document.uri, params.position)
    if target is None:
        return None
    cache: dict = {}
    spans = refs.occurrences(ls.files, _trees(ls, st), target)
    if not params.context.include_declaration:
        spans = [s for s in spans if refs.key(s) != refs.key(target.definition)]
    return [T.Location(uri=from_fs_path(s.path) or s.path, range=_location_lines(ls, st, cache, s.path).range(s))
            for s in spans]


@server.feature(T.TEXT_DOCUMENT_PREPARE_RENAME)
def prepare_rename(ls: GraphcServer, params: T.PrepareRenameParams):
    st, target = _target(ls, params.text_document.uri, params.position)
    if target is None:
        return None  # the client says "the element can't be renamed"
    return T.PrepareRenamePlaceholder(range=Lines(st.text).range(target.span), placeholder=target.name)


@server.feature(T.TEXT_DOCUMENT_RENAME, T.RenameOptions(prepare_provider=True))
def rename(ls: GraphcServer, params: T.RenameParams):
    st, target = _target(ls, params.text_document.uri, params.position)
    if target is None:
        raise ValueError("graphc: nothing to rename here: put the cursor on a value, label, block "
                         "parameter, constant or block")
    why = refs.check_new_name(params.new_name)
    if why is not None:
        raise ValueError(f"graphc: {why}")
    trees = _trees(ls, st)
    if params.new_name != target.name and _clashes(ls, st, trees, target, params.new_name):
        raise ValueError(f"graphc: '{params.new_name}' is already defined where '{target.name}' is used; "
                         "choose another name")
    changes: dict[str, list[T.TextEdit]] = {}
    cache: dict = {}
    for s in refs.occurrences(ls.files, trees, target):
        uri = from_fs_path(s.path) or s.path
        changes.setdefault(uri, []).append(
            T.TextEdit(range=_location_lines(ls, st, cache, s.path).range(s), new_text=params.new_name))
    return T.WorkspaceEdit(changes=changes)


def _clashes(ls, st, trees, target, new: str) -> bool:
    """Whether ``new`` already names something where ``target`` is defined or used."""
    for t in trees:
        if new in navigate.globals_of(ls.files.closure(t.path, t)):
            return True
    for s in refs.occurrences(ls.files, trees, target):
        tree = next((t for t in trees if t.path == s.path), None)
        defn = navigate.enclosing(tree, s.line, s.col) if tree is not None else None
        if defn is not None and new in navigate.local_names(defn):
            return True
    return False


@server.feature(T.TEXT_DOCUMENT_CODE_ACTION,
                T.CodeActionOptions(code_action_kinds=[T.CodeActionKind.QuickFix]))
def code_action(ls: GraphcServer, params: T.CodeActionParams):
    uri = params.text_document.uri
    st = ls.state(uri)
    lines = Lines(st.text)
    r = params.range
    first, last = r.start.line + 1, r.end.line + 1
    out = []
    for fix in actions.fixes(st.comp.diagnostics, st.tree, lines, st.path):
        sp = fix.diagnostic.span
        if sp.end_line < first or sp.line > last:
            continue
        edits = [T.TextEdit(range=lines.range(e.span), new_text=e.text) for e in fix.edits]
        out.append(T.CodeAction(title=fix.title, kind=T.CodeActionKind.QuickFix, is_preferred=fix.preferred,
                                diagnostics=[ls.diagnostic(lines, fix.diagnostic)],
                                edit=T.WorkspaceEdit(changes={uri: edits})))
    return out
