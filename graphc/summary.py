"""Per-layer table and totals: parameters, MACs, output shapes.

MACs are per sample: the batch dimension (the first dim of each input, when
it is symbolic) is bound to 1.  Symbolic dims other than the batch stay in the
figures as expressions.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc.graph import Program
from graphc.shapes import Dim, Sym, shape_str, substitute

BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int64": 8, "int32": 4, "bool": 1}


@dataclass
class Row:
    name: str
    kind: str
    depth: int
    output_shape: str
    params: int
    macs: Dim


@dataclass
class Summary:
    model: str
    inputs: list[dict]
    outputs: list[dict]
    rows: list[Row]
    total_params: int
    trainable_params: int
    total_macs: Dim

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "total_macs": _jsonable(self.total_macs),
            "layers": [
                {"name": r.name, "kind": r.kind, "output_shape": r.output_shape, "params": r.params,
                 "macs": _jsonable(r.macs)}
                for r in self.rows
            ],
        }

    def to_text(self) -> str:
        head = ("Layer", "Kind", "Output shape", "Params", "MACs")
        body = [(("  " * r.depth) + r.name, r.kind, r.output_shape, f"{r.params:,}", _num(r.macs))
                for r in self.rows]
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
        lines.append(f"Total params:     {self.total_params:,}")
        lines.append(f"Trainable params: {self.trainable_params:,}")
        lines.append(f"MACs per sample:  {_num(self.total_macs)}")
        return "\n".join(lines)


def _jsonable(d: Dim):
    return d if isinstance(d, int) else str(d)


def _num(d: Dim) -> str:
    return f"{d:,}" if isinstance(d, int) else str(d)


def batch_symbols(prog: Program) -> set[str]:
    out = set()
    for n in prog.inputs:
        if n.declared and n.declared.shape and isinstance(n.declared.shape[0], Sym):
            out.add(str(n.declared.shape[0]))
    return out


def summarize(prog: Program) -> Summary:
    batch = {s: 1 for s in batch_symbols(prog)}
    rows: list[Row] = []
    total_macs: Dim = 0
    for node in prog.nodes.values():
        if node.is_input:
            continue
        macs = substitute(node.macs or 0, batch)
        total_macs = total_macs + macs
        shape = " ".join(shape_str(t.shape) for t in node.outs) if node.outs else "?"
        rows.append(Row(node.id, node.kind, node.id.count("."), shape, node.n_params or 0, macs))
    total = sum(r.params for r in rows)
    return Summary(
        model=prog.name,
        inputs=[{"name": n.name, "shape": shape_str(n.declared.shape), "dtype": n.declared.dtype}
                for n in prog.inputs],
        outputs=[{"name": name, "shape": shape_str(t.shape) if (t := prog.type_of(ref)) else "?"}
                 for name, ref in prog.outputs],
        rows=rows,
        total_params=total,
        trainable_params=total,
        total_macs=total_macs,
    )
