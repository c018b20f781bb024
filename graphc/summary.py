"""Per-layer table and totals: parameters, MACs, activation memory, output shapes.

Rows follow the block tree, like torchinfo: a block instance or an
``nn.Sequential`` (repeat, group) is a row with its layers' totals, and its
layers are indented below it.  MACs and activation memory are per sample: the
batch dimension (the first dim of each input, when it is symbolic) is bound to
1; other symbolic dims stay in the figures as expressions.  Activation memory
counts every layer's output at its dtype, as kept for the backward pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from graphc.graph import Node, Program, Repeat, Scope
from graphc.layers.learned import PARAM_KIND
from graphc.shapes import Dim, dim_sum, numel, shape_str, substitute

BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int64": 8, "int32": 4, "bool": 1}
PARAM_BYTES = 4  # generated modules hold float32 parameters (a learned tensor may be another dtype)


@dataclass
class Row:
    name: str
    kind: str
    depth: int
    output_shape: str
    params: int
    macs: Dim
    activation_bytes: Dim
    is_block: bool = False


@dataclass
class Summary:
    model: str
    inputs: list[dict]
    outputs: list[dict]
    rows: list[Row]                   # blocks and layers, in tree order
    total_params: int
    trainable_params: int
    total_macs: Dim
    activation_bytes: Dim             # per sample
    batch_size: int = 1
    extra_param_bytes: int = 0        # learned tensors not float32: their bytes beyond 4 each

    @property
    def layers(self) -> list[Row]:
        return [r for r in self.rows if not r.is_block]

    @property
    def param_bytes(self) -> int:
        return self.total_params * PARAM_BYTES + self.extra_param_bytes

    def to_json(self) -> dict:
        def row(r: Row) -> dict:
            return {"name": r.name, "kind": r.kind, "output_shape": r.output_shape, "params": r.params,
                    "macs": _jsonable(r.macs), "depth": r.depth,
                    "activation_bytes": _jsonable(r.activation_bytes)}

        return {
            "model": self.model,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "total_macs": _jsonable(self.total_macs),
            "param_bytes": self.param_bytes,
            "activation_bytes_per_sample": _jsonable(self.activation_bytes),
            "batch_size": self.batch_size,
            "activation_bytes": _jsonable(self.activation_bytes * self.batch_size),
            "layers": [row(r) for r in self.layers],
            "blocks": [row(r) for r in self.rows if r.is_block],
        }

    def to_text(self, depth: int | None = None) -> str:
        head = ("Layer", "Kind", "Output shape", "Params", "MACs", "Act. mem")
        shown = [r for r in self.rows if depth is None or r.depth <= depth]
        body = [(("  " * r.depth) + r.name.rsplit(".", 1)[-1] if r.depth else r.name, r.kind, r.output_shape,
                 f"{r.params:,}", _num(r.macs), _bytes(r.activation_bytes)) for r in shown]
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]

        def fmt(cols):
            return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cols, widths)))

        rule = "─" * len(fmt(head))
        lines = [f"model {self.model}", rule, fmt(head), rule]
        lines += [fmt(b) for b in body]
        lines.append(rule)
        for i in self.inputs:
            lines.append(f"input  {i['name']}: {i['shape']} {i['dtype']}")
        for o in self.outputs:
            lines.append(f"output {o['name']}: {o['shape']}")
        lines.append(f"Total params:       {self.total_params:,}")
        lines.append(f"Trainable params:   {self.trainable_params:,}")
        if self.trainable_params != self.total_params:
            lines.append(f"Frozen params:      {self.total_params - self.trainable_params:,}")
        lines.append(f"Param memory:       {_bytes(self.param_bytes)}")
        lines.append(f"MACs per sample:    {_num(self.total_macs)}")
        lines.append(f"Activations, batch {self.batch_size}: {_bytes(self.activation_bytes * self.batch_size)}"
                     f" (forward outputs kept for backward)")
        return "\n".join(lines)


def _jsonable(d: Dim):
    return d if isinstance(d, int) else str(d)


def _num(d: Dim) -> str:
    return f"{d:,}" if isinstance(d, int) else str(d)


def _bytes(d: Dim) -> str:
    if not isinstance(d, int):
        return f"{d} B"
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if d >= size:
            return f"{d / size:.2f} {unit}"
    return f"{d} B"


def frozen_params(prog: Program) -> int:
    """The parameters ``freeze`` statements stop from training, each tensor once (a tied tensor
    is frozen when either of its layers is)."""
    frozen: set[str] = set()
    for scope in prog.scopes():
        for _, it in scope.freezes:
            stack = [it]
            while stack:
                x = stack.pop()
                if isinstance(x, Node):
                    frozen.add(x.id)
                else:
                    stack += x.items if isinstance(x, Scope) else x.members
    n = sum(prog.nodes[i].n_params or 0 for i in frozen)
    for scope in prog.scopes():
        for _, left, lp, right, _ in scope.ties:  # counted under the right layer, frozen with either
            if left.id in frozen and right.id not in frozen and right.ctor is not None:
                shape = right.layer.weight_shape(right.ctor, lp) or ()
                n += math.prod(shape)
    return n


def batch_symbols(prog: Program) -> set[str]:
    """The batch symbol, as a set (empty when no input has a symbolic batch): Program.batch_symbol."""
    return {prog.batch_symbol} if prog.batch_symbol is not None else set()


def summarize(prog: Program, batch_size: int = 1) -> Summary:
    batch = {s: 1 for s in batch_symbols(prog)}
    rows: list[Row] = []

    def node_row(node: Node, depth: int) -> Row:
        macs = substitute(node.macs or 0, batch)
        if node.outs and node.kind == PARAM_KIND:  # a learned tensor: parameters, no activation
            shape, act = shape_str(node.outs[0].shape), 0
        elif node.outs:
            shape = " ".join(shape_str(t.shape) for t in node.outs)
            act = dim_sum(substitute(numel(t.shape), batch) * BYTES.get(t.dtype, 4) for t in node.outs)
        else:
            shape, act = "?", 0
        kind = node.kind if node.shares is None else f"{node.kind} (shares {node.shares.id})"
        return Row(node.id, kind, depth, shape, node.n_params or 0, macs, act)

    def walk(items, depth: int) -> tuple[int, Dim, Dim]:
        done: list[Row] = []
        for it in items:
            if isinstance(it, Node):
                r = node_row(it, depth)
                rows.append(r)
            else:
                kind = it.kind if isinstance(it, Scope) else "Sequential"
                if getattr(it, "shares", None) is not None:
                    kind += f" (shares {it.shares.id})"
                head = Row(it.id, kind, depth, "", 0, 0, 0, True)
                rows.append(head)
                children = it.items if isinstance(it, Scope) else it.members
                head.params, head.macs, head.activation_bytes = walk(children, depth + 1)
                outs = _outputs(prog, it)
                head.output_shape = " ".join(shape_str(t.shape) if t else "?" for t in outs)
                r = head
            done.append(r)
        return (sum(r.params for r in done), dim_sum(r.macs for r in done),
                dim_sum(r.activation_bytes for r in done))

    total, total_macs, total_act = walk(prog.root.items, 0)
    return Summary(
        model=prog.name,
        inputs=[{"name": n.name, "shape": shape_str(n.declared.shape), "dtype": n.declared.dtype}
                for n in prog.inputs],
        outputs=[{"name": name, "shape": shape_str(t.shape) if (t := prog.type_of(ref)) else "?"}
                 for name, ref in prog.outputs],
        rows=rows,
        total_params=total,
        trainable_params=total - frozen_params(prog),
        total_macs=total_macs,
        activation_bytes=total_act,
        batch_size=batch_size,
        extra_param_bytes=sum((BYTES[n.params.dtype] - PARAM_BYTES) * (n.n_params or 0)
                              for n in prog.nodes.values() if n.kind == PARAM_KIND and n.params is not None),
    )


def _outputs(prog: Program, item: Scope | Repeat):
    if isinstance(item, Repeat):
        last = item.members[-1]
        return _outputs(prog, last) if isinstance(last, (Scope, Repeat)) else (last.outs or [None])
    return [prog.type_of(ref) for _, ref in item.outputs]
