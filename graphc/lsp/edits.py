"""The requests of ``graphc lsp`` that find or change names: references, rename, code actions."""

from __future__ import annotations

from graphc.lsp import actions, navigate, refs
from graphc.lsp.positions import Lines
from graphc.lsp.rpc import RequestFailed
from graphc.lsp.server import server


def _trees(st) -> list:
    """The trees a name may be used in: the file's and its imports', and every open file's (an
    open file that imports this one uses its blocks and constants)."""
    out, seen = [], set()
    for other in [st, *server.states.values()]:
        tree = other.tree if other is st else server.files.tree(other.path, server.read(other.path))
        if tree is None:
            continue
        for t in server.files.closure(other.path, tree):
            if t.path not in seen:
                seen.add(t.path)
                out.append(t)
    return out


def _target(params):
    st = server.state(params["textDocument"]["uri"])
    if st.tree is None:
        return st, None
    line, col = Lines(st.text).graphc(params["position"])
    return st, refs.target_at(server.files, st.path, st.tree, line, col)


def _lines(st, cache: dict, path: str) -> Lines:
    if path not in cache:
        cache[path] = Lines(st.text if path == st.path else server.read(path) or "")
    return cache[path]


@server.request("textDocument/references")
def references(params):
    st, target = _target(params)
    if target is None:
        return None
    cache: dict = {}
    spans = refs.occurrences(server.files, _trees(st), target)
    if not (params.get("context") or {}).get("includeDeclaration", True):
        spans = [s for s in spans if refs.key(s) != refs.key(target.definition)]
    return [{"uri": server.uri_of(s.path), "range": _lines(st, cache, s.path).range(s)} for s in spans]


@server.request("textDocument/prepareRename")
def prepare_rename(params):
    st, target = _target(params)
    if target is None:
        return None  # the client says "the element can't be renamed"
    return {"range": Lines(st.text).range(target.span), "placeholder": target.name}


@server.request("textDocument/rename")
def rename(params):
    st, target = _target(params)
    new = params["newName"]
    if target is None:
        raise RequestFailed("graphc: nothing to rename here: put the cursor on a value, label, block "
                            "parameter, constant or block")
    why = refs.check_new_name(new)
    if why is not None:
        raise RequestFailed(f"graphc: {why}")
    trees = _trees(st)
    from graphc.layers import _index

    if new in _index.KINDS:  # a block of that name is refused; a value or label would read as the layer
        raise RequestFailed(f"graphc: '{new}' is a built-in layer; choose another name")
    if new != target.name and _clashes(trees, target, new):
        raise RequestFailed(f"graphc: '{new}' is already defined where '{target.name}' is used; "
                            "choose another name")
    changes: dict[str, list[dict]] = {}
    cache: dict = {}
    for s in refs.occurrences(server.files, trees, target):
        uri = server.uri_of(s.path)
        changes.setdefault(uri, []).append({"range": _lines(st, cache, s.path).range(s), "newText": new})
    return {"changes": changes}


def _clashes(trees, target, new: str) -> bool:
    """Whether ``new`` already names something where ``target`` is defined or used."""
    for t in trees:
        if new in navigate.globals_of(server.files.closure(t.path, t)):
            return True
    for s in refs.occurrences(server.files, trees, target):
        tree = next((t for t in trees if t.path == s.path), None)
        defn = navigate.enclosing(tree, s.line, s.col) if tree is not None else None
        if defn is not None and new in navigate.local_names(defn):
            return True
    return False


@server.request("textDocument/codeAction")
def code_action(params):
    uri = params["textDocument"]["uri"]
    st = server.state(uri)
    lines = Lines(st.text)
    r = params["range"]
    first, last = r["start"]["line"] + 1, r["end"]["line"] + 1
    out = []
    for fix in actions.fixes(st.comp.diagnostics, st.tree, lines, st.path):
        sp = fix.diagnostic.span
        if sp.end_line < first or sp.line > last:
            continue
        edits = [{"range": lines.range(e.span), "newText": e.text} for e in fix.edits]
        out.append({"title": fix.title, "kind": "quickfix", "isPreferred": fix.preferred,
                    "diagnostics": [server.diagnostic(lines, fix.diagnostic)],
                    "edit": {"changes": {uri: edits}}})
    return out
