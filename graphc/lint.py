"""Warnings for likely mistakes in a program that has no errors."""

from __future__ import annotations

from graphc.errors import Diagnostic, diag
from graphc.graph import Program


def lint(prog: Program) -> list[Diagnostic]:
    out: list[Diagnostic] = []
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
    return out
