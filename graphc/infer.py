"""Inference: types, parameter counts and MACs for every node, in graph order.

A node whose inputs are unknown (because an earlier node failed) is skipped
silently, so one mistake is reported once and every independent mistake is
still reported.
"""

from __future__ import annotations

from graphc.errors import Diagnostic, diag
from graphc.graph import Program
from graphc.layers.base import FLOAT_DTYPES, ShapeError


def infer(prog: Program) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    for node in prog.nodes.values():  # insertion order is a topological order
        if node.is_input or node.params is None:
            continue
        ins = [prog.type_of(r) for r in node.inputs]
        if any(t is None for t in ins):
            continue
        where = f"{node.kind} '{node.name}'" if node.user_named else node.kind
        if node.layer.needs_float:
            bad = [t.dtype for t in ins if t.dtype not in FLOAT_DTYPES]
            if bad:
                diags.append(diag(node.call.span, "dtype",
                                  f"{where}: needs a floating-point input, got {bad[0]}",
                                  "declare the input as float32, or map integer ids with Embedding"))
                continue
        try:
            outs = node.layer.infer(node.params, ins)
        except ShapeError as e:
            span = node.call.span
            if e.arg is not None and e.arg in node.arg_exprs:
                span = node.arg_exprs[e.arg].span
            diags.append(diag(span, e.code, f"{where}: {e.message}", e.hint))
            continue
        if node.expected_outputs is not None and len(outs) != node.expected_outputs:
            diags.append(diag(node.call.span, "arity",
                              f"{where}: gives {len(outs)} tensor(s), but {node.expected_outputs} "
                              f"name(s) receive them",
                              f"write {len(outs)} name(s) on the left: " +
                              ", ".join(f"t{i}" for i in range(len(outs))) + " = ..."))
            continue
        node.outs = outs
        node.ctor = node.layer.ctor(node.params, ins)
        node.n_params = node.layer.param_count(node.params, ins)
        node.macs = node.layer.macs(node.params, ins, outs)
    return diags
