"""Layers that only rearrange a tensor's dimensions."""

from __future__ import annotations

from typing import Annotated, Literal

from graphc.layers.base import (
    Field,
    Layer,
    Params,
    PosInt,
    Sample,
    ShapeError,
    TensorType,
    need_concrete,
    register,
    validates,
)
from graphc.shapes import normalize_dim, numel, prod_int, shape_str


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

    def explain(self, p, ins, outs):
        shape = ins[0].shape
        if not shape:
            return []
        s, e = normalize_dim(p.start_dim, len(shape)), normalize_dim(p.end_dim, len(shape))
        if e - s < 1:
            return []
        merged = outs[0].shape[s]
        return [f"dims {s}..{e} merged: {'·'.join(str(d) if isinstance(d, int) else f'({d})' for d in shape[s:e + 1])}"
                f" = {merged}"]

    samples = (
        Sample({}, ((2, 16, 5, 5),)),
        Sample({"start_dim": 0}, ((3, 4),)),
        Sample({"start_dim": 1, "end_dim": 2}, ((2, 3, 4, 5),)),
        Sample({"start_dim": -2}, ((2, 3, 4),)),
    )


@register
class Unflatten(Layer):
    """Splits dim ``dim`` into ``unflattened_size`` (one entry may be -1: the rest of the size)."""

    torch_name = "nn.Unflatten"
    category = "reshape"
    positional = ("dim", "unflattened_size")
    ctor_positional = 2

    class Params(Params):
        dim: int
        unflattened_size: Annotated[tuple[PosInt | Literal[-1], ...], Field(min_length=1)]

        @validates("unflattened_size")
        def _one_free(v):
            if v.count(-1) > 1:
                raise ValueError("only one size may be -1")
            return v

    def infer(self, p, ins):
        (x,) = ins
        d = normalize_dim(p.dim, len(x.shape))
        if d is None:
            raise ShapeError(f"dim={p.dim} is out of range for a {len(x.shape)}-d input "
                             f"{shape_str(x.shape)}", arg="dim", code="shape-rank",
                             hint=f"use a dim in [{-len(x.shape)}, {len(x.shape) - 1}]" if x.shape else None)
        n, sizes = x.shape[d], p.unflattened_size
        known = prod_int(s for s in sizes if s != -1)
        rest = n // known if -1 in sizes else 1  # the size that -1 stands for
        if rest * known != n:
            need_concrete(n, f"input dimension {p.dim}", "unflattened_size")
            raise ShapeError(f"unflattened_size={shape_str(sizes)} does not multiply up to input dimension "
                             f"{p.dim}, which is {n}", arg="unflattened_size",
                             hint=f"use sizes whose product is {n}, or -1 for one of them")
        out = tuple(rest if s == -1 else s for s in sizes)
        return [TensorType(x.shape[:d] + out + x.shape[d + 1:], x.dtype)]

    def label(self, p, ins):
        return f"{p.dim}→{shape_str(p.unflattened_size)}"

    samples = (
        Sample({"dim": 1, "unflattened_size": (2, 3)}, ((4, 6),)),
        Sample({"dim": -1, "unflattened_size": (2, -1, 1)}, ((3, 8),)),
        Sample({"dim": 0, "unflattened_size": (-1,)}, ((5,),), "int64"),
    )
