"""What the language server shows of a compiled file: the shape after every step of a chain, at
every assignment and at every block input (inlay hints), and the layer under the cursor (hover).

Pure Python over graphc's public ``Compilation`` and ``Program``: no LSP types here (the server
converts), so it can be tested and timed on its own.  Positions are graphc's: 1-based lines,
1-based columns counted in characters.

A block line is one source span with one node per use (``layer1.0.conv1`` … ``layer4.1.conv1``):
a :class:`Site` gathers every use of a span, and its shape is their shapes merged as the
generated code's comments merge them: a dimension that every use agrees on is shown once, one
that differs as its values joined by ``|``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from graphc import ast as A
from graphc.graph import Node, Program, Repeat, Scope
from graphc.shapes import shape_str
from graphc.source import Span

#: Instances a hover lists before it says how many more there are.
MAX_INSTANCES = 24


def _key(span: Span) -> tuple:
    return (span.path, span.line, span.col, span.end_line, span.end_col)


@dataclass
class Site:
    """One source span and every item of every model built from it."""

    span: Span
    items: list[tuple[Program, Node | Scope | Repeat]] = field(default_factory=list)

    @property
    def first(self):
        return self.items[0][1]


@dataclass
class Hint:
    line: int          # graphc position where the hint goes (before the character at col)
    col: int
    label: str


def outputs(prog: Program, item) -> list:
    """The output types of a node, a block instance or a repeat (None where unknown)."""
    if isinstance(item, Node):
        return list(item.outs) if item.outs is not None else [None] * (item.expected_outputs or 1)
    if isinstance(item, Scope):
        return [prog.type_of(ref) for _, ref in item.outputs]
    return outputs(prog, item.members[-1]) if item.members else [None]


def merge(types: list) -> str:
    """The shapes of every use, as the generated code's comments show them."""
    if not types or any(t is None for t in types):
        return "?"
    shapes = [t.shape for t in types]
    if any(len(s) != len(shapes[0]) for s in shapes):
        return " | ".join(dict.fromkeys(shape_str(s) for s in shapes))
    dims = []
    for k in range(len(shapes[0])):
        vals = list(dict.fromkeys(str(s[k]) for s in shapes))
        dims.append("|".join(vals))
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def merged_outputs(site_items) -> str:
    """Every output of a site, merged over its uses; several outputs separated by spaces."""
    per_use = [outputs(p, it) for p, it in site_items]
    n = max(len(o) for o in per_use)
    return " ".join(merge([o[k] if k < len(o) else None for o in per_use]) for k in range(n))


def _walk(items):
    for it in items:
        yield it
        if isinstance(it, Scope):
            if it.shares is None:
                yield from _walk(it.items)
        elif isinstance(it, Repeat):
            yield from _walk(it.members)


