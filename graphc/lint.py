"""Warnings for likely mistakes in a program that has no errors."""

from __future__ import annotations

import networkx as nx

from graphc.errors import Diagnostic, diag
from graphc.graph import Program


def lint(prog: Program) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    live: set[str] = set()
    for _, (nid, _) in prog.outputs:
        live.add(nid)
        live |= nx.ancestors(prog.graph, nid)
    for name, (nid, _) in prog.root.inputs:
        if nid not in live:
            node = prog.nodes[nid]
            out.append(diag(node.span, "unused-input", f"input '{name}' never reaches an output",
                            "use it or remove it"))
    for node in prog.nodes.values():
        if node.is_input or node.id in live:
            continue
        # report only the last node of a dead branch
        if any(s not in live for s in prog.graph.successors(node.id)):
            continue
        out.append(diag(node.call.span, "unused-value",
                        f"the value of {node.kind} '{node.name}' never reaches an output",
                        "list it in 'output', use it, or remove it"))
    return out
