"""Find references and rename: every place a value, label, block parameter, constant or block
is written, resolved as ``navigate.definition`` resolves the name under the cursor.

Works on parsed trees alone (no compile).  A name resolves in its model or block first (block
parameters, inputs, values, labels, constants, learned tensors), then among the top-level
constants, blocks and models of the file and the files it imports.  In ``tie`` and ``freeze``
paths (``head.norm.weight``) the first name is a label of the model; each next one a label of the
block the previous label calls.  Positions are graphc's (1-based lines and columns).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from graphc import ast as A
from graphc.lsp import navigate
from graphc.source import Span

#: The words of the language: never a new name.
KEYWORDS = frozenset({"import", "const", "model", "block", "input", "output", "param", "train",
                      "init", "tie", "freeze", "true", "false", "none"})
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def key(span: Span) -> tuple:
    return (span.path, span.line, span.col)


@dataclass
class Target:
    """What the cursor is on: the name and where it is defined."""

    name: str
    definition: Span
    span: Span          # the occurrence under the cursor


def _blocks(files, path, tree) -> dict[str, A.BlockDef]:
    return {it.name.id: it for t in files.closure(path, tree) for it in t.items if isinstance(it, A.BlockDef)}


def _param_of(block: A.BlockDef | None, name: str) -> Span | None:
    if block is None:
        return None
    return next((p.name.span for p in block.params if p.name.id == name), None)


def target_at(files: navigate.Files, path: str, tree: A.File, line: int, col: int) -> Target | None:
    w = navigate.word_at(tree, line, col)
    if w is None:  # a keyword argument's name in a block call (``Widen(c=4)``): the block's parameter
        for n in navigate.walk(tree):
            if isinstance(n, A.Call):
                for a in n.args:
                    if a.name is not None and navigate._contains(a.name_span, line, col):
                        d = _param_of(_blocks(files, path, tree).get(n.kind), a.name)
                        return Target(a.name, d, a.name_span) if d is not None else None
        return None
    if w.kind == "import":
        return None
    if w.kind == "kind" and not _defines_block(files, path, tree, w.text):
        return None  # a layer kind (Conv2d): nothing of the file's to rename
    if w.kind == "name" and _in_path_tail(tree, w.span):
        d = _path_definition(files, path, tree, w.span)
    else:
        d = navigate.definition(files, path, tree, line, col)
    return Target(w.text, d, w.span) if d is not None else None


def _defines_block(files, path, tree, name) -> bool:
    return any(isinstance(it, A.BlockDef) and it.name.id == name
               for t in files.closure(path, tree) for it in t.items)


def _paths(tree: A.File):
    """(definition, path) of every tie and freeze path of the file."""
    for item in tree.items:
        if isinstance(item, (A.ModelDef, A.BlockDef)):
            for st in item.body:
                if isinstance(st, A.Tie):
                    yield item, st.left
                    yield item, st.right
                elif isinstance(st, A.Freeze):
                    for p in st.paths:
                        yield item, p


def _in_path_tail(tree: A.File, span: Span) -> bool:
    return any(key(n.span) == key(span) for _, p in _paths(tree) for n in p[1:])


def _path_definition(files, path, tree, span: Span) -> Span | None:
    for defn, p in _paths(tree):
        for k, n in enumerate(p):
            if key(n.span) == key(span):
                return resolve_path(files, path, tree, defn, p)[k]
    return None


def _label_calls(defn) -> dict[str, str]:
    """Label -> the kind of the call it names (``stem: Widen(4)`` -> Widen)."""
    out: dict[str, str] = {}
    for st in defn.body:
        if isinstance(st, A.Assign):
            ch = st.chain
            if ch.source_label is not None and isinstance(ch.source, A.Call):
                out.setdefault(ch.source_label.id, ch.source.kind)
            for step in ch.steps:
                if step.label is not None and isinstance(step.call, A.Call):
                    out.setdefault(step.label.id, step.call.kind)
    return out


def resolve_path(files, path, tree, defn, names: tuple[A.Name, ...]) -> list[Span | None]:
    """The definition of each name of a tie/freeze path (None past what can be followed)."""
    blocks = {it.name.id: it for t in files.closure(path, tree) for it in t.items if isinstance(it, A.BlockDef)}
    out: list[Span | None] = []
    scope = defn
    for n in names:
        if scope is None:
            out.append(None)
            continue
        out.append(navigate.local_names(scope).get(n.id))
        scope = blocks.get(_label_calls(scope).get(n.id, ""))
    return out


def occurrences(files: navigate.Files, trees: list[A.File], target: Target) -> list[Span]:
    """Every span in ``trees`` that names ``target``'s definition, the definition included, in
    file order; each once."""
    want = key(target.definition)
    found: dict[tuple, Span] = {}
    for tree in trees:
        closure = files.closure(tree.path, tree)
        globals_ = navigate.globals_of(closure)
        blocks = {it.name.id: it for t in closure for it in t.items if isinstance(it, A.BlockDef)}
        tails = {key(n.span) for _, p in _paths(tree) for n in p[1:]}
        for item in tree.items:
            defn = item if isinstance(item, (A.ModelDef, A.BlockDef)) else None
            local = navigate.local_names(defn) if defn is not None else {}
            settings = {key(s.name.span) for st in (defn.body if defn else ()) if
                        isinstance(st, (A.TrainBlock, A.InitBlock)) for s in st.settings}
            for n in navigate.walk(item):
                if isinstance(n, A.Name):
                    if n.id != target.name or key(n.span) in tails or key(n.span) in settings:
                        continue
                    d = local.get(n.id) or globals_.get(n.id)
                    if d is not None and key(d) == want:
                        found[key(n.span)] = n.span
                elif isinstance(n, A.Call) and n.kind in blocks:
                    d = globals_.get(n.kind)
                    if n.kind == target.name and d is not None and key(d) == want:
                        found[key(n.kind_span)] = n.kind_span
                    for a in n.args:  # Widen(c=4): the block's parameter c
                        if a.name == target.name and a.name_span is not None:
                            d = _param_of(blocks[n.kind], a.name)
                            if d is not None and key(d) == want:
                                found[key(a.name_span)] = a.name_span
            if defn is not None:
                for d2, p in _paths(tree):
                    if d2 is not defn:
                        continue
                    for n, d in zip(p, resolve_path(files, tree.path, tree, defn, p)):
                        if k_ok(n, d, target.name, want):
                            found[key(n.span)] = n.span
    return sorted(found.values(), key=lambda s: (s.path, s.line, s.col))


def k_ok(n: A.Name, d: Span | None, name: str, want: tuple) -> bool:
    return n.id == name and d is not None and key(d) == want


def check_new_name(new: str) -> str | None:
    """Why ``new`` cannot be a name (None when it can)."""
    if not IDENT.match(new):
        return f"'{new}' is not a name: a letter or '_', then letters, digits or '_'"
    if new in KEYWORDS:
        return f"'{new}' is a keyword of the .model language"
    return None
