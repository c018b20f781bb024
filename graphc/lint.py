"""Warnings for likely mistakes in a program that has no errors."""

from __future__ import annotations

from graphc.binder import reading_diagnostics
from graphc.errors import Diagnostic, diag
from graphc.expr import names_used
from graphc.graph import Program


def lint(prog: Program) -> list[Diagnostic]:
    out: list[Diagnostic] = reading_diagnostics(prog.nodes.values())
    live = prog.live()
    for name, (nid, _) in prog.root.inputs:
        if nid not in live:
            node = prog.nodes[nid]
            out.append(diag(node.span, "unused-input", f"input '{name}' never reaches an output",
                            "use it or remove it"))
    consumed = {ref[0] for n in prog.nodes.values() for ref in n.inputs}
    for node in prog.nodes.values():
        # report a dead branch once, at its last node
        if node.is_input or node.id in live or node.id in consumed:
            continue
        if node.binds:
            what = f"'{node.binds}' ({node.kind})"
        elif node.user_named:
            what = f"of {node.kind} '{node.name}'"
        else:
            what = f"of {node.kind}"
        out.append(diag(node.call.span, "unused-value", f"the value {what} never reaches an output",
                        "list it in 'output', use it, or remove it"))
    for name, (nid, _) in prog.outputs:
        node = prog.nodes[nid]
        if node.layer is not None and node.layer.category == "dropout":
            out.append(diag(node.call.span, "dropout-at-output",
                            f"{node.kind} right before output '{name}' zeroes some of the model's outputs "
                            f"in training", "move it before the last layer, or remove it"))
    for block in prog.blocks.values():
        used = names_used(block.body)
        for p in block.params:
            if p.name.id not in used:
                out.append(diag(p.name.span, "unused-parameter",
                                f"block {block.name.id}'s parameter '{p.name.id}' is never used",
                                "use it in the block's layers or remove it"))
    return out

