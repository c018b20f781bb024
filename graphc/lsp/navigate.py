"""Names in a ``.model`` file's syntax tree: go to definition, the outline, completion.

Works on the parsed tree alone (``graphc.syntax.parse``), so it answers for a file whose shapes do
not check; completion works on the text itself, since the text being typed rarely parses.
Positions are graphc's: 1-based lines and columns in characters.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from graphc import ast as A
from graphc.source import Span

#: Files a go-to-definition follows through imports.
MAX_FILES = 64


def walk(node):
    """Every AST node under ``node`` (itself included), depth first."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, A.Node):
            yield n
            stack.extend(reversed([getattr(n, f) for f in n._fields]))
        elif isinstance(n, tuple):
            stack.extend(reversed(n))


def _contains(sp: Span | None, line: int, col: int) -> bool:
    if sp is None or line < sp.line or line > sp.end_line:
        return False
    if line == sp.line and col < sp.col:
        return False
    return not (line == sp.end_line and col > sp.end_col)


@dataclass
class Word:
    """What the cursor is on: a name (``kind`` "name"), a call's kind ("kind") or an import path."""

    kind: str
    text: str
    span: Span


def word_at(tree: A.File, line: int, col: int) -> Word | None:
    best: Word | None = None
    for n in walk(tree):
        found = None
        if isinstance(n, A.Name) and _contains(n.span, line, col):
            found = Word("name", n.id, n.span)
        elif isinstance(n, A.Call) and _contains(n.kind_span, line, col):
            found = Word("kind", n.kind, n.kind_span)
        elif isinstance(n, A.Import) and _contains(n.path_span, line, col):
            found = Word("import", n.path, n.path_span)
        if found is not None and (best is None or _size(found.span) < _size(best.span)):
            best = found
    return best


def _size(sp: Span) -> tuple[int, int]:
    return sp.end_line - sp.line, sp.end_col - sp.col


def enclosing(tree: A.File, line: int, col: int) -> A.ModelDef | A.BlockDef | None:
    for item in tree.items:
        if isinstance(item, (A.ModelDef, A.BlockDef)) and _contains(item.span, line, col):
            return item
    return None


def local_names(defn: A.ModelDef | A.BlockDef) -> dict[str, Span]:
    """Name -> where it is first defined in a model or block: parameters, constants, inputs,
    values (assignment targets), labels and learned tensors."""
    out: dict[str, Span] = {}
    for p in getattr(defn, "params", ()):
        out.setdefault(p.name.id, p.name.span)
    for st in defn.body:
        if isinstance(st, (A.ConstDef, A.InputDecl, A.ParamDecl)):
            out.setdefault(st.name.id, st.name.span)
        elif isinstance(st, A.Assign):
            for t in st.targets:
                out.setdefault(t.id, t.span)
            labels(st.chain, out)
    return out


def labels(chain: A.Chain, out: dict[str, Span]) -> None:
    if chain.source_label is not None:
        out.setdefault(chain.source_label.id, chain.source_label.span)
    for step in chain.steps:
        if step.label is not None:
            out.setdefault(step.label.id, step.label.span)


def import_path(importer: str, written: str) -> str:
    """The path an ``import`` names, as graphc.lower.imports resolves it."""
    base = os.path.dirname(importer) if importer not in ("<string>", "") else ""
    return os.path.normpath(os.path.join(base, written))


class Files:
    """The parsed trees of a file and of every file it imports (read through ``read``)."""

    def __init__(self, read: Callable[[str], str | None]):
        self.read = read
        self._cache: dict[str, tuple[str, A.File | None]] = {}

    def tree(self, path: str, text: str | None = None) -> A.File | None:
        from graphc.errors import GraphcError
        from graphc.syntax import parse

        if text is None:
            text = self.read(path)
            if text is None:
                return None
        cached = self._cache.get(path)
        if cached is not None and cached[0] == text:
            return cached[1]
        try:
            tree = parse(text, path)
        except GraphcError:
            tree = None
        self._cache[path] = (text, tree)
        return tree

    def closure(self, path: str, tree: A.File) -> list[A.File]:
        """``tree`` and the trees of the files it imports, transitively, each once."""
        out, seen, todo = [tree], {path}, [tree]
        while todo and len(seen) < MAX_FILES:
            t = todo.pop()
            for item in t.items:
                if isinstance(item, A.Import):
                    p = import_path(t.path, item.path)
                    if p in seen:
                        continue
                    seen.add(p)
                    sub = self.tree(p)
                    if sub is not None:
                        out.append(sub)
                        todo.append(sub)
        return out


def globals_of(trees: list[A.File]) -> dict[str, Span]:
    """Top-level constants, blocks and models of the files (the first file's first)."""
    out: dict[str, Span] = {}
    for t in trees:
        for item in t.items:
            if isinstance(item, (A.ConstDef, A.BlockDef, A.ModelDef)):
                out.setdefault(item.name.id, item.name.span)
    return out


