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
    "other": "#f3f4f6",
}


def _esc(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _qid(node_id: str) -> str:
    return '"' + node_id.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _node_label(prog: Program, n: Node) -> str:
    rows = [f"<b>{_esc(n.name)}</b>"]
    if n.is_input:
        rows.append(f"input {_esc(n.declared.dtype)}")
        rows.append(_esc(shape_str(n.declared.shape)))
        return "<" + "<br/>".join(rows) + ">"
    extra = ""
    if n.outs is not None and n.params is not None:
        extra = n.layer.label(n.params, [prog.type_of(r) for r in n.inputs])
    rows.append(_esc(n.kind + (f"  {extra}" if extra else "")))
    rows.append(_esc(" ".join(shape_str(t.shape) for t in n.outs) if n.outs else "?"))
    if n.n_params:
        rows.append(f'<font point-size="9">{n.n_params:,} params</font>')
    return "<" + "<br/>".join(rows) + ">"


def to_dot(prog: Program, rankdir: str = "TB") -> str:
    lines = [f"digraph {_qid(prog.name)} {{",
             f"  graph [rankdir={rankdir}, fontname=\"Helvetica\", fontsize=11, labeljust=l, "
             f"nodesep=0.25, ranksep=0.3];",
             "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10, "
             "margin=\"0.12,0.04\"];",
             "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#6b7280\"];"]
    for n in prog.inputs:
        lines.append(f"  {_qid(n.id)} [label={_node_label(prog, n)}, fillcolor=\"{COLORS['input']}\"];")

    def emit_scope(items, indent: str):
        for it in items:
            if isinstance(it, Node):
                cat = it.layer.category if it.layer else "other"
                lines.append(f"{indent}{_qid(it.id)} [label={_node_label(prog, it)}, "
                             f"fillcolor=\"{COLORS.get(cat, COLORS['other'])}\"];")
            elif isinstance(it, Scope):
                lines.append(f"{indent}subgraph {_qid('cluster_' + it.id)} {{")
                lines.append(f"{indent}  label=<<b>{_esc(it.id)}</b>: {_esc(it.kind)}>; "
                             f"style=\"rounded,dashed\"; color=\"#9ca3af\";")
                emit_scope(it.items, indent + "  ")
                lines.append(f"{indent}}}")
            elif isinstance(it, Repeat):
                lines.append(f"{indent}subgraph {_qid('cluster_' + it.id)} {{")
                lines.append(f"{indent}  label=<<b>{_esc(it.id)}</b>: Sequential>; style=\"rounded\"; "
                             f"color=\"#d1d5db\";")
                emit_scope(it.members, indent + "  ")
                lines.append(f"{indent}}}")

    emit_scope(prog.root.items, "  ")
    for name, ref in prog.outputs:
        oid = f"output:{name}"
        t = prog.type_of(ref)
        lines.append(f"  {_qid(oid)} [label=<<b>{_esc(name)}</b><br/>output<br/>"
                     f"{_esc(shape_str(t.shape) if t else '?')}>, fillcolor=\"{COLORS['output']}\"];")
    for n in prog.nodes.values():
        for ref in n.inputs:
            t = prog.type_of(ref)
            lines.append(f"  {_qid(ref[0])} -> {_qid(n.id)} [label=\" {_esc(shape_str(t.shape) if t else '?')}\"];")
    for name, ref in prog.outputs:
        lines.append(f"  {_qid(ref[0])} -> {_qid('output:' + name)};")
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