class ShapeIndex:
    """Every site of a compilation's programs, by span, with the assignments and block inputs."""

    def __init__(self, programs: list[Program]):
        self.programs = programs
        self.sites: dict[tuple, Site] = {}
        # (id of the model/block definition, name) -> [(prog, type)]: what an assignment binds
        self.bound: dict[tuple[int, str], list] = {}
        self.block_inputs: dict[tuple[int, str], list] = {}
        self.definitions: dict[int, A.ModelDef | A.BlockDef] = {}
        for prog in programs:
            self._add_scope(prog, prog.root)
            for it in _walk(prog.root.items):
                if isinstance(it, Node) and (it.is_input or it.folded):
                    continue
                key = _key(it.span)
                site = self.sites.get(key)
                if site is None:
                    site = self.sites[key] = Site(it.span)
                site.items.append((prog, it))
                if isinstance(it, Scope) and it.shares is None:
                    self._add_scope(prog, it)

    def _add_scope(self, prog: Program, scope: Scope) -> None:
        d = scope.definition
        self.definitions[id(d)] = d
        for it in scope.items:
            outs = None
            names = getattr(it, "binds_all", None) or ((it.binds,) if it.binds else ())
            for k, name in enumerate(names):
                outs = outs if outs is not None else outputs(prog, it)
                self.bound.setdefault((id(d), name), []).append(outs[k] if k < len(outs) else None)
        if scope.shares is None:  # a model's inputs too: a hover on their uses shows them
            for name, ref in scope.inputs:
                self.block_inputs.setdefault((id(d), name), []).append(prog.type_of(ref))

    # ------------------------------------------------------------------ inlay hints
    def hints(self, path: str, first_line: int = 1, last_line: int | None = None) -> list[Hint]:
        """The shape after every step and at every assignment and block input of file ``path``."""
        out: list[Hint] = []
        last = last_line if last_line is not None else 1 << 30
        one_line: dict[int, str] = {}   # line of a one-line assignment -> the shape shown at its name
        for d in self.definitions.values():
            if d.span.path != path or d.span.end_line < first_line or d.span.line > last:
                continue
            for st in d.body:
                if isinstance(st, A.Assign) and first_line <= st.span.line <= last:
                    for t in st.targets:
                        types = self.bound.get((id(d), t.id))
                        if types:
                            label = merge(types)
                            if len(st.targets) == 1 and st.chain.span.end_line == t.span.line:
                                one_line[t.span.line] = label
                            out.append(Hint(t.span.end_line, t.span.end_col, ": " + label))
                elif isinstance(st, A.InputDecl) and st.dims is None and first_line <= st.span.line <= last:
                    types = self.block_inputs.get((id(d), st.name.id))
                    if types:
                        out.append(Hint(st.name.span.end_line, st.name.span.end_col, ": " + merge(types)))
        steps: list[Hint] = []
        for site in self.sites.values():
            sp = site.span
            if sp.path != path or sp.end_line < first_line or sp.end_line > last:
                continue
            item = site.first
            # a one-line group: its last member's hint already shows its shape
            if isinstance(item, Repeat) and item.members and item.members[-1].span.end_line == sp.end_line:
                continue
            steps.append(Hint(sp.end_line, sp.end_col, merged_outputs(site.items)))
        steps.sort(key=lambda h: (h.line, h.col))
        for i, h in enumerate(steps):
            last_on_line = i + 1 == len(steps) or steps[i + 1].line != h.line
            # the last step of a one-line assignment: its shape is already shown at the name
            if not (last_on_line and one_line.get(h.line) == h.label):
                out.append(h)
        out.sort(key=lambda h: (h.line, h.col))
        return out

    # ------------------------------------------------------------------ hover
    def site_at(self, path: str, line: int, col: int) -> Site | None:
        """The smallest site whose span holds the position."""
        best, best_size = None, None
        for site in self.sites.values():
            sp = site.span
            if sp.path != path or not _contains(sp, line, col):
                continue
            size = (sp.end_line - sp.line, sp.end_col - sp.col if sp.end_line == sp.line else 1 << 20)
            if best is None or size < best_size:
                best, best_size = site, size
        return best

    def value_at(self, path: str, line: int, col: int) -> tuple[str, str] | None:
        """(name, merged shape) of an assignment target or block input under the position."""
        for d in self.definitions.values():
            if d.span.path != path or not _contains(d.span, line, col):
                continue
            for st in d.body:
                names = st.targets if isinstance(st, A.Assign) else (st.name,) if isinstance(st, A.InputDecl) else ()
                for t in names:
                    if _contains(t.span, line, col):
                        types = self.bound.get((id(d), t.id)) or self.block_inputs.get((id(d), t.id))
                        if types:
                            return t.id, merge(types)
        return None

    def value_shape(self, definition, name: str) -> str | None:
        """The merged shape of value or input ``name`` of a model or block definition."""
        types = self.bound.get((id(definition), name)) or self.block_inputs.get((id(definition), name))
        return merge(types) if types else None

    def hover(self, path: str, line: int, col: int) -> str | None:
        """Markdown for the layer, block instance or value under the position."""
        v = self.value_at(path, line, col)
        if v is not None:
            return f"`{v[0]}`: `{v[1]}`"
        site = self.site_at(path, line, col)
        return describe(site) if site is not None else None


