"""``--explain``: every layer's shapes, with the size formulas and the numbers filled in."""

from __future__ import annotations

from graphc.graph import Program
from graphc.shapes import shape_str


def explain(prog: Program) -> list[str]:
    lines: list[str] = []
    for node in prog.nodes.values():
        if node.is_input:
            t = node.declared
            lines.append(f"{node.id}: input {shape_str(t.shape) if t else '?'}"
                         + (f" {t.dtype}" if t else ""))
            continue
        ins = [prog.type_of(r) for r in node.inputs]
        ins_text = ", ".join(shape_str(t.shape) if t else "?" for t in ins)
        if node.outs is None:
            lines.append(f"{node.id}: {node.kind} {ins_text} -> ?")
            continue
        outs_text = ", ".join(shape_str(t.shape) for t in node.outs)
        lines.append(f"{node.id}: {node.kind} {ins_text} -> {outs_text}")
        own = node.layer.explain(node.params, ins, node.outs)
        formula = next((x for x in own if x.startswith("params = ")), None)
        lines += [f"    {line}" for line in own if line is not formula]
        if node.n_params:  # a layer's own params line gives the formula: the total ends it
            lines.append(f"    {formula or 'params'} = {node.n_params:,}")
    return lines