def definition(files: Files, path: str, tree: A.File, line: int, col: int) -> Span | None:
    """Where the name under the position is defined: a block (in this file or an imported one),
    a constant, a parameter, a value, a label; an import's path goes to the file's start."""
    w = word_at(tree, line, col)
    if w is None:
        return None
    if w.kind == "import":
        p = import_path(tree.path, w.text)
        return Span(p, 1, 1, 1, 1) if files.tree(p) is not None or os.path.exists(p) else None
    if w.kind == "name":
        defn = enclosing(tree, line, col)
        if defn is not None:
            span = local_names(defn).get(w.text)
            if span is not None:
                return span
    return globals_of(files.closure(path, tree)).get(w.text)


# ---------------------------------------------------------------------- outline
@dataclass
class Symbol:
    name: str
    kind: str            # "model", "block", "constant", "input", "value", "label", "parameter"
    span: Span           # the whole definition
    name_span: Span
    children: list[Symbol]


def outline(tree: A.File) -> list[Symbol]:
    out = []
    for item in tree.items:
        if isinstance(item, A.ConstDef):
            out.append(Symbol(item.name.id, "constant", item.span, item.name.span, []))
        elif isinstance(item, (A.ModelDef, A.BlockDef)):
            kids = []
            for p in getattr(item, "params", ()):
                kids.append(Symbol(p.name.id, "parameter", p.span, p.name.span, []))
            for st in item.body:
                if isinstance(st, A.InputDecl):
                    kids.append(Symbol(st.name.id, "input", st.span, st.name.span, []))
                elif isinstance(st, A.ConstDef):
                    kids.append(Symbol(st.name.id, "constant", st.span, st.name.span, []))
                elif isinstance(st, A.Assign):
                    found: dict[str, Span] = {}
                    labels(st.chain, found)
                    steps = [Symbol(n, "label", sp, sp, []) for n, sp in found.items()]
                    for t in st.targets:
                        kids.append(Symbol(t.id, "value", st.span, t.span, steps))
                        steps = []
            kind = "model" if isinstance(item, A.ModelDef) else "block"
            out.append(Symbol(item.name.id, kind, item.span, item.name.span, kids))
    return out


# ---------------------------------------------------------------------- completion
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


def call_context(text: str, offset: int) -> tuple[str, set[str]] | None:
    """When ``offset`` is inside a call's parentheses: (the call's kind, the keywords it already
    has); None elsewhere.  Reads the text itself (scanning back at most 4,000 characters), so it
    works while the file does not parse."""
    depth = 0
    i = offset - 1
    stop = max(0, offset - 4000)
    while i >= stop:
        c = text[i]
        if c in ")]":
            depth += 1
        elif c in "([":
            if depth == 0:
                if c == "[":
                    return None
                m = _IDENT.search(text, max(0, i - 200), i)
                if m is None:
                    return None
                inside = text[i + 1:offset]
                return m.group(), set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)", inside))
            depth -= 1
        elif c in "{}":
            return None
        i -= 1
    return None


def argument_items(kind: str, given: set[str], blocks: dict[str, A.BlockDef]):
    """(name, detail, documentation) for each argument ``kind`` takes and ``given`` lacks."""
    from graphc.layers.base import LAYERS

    if kind in blocks:
        for p in blocks[kind].params:
            if p.name.id not in given:
                yield p.name.id, f"{kind} parameter" + (" (has a default)" if p.default is not None else ""), ""
        return
    layer = LAYERS.get(kind)
    if layer is None:
        return
    from graphc.lsp.complete import schema_items

    yield from schema_items(layer.Params, given)


def kind_doc(kind: str) -> str:
    """A layer kind's one-line description and its arguments, for a completion's documentation and
    a hover; a training component's (``AdamW``) from graphc.components."""
    from graphc.layers.base import LAYERS

    layer = LAYERS.get(kind)
    if layer is None:
        return component_doc(kind)
    args = ", ".join(name for name, _, _ in argument_items(kind, set(), {}))
    torch = f" (`{layer.torch_name}`)" if layer.torch_name else ""
    return f"{layer.doc()}{torch}\n\n`{kind}({args})`"


def component_doc(name: str) -> str:
    """A training component's kind, description and arguments with their types and defaults."""
    from graphc.lsp.complete import _component, schema_items

    c = _component(name)
    if c is None:
        return ""
    torch = f" (`{c.torch_name}`)" if c.torch_name else ""
    rows = [f"- `{n}`: {detail}" for n, detail, _ in schema_items(c.Params, set())]
    return f"**{name}** — {c.kind}{torch}\n\n{c.doc()}" + ("\n\n" + "\n".join(rows) if rows else "")
