"""Layers that only rearrange a tensor's dimensions."""

from __future__ import annotations

from graphc.layers.base import Layer, Params, Sample, ShapeError, TensorType, register
from graphc.shapes import normalize_dim, numel, shape_str


@register
class Flatten(Layer):
    """Merges dims start_dim..end_dim into one (by default all but the batch)."""

    torch_name = "nn.Flatten"
    category = "reshape"
    positional = ("start_dim", "end_dim")

    class Params(Params):
        start_dim: int = 1
        end_dim: int = -1

    def infer(self, p, ins):
        (x,) = ins
        rank = max(len(x.shape), 1)
        s, e = normalize_dim(p.start_dim, rank), normalize_dim(p.end_dim, rank)
        for name, v, n in (("start_dim", p.start_dim, s), ("end_dim", p.end_dim, e)):
            if n is None:
                raise ShapeError(f"{name}={v} is out of range for a {len(x.shape)}-d input "
                                 f"{shape_str(x.shape)}", arg=name, code="shape-rank",
                                 hint=f"use a dim in [{-rank}, {rank - 1}]")
        if s > e:
            raise ShapeError(f"start_dim={p.start_dim} comes after end_dim={p.end_dim} "
                             f"for a {len(x.shape)}-d input", arg="start_dim")
        if not x.shape:
            return [TensorType((1,), x.dtype)]
        merged = numel(x.shape[s:e + 1])
        return [TensorType(x.shape[:s] + (merged,) + x.shape[e + 1:], x.dtype)]

    def label(self, p, ins):
        return "" if (p.start_dim, p.end_dim) == (1, -1) else f"{p.start_dim}..{p.end_dim}"

    samples = (
        Sample({}, ((2, 16, 5, 5),)),
        Sample({"start_dim": 0}, ((3, 4),)),
        Sample({"start_dim": 1, "end_dim": 2}, ((2, 3, 4, 5),)),
        Sample({"start_dim": -2}, ((2, 3, 4),)),
    )
