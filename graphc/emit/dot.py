"""Graphviz diagrams: DOT text written here (deterministic), rendered by ``dot``.

Each layer is a box with its name, kind, key parameters, output shape and
parameter count; edges carry tensor shapes; block instances are clusters.
Writing ``.dot`` needs nothing; svg/png/pdf need the graphviz ``dot`` binary.
"""

from __future__ import annotations

import shutil
import subprocess

from graphc.graph import Node, Program, Repeat, Scope
from graphc.shapes import shape_str

COLORS = {
    "input": "#dbeafe", "output": "#dbeafe", "conv": "#fde68a", "pool": "#bbf7d0", "norm": "#e9d5ff",
    "activation": "#fecaca", "linear": "#fed7aa", "dropout": "#e5e7eb", "reshape": "#e5e7eb",
    "merge": "#a5f3fc", "recurrent": "#fbcfe8", "attention": "#c7d2fe", "embedding": "#d9f99d",
    "param": "#fef9c3", "other": "#f3f4f6",
}


def _esc(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _qid(node_id: str) -> str:
    return '"' + node_id.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tip(text: str) -> str:
    """A DOT string whose text graphviz shows as it is, or nearly: graphviz reads ``\\N``,
    ``\\G``... in a tooltip as its own escapes whatever precedes them, so a backslash is shown
    as U+29F5 (⧵); ``&`` is written ``&amp;`` (graphviz passes entities through to the svg);
    quotes are escaped; lines are joined by ``\\n``."""
    lines = (line.replace("&", "&amp;").replace("\\", "\u29f5").replace('"', '\\"') for line in text.split("\n"))
    return '"' + "\\n".join(lines) + '"'


def _extras(prog: Program, item, href) -> str:
    """``tooltip=`` (name, kind, shape, parameters, file:line) and, with ``href``, ``URL=``."""
    if isinstance(item, Node):
        kind = item.kind
        shape = (shape_str(item.declared.shape) if item.declared else "?") if item.is_input else \
            " ".join(shape_str(t.shape) for t in item.outs) if item.outs else "?"
        params = item.n_params or 0
    else:
        kind = item.kind if isinstance(item, Scope) else "Sequential"
        params = sum(n.n_params or 0 for n in _all_nodes(item))
        shape = ""
    span = item.span
    rows = [item.id, kind] + ([shape] if shape else []) + [f"{params:,} params", f"{span.path}:{span.line}"]
    out = f", tooltip={_tip(chr(10).join(rows))}"
    if href is not None:
        out += f", URL={_tip(href(span.path, span.line))}"
    return out


def _node_label(prog: Program, n: Node) -> str:
    rows = [f"<b>{_esc(n.name)}</b>"]
    if n.is_input:
        t = n.declared  # None when the declaration has an error: viz still draws the rest
        rows.append(f"input {_esc(t.dtype)}" if t else "input")
        rows.append(_esc(shape_str(t.shape)) if t else "?")
        return "<" + "<br/>".join(rows) + ">"
    extra = ""
    if n.outs is not None and n.params is not None:
        extra = n.layer.label(n.params, [prog.type_of(r) for r in n.inputs])
    rows.append(_esc(n.kind + (f"  {extra}" if extra else "")))
    rows.append(_esc(" ".join(shape_str(t.shape) for t in n.outs) if n.outs else "?"))
    if n.shares is not None:
        rows.append(f'<font point-size="9">shares {_esc(n.shares.id)}</font>')
    elif n.n_params:
        rows.append(f'<font point-size="9">{n.n_params:,} params</font>')
    return "<" + "<br/>".join(rows) + ">"


def _all_nodes(item):
    if isinstance(item, Node):
        yield item
    else:
        for child in (item.items if isinstance(item, Scope) else item.members):
            yield from _all_nodes(child)


def _folded_label(prog: Program, item) -> str:
    """One box for a block instance or a Sequential: kind (×N for repeats of one kind), shape, params."""
    if isinstance(item, Scope):
        kind = item.kind
        outs = [prog.type_of(ref) for _, ref in item.outputs]
    else:
        kinds = {getattr(m, "kind", "Sequential") for m in item.members}
        kind = f"{kinds.pop()} ×{len(item.members)}" if len(kinds) == 1 else "Sequential"
        last = item.members[-1] if item.members else None  # none when its first step has an error
        while isinstance(last, Repeat):  # a group inside: its last member's
            last = last.members[-1] if last.members else None
        outs = [prog.type_of(ref) for _, ref in last.outputs] if isinstance(last, Scope) else \
            (last.outs or []) if last is not None else []
    params = sum(n.n_params or 0 for n in _all_nodes(item))
    rows = [f"<b>{_esc(item.name)}</b>", _esc(kind),
            _esc(" ".join(shape_str(t.shape) if t else "?" for t in outs) or "?")]
    if params:
        rows.append(f'<font point-size="9">{params:,} params</font>')
    return "<" + "<br/>".join(rows) + ">"


def to_dot(prog: Program, rankdir: str = "TB", depth: int | None = None, collapse: bool = False,
           href=None) -> str:
    """DOT text.  ``collapse`` draws every block instance and Sequential as one box;
    ``depth`` expands blocks down to that nesting depth and folds deeper ones.  Every box has a
    tooltip (name, kind, shape, parameters, file:line); ``href(path, line)``, when given, is the
    link of its source line (an svg's boxes are then links)."""
    if collapse:
        depth = 0 if depth is None else depth
    lines = [f"digraph {_qid(prog.name)} {{",
             f"  graph [rankdir={rankdir}, fontname=\"Helvetica\", fontsize=11, labeljust=l, "
             f"nodesep=0.25, ranksep=0.3];",
             "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10, "
             "margin=\"0.12,0.04\"];",
             "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#6b7280\"];"]
    shown: dict[str, str] = {}  # node id -> the id of the box that shows it
    for n in prog.inputs:
        shown[n.id] = n.id
        lines.append(f"  {_qid(n.id)} [label={_node_label(prog, n)}, fillcolor=\"{COLORS['input']}\""
                     f"{_extras(prog, n, href)}];")

    def emit_scope(items, indent: str, level: int):
        for it in items:
            if isinstance(it, Node):
                shown[it.id] = it.id
                cat = it.layer.category if it.layer else "other"
                lines.append(f"{indent}{_qid(it.id)} [label={_node_label(prog, it)}, "
                             f"fillcolor=\"{COLORS.get(cat, COLORS['other'])}\"{_extras(prog, it, href)}];")
            elif depth is not None and level >= depth:
                for n in _all_nodes(it):
                    shown[n.id] = it.id
                lines.append(f"{indent}{_qid(it.id)} [label={_folded_label(prog, it)}, "
                             f"fillcolor=\"#f3f4f6\", style=\"rounded,filled,bold\"{_extras(prog, it, href)}];")
            else:
                kind = it.kind if isinstance(it, Scope) else "Sequential"
                if getattr(it, "shares", None) is not None:
                    kind += f" (shares {it.shares.id})"
                style = "rounded,dashed" if isinstance(it, Scope) else "rounded"
                lines.append(f"{indent}subgraph {_qid('cluster_' + it.id)} {{")
                lines.append(f"{indent}  label=<<b>{_esc(it.id)}</b>: {_esc(kind)}>; "
                             f"style=\"{style}\"; color=\"#9ca3af\";")
                lines.append(f"{indent}  tooltip={_tip(f'{it.id}: {kind}')};")
                emit_scope(it.items if isinstance(it, Scope) else it.members, indent + "  ", level + 1)
                lines.append(f"{indent}}}")

    emit_scope(prog.root.items, "  ", 0)
    for name, ref in prog.outputs:
        t = prog.type_of(ref)
        lines.append(f"  {_qid('output:' + name)} [label=<<b>{_esc(name)}</b><br/>output<br/>"
                     f"{_esc(shape_str(t.shape) if t else '?')}>, fillcolor=\"{COLORS['output']}\"];")
    seen: set[tuple[str, str]] = set()
    for n in prog.nodes.values():
        for ref in n.inputs:
            src, dst = shown[ref[0]], shown[n.id]
            if src == dst or (src, dst) in seen:
                continue
            seen.add((src, dst))
            t = prog.type_of(ref)
            lines.append(f"  {_qid(src)} -> {_qid(dst)} [label=\" {_esc(shape_str(t.shape) if t else '?')}\"];")
    for name, ref in prog.outputs:
        lines.append(f"  {_qid(shown[ref[0]])} -> {_qid('output:' + name)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


class GraphvizMissing(RuntimeError):
    pass


def render(dot_text: str, fmt: str) -> bytes:
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing(
            "the graphviz 'dot' program is not installed, so only .dot output is possible; "
            "install it (apt-get install graphviz, brew install graphviz) or write -o FILE.dot")
    proc = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"dot failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout
