"""Inference: types, parameter counts and MACs for every node, in graph order.

A node whose inputs are unknown (because an earlier node failed) is skipped
silently, so one mistake is reported once and every independent mistake is
still reported.
"""

from __future__ import annotations

from dataclasses import replace

from graphc.errors import Diagnostic, diag, shorten
from graphc.graph import Program
from graphc.layers.base import FLOAT_DTYPES, ShapeError
from graphc.lower.inplace import check_inplace
from graphc.lower.sharing import check_shared, check_ties
from graphc.shapes import (
    MAX_DIM,
    MAX_SYMBOLIC_NESTING,
    MAX_SYMBOLIC_TERMS,
    SymbolicLimit,
    shape_str,
    symbolic_budget,
)


def infer(prog: Program) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    over_budget = False
    with symbolic_budget():
        for node in prog.nodes.values():  # insertion order is a topological order
            if node.is_input or node.params is None:
                continue
            try:
                d = _infer_node(prog, node)
            except SymbolicLimit:  # the node stays unknown, as do those after it that need sympy
                if not over_budget:
                    over_budget = True
                    diags.append(diag(node.call.span, "limit",
                                      f"{node.kind}: the symbolic sizes grow too complex for graphc "
                                      f"(more than {MAX_SYMBOLIC_TERMS:,} terms simplified, or floor and "
                                      f"ceil nested more than {MAX_SYMBOLIC_NESTING} deep)",
                                      "give the symbolic dims numbers: in the input declaration, or check "
                                      "with sizes bound (graphc check --set H=224)"))
                continue
            if d is not None:
                diags.append(_at_use(d, node.scope))
    diags += check_shared(prog)
    diags += check_ties(prog)
    diags += check_inplace(prog)
    return diags


def _infer_node(prog: Program, node) -> Diagnostic | None:
    """Infer one node; its types, constructor and counts are set only when all succeed."""
    ins = [prog.type_of(r) for r in node.inputs]
    if any(t is None for t in ins):
        return None
    where = f"{node.kind} '{node.name}'" if node.user_named else node.kind
    if node.layer.needs_float:
        floats = node.layer.split_inputs(node.params, ins)[0]  # a mask may be bool: infer checks it
        bad = [t.dtype for t in floats if t.dtype not in FLOAT_DTYPES]
        if bad:
            return diag(node.call.span, "dtype", f"{where}: needs a floating-point input, got {bad[0]}",
                        "declare the input as float32, or map integer ids with Embedding")
    try:
        outs = node.layer.infer(node.params, ins)
    except ShapeError as e:
        span = node.call.span
        if e.arg is not None and e.arg in node.arg_exprs:
            span = node.arg_exprs[e.arg].span
        return diag(span, e.code, f"{where}: {e.message}", e.hint)
    if node.expected_outputs is not None and len(outs) != node.expected_outputs:
        return diag(node.call.span, "arity",
                    f"{where}: gives {len(outs)} tensor(s), but {node.expected_outputs} name(s) receive them",
                    f"write {len(outs)} name(s) on the left: " +
                    ", ".join(f"t{i}" for i in range(len(outs))) + " = ...")
    empty = _empty_output(node, ins, outs, where)
    if empty is not None:
        return empty
    for t in outs:
        for i, d in enumerate(t.shape):
            if (d if isinstance(d, int) else d.largest_number) > MAX_DIM:
                return diag(node.call.span, "limit",
                            f"{where}: output dim {i} is {shorten(f'{d:,}' if isinstance(d, int) else str(d), 60)}, beyond graphc's limit of 2**40 "
                            f"for a size", "a size this large cannot be allocated: check the "
                            "repeats and scale factors that make it grow")
    ctor = node.layer.ctor(node.params, ins)
    n_params = node.layer.param_count(node.params, ins)
    macs = node.layer.macs(node.params, ins, outs)
    mixed = _weights_dtype(node, ins, ctor, n_params, where) or _position_ids(prog, node, where)
    if mixed is not None:
        return mixed
    node.outs, node.ctor, node.n_params, node.macs = outs, ctor, n_params, macs
    return None


def _position_ids(prog: Program, node, where: str) -> Diagnostic | None:
    """``x -> positions -> Embedding(n)``: the ids are 0..T-1, so a concrete T above n is an
    IndexError in torch (issue 19)."""
    limit = node.layer.id_limit(node.params)
    if limit is None or not node.inputs:
        return None
    src = prog.nodes[node.inputs[0][0]]
    if src.kind != "positions" or not src.inputs:
        return None
    t = prog.type_of(src.inputs[0]).shape[src.params.dim]
    if not isinstance(t, int) or t <= limit:
        return None
    return diag(node.call.span, "shape-mismatch",
                f"{where}: positions gives ids 0..{t - 1} (a sequence of {t}), but num_embeddings is "
                f"{limit}: torch raises an IndexError for the ids from {limit} on",
                f"give it num_embeddings={t} or more (the longest sequence)")


def _weights_dtype(node, ins, ctor, n_params: int, where: str) -> Diagnostic | None:
    """The dtype rule: the generated module's parameters and buffers are float32, and torch
    refuses a float64 input into them ("mat1 and mat2 must have the same dtype"; "expected
    scalar type Float"), and a float16 or bfloat16 one except into the norms (``mixed_dtypes``)."""
    layer = node.layer
    if layer.torch_name is None:
        return None
    owns = n_params > 0 or any(b.dtype in FLOAT_DTYPES for b in layer.own_buffers(ctor or {}).values())
    if not owns:
        return None
    floats = layer.split_inputs(node.params, ins)[0]
    bad = next((t.dtype for t in floats if t.dtype in FLOAT_DTYPES and t.dtype != "float32"
                and t.dtype not in layer.mixed_dtypes), None)
    if bad is None:
        return None
    what = "parameters" if n_params else "buffers (running statistics)"
    return diag(node.call.span, "dtype",
                f"{where}: a {bad} input into its float32 {what}, which torch refuses "
                "(the generated module's tensors are float32)",
                "declare the input float32 (write `input x: [...]` without a dtype), or keep "
                f"{bad} for tensors that reach no layer with parameters")



def _empty_output(node, ins, outs, where: str) -> Diagnostic | None:
    """The 0-size rule, one place for every layer: an output with a dimension of size 0 is an
    error where it arises.  torch lets a few operations make empty tensors (a slice that leaves
    nothing, ``split((0, 4))``), but most layers after one fail (``nn.Conv1d(0, 4, 1)``,
    BatchNorm, pooling, RNNs) or compute nothing; graphc never builds one (docs/language.md,
    "Empty tensors")."""
    for k, t in enumerate(outs):
        zero = [i for i, d in enumerate(t.shape) if isinstance(d, int) and d == 0]
        if not zero:
            continue
        which = f"output {k} " if len(outs) > 1 else "its output "
        got = ", ".join(shape_str(x.shape) for x in ins)
        args = node.layer.label(node.params, ins)
        how = "" if not args or len(args) > 60 else f" {args}" if args.startswith("[") else f" ({args})"
        return diag(node.call.span, "shape-nonpositive",
                    f"{where}{how}: {which}{shape_str(t.shape)} has size 0 in dim {zero[0]} "
                    f"(input {got}), an empty tensor",
                    "graphc refuses empty tensors (the layers after one fail in torch or compute "
                    "nothing): keep at least one element in every dim")
    return None


def _at_use(d: Diagnostic, scope) -> Diagnostic:
    """A shape error inside a block depends on the use (its input, its arguments): the message
    names the instance and the line of the call in the model that made it
    ("in layer2.1, the Basic at line 40")."""
    if scope is None or not scope.is_block:
        return d
    top = scope
    while top.parent is not None and top.parent.is_block:
        top = top.parent
    at = f"line {top.span.line}" if top.span.path == d.span.path else f"{top.span.path}:{top.span.line}"
    return replace(d, message=f"{d.message} (in {scope.id}, the {top.kind} at {at})")