def _contains(sp: Span, line: int, col: int) -> bool:
    if line < sp.line or line > sp.end_line:
        return False
    if line == sp.line and col < sp.col:
        return False
    return not (line == sp.end_line and col > sp.end_col)  # the end itself counts: the cursor after it


def _num(v) -> str:
    """An integer with thousands separators; a symbolic count (``12845056*B``) as ``12,845,056·B``."""
    if isinstance(v, int):
        return f"{v:,}"
    return re.sub(r"\d{4,}", lambda m: f"{int(m.group()):,}", str(v)).replace("*", "·")


def _in_scope(prog: Program, scope_id: str):
    prefix = scope_id + "."
    return [n for n in prog.nodes.values() if n.id.startswith(prefix) and not n.is_input and n.shares is None]


def _totals(prog: Program, item) -> tuple[int | None, object]:
    """Parameters and MACs of an item: a node's own, a block instance's or repeat's summed."""
    if isinstance(item, Node):
        return item.n_params, item.macs
    nodes = _in_scope(prog, item.id)
    if any(n.n_params is None for n in nodes):
        return None, None
    params = sum(n.n_params for n in nodes)
    macs = 0
    for n in nodes:
        macs = macs + (n.macs or 0)
    return params, macs


def describe(site: Site) -> str:
    """The hover text of a site: kind, arguments, shapes, parameters, MACs, the ``--explain``
    formulas of its first use, and every use with its own shapes."""
    prog, item = site.items[0]
    lines: list[str] = []
    if isinstance(item, Node):
        title = f"**{item.kind}**" + (f" — `{item.id}`" if len(site.items) == 1 else "")
        lines.append(title)
        if item.ctor:
            args = ", ".join(f"{k}={v!r}" for k, v in item.ctor.items())
            torch = item.layer.torch_name if item.layer is not None else None
            lines.append(f"`{torch or item.kind}({args})`")
    elif isinstance(item, Scope):
        lines.append(f"**{item.kind}** (block)" + (f" — `{item.id}`" if len(site.items) == 1 else ""))
        if item.args:
            lines.append("`" + ", ".join(f"{k}={v!r}" for k, v in item.args.items()) + "`")
    else:
        lines.append(f"**Sequential** of {len(item.members)}" + (f" — `{item.id}`" if len(site.items) == 1 else ""))
    ins = _inputs(prog, item)
    shape_line = f"output `{merged_outputs(site.items)}`"
    if ins:
        shape_line = "input `" + " ".join(shape_str(t.shape) if t else "?" for t in ins) + "` → " + shape_line
    lines.append(shape_line)
    params, macs = _totals(prog, item)
    if params is not None:
        lines.append(f"parameters: {_num(params)}" + (f" · MACs: {_num(macs)}" if macs is not None else ""))
    if isinstance(item, Node) and item.layer is not None and item.params is not None and item.outs:
        formulas = [f for f in item.layer.explain(item.params, ins, item.outs) if not f.startswith("params = ")]
        if formulas:
            lines.append("```\n" + "\n".join(formulas) + "\n```")
    text = "\n\n".join(lines)
    if len(site.items) > 1:
        several = len(site_programs(site)) > 1
        rows = [f"{len(site.items)} uses:"]
        for p, it in site.items[:MAX_INSTANCES]:
            outs = " ".join(shape_str(t.shape) if t else "?" for t in outputs(p, it))
            rows.append(f"- `{it.id}` `{outs}`" + (f" ({p.name})" if several else ""))
        if len(site.items) > MAX_INSTANCES:
            rows.append(f"- … and {len(site.items) - MAX_INSTANCES} more")
        text += "\n\n" + "\n".join(rows)
    return text


def site_programs(site: Site) -> set[str]:
    return {p.name for p, _ in site.items}


def _inputs(prog: Program, item) -> list:
    if isinstance(item, Node):
        return [prog.type_of(r) for r in item.inputs]
    if isinstance(item, Scope):
        return [prog.type_of(ref) for _, ref in item.inputs]
    return _inputs(prog, item.members[0]) if item.members else []
