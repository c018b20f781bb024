"""Operations that combine several tensors: add, mul, concat.

They have no parameters and no module: the forward line is a tensor expression.
"""

from __future__ import annotations

from graphc.layers.base import Layer, Params, Sample, ShapeError, TensorType, promote, register
from graphc.shapes import broadcast, normalize_dim, shape_str


class _Broadcast(Layer):
    category = "merge"
    n_inputs = (2, None)
    op = "+"
    word = "add"

    def infer(self, p, ins):
        shapes = [x.shape for x in ins]
        out = broadcast(shapes)
        if out is None:
            listed = " and ".join(shape_str(s) for s in shapes)
            raise ShapeError(f"needs shapes that broadcast, got {listed}",
                             hint="make the shapes equal (e.g. a 1×1 Conv2d or Linear on one "
                                  "branch), or size-1 where one should be repeated")
        return [TensorType(out, promote(x.dtype for x in ins))]

    def forward(self, p, call, args):
        return f" {self.op} ".join(args)

    def label(self, p, ins):
        return self.op


@register
class add(_Broadcast):
    """Elementwise sum of two or more tensors (with broadcasting)."""

    samples = (Sample({}, ((2, 3, 4), (2, 3, 4))), Sample({}, ((2, 3, 4), (3, 1), (1,))))


@register
class mul(_Broadcast):
    """Elementwise product of two or more tensors (with broadcasting)."""

    op = "*"
    samples = (Sample({}, ((2, 3), (2, 3))), Sample({}, ((2, 8, 4, 4), (2, 8, 1, 1))))


@register
class concat(Layer):
    """Concatenation along ``dim`` (default 1, the channels)."""

    category = "merge"
    n_inputs = (1, None)
    positional = ("dim",)

    class Params(Params):
        dim: int = 1

    def infer(self, p, ins):
        rank = len(ins[0].shape)
        for x in ins[1:]:
            if len(x.shape) != rank:
                raise ShapeError(
                    f"needs tensors of one rank, got {shape_str(ins[0].shape)} and "
                    f"{shape_str(x.shape)}", code="shape-rank")
        d = normalize_dim(p.dim, max(rank, 1))
        if d is None or rank == 0:
            raise ShapeError(f"dim={p.dim} is out of range for {rank}-d tensors", arg="dim",
                             code="shape-rank", hint=f"use a dim in [{-rank}, {rank - 1}]")
        total = 0
        for i in range(rank):
            if i == d:
                continue
            dims = [x.shape[i] for x in ins]
            if any(di != dims[0] for di in dims):
                listed = ", ".join(shape_str(x.shape) for x in ins)
                raise ShapeError(
                    f"along dim {p.dim} every other dim must be equal, but dim {i} differs: "
                    f"{listed}", hint="resize one branch (pooling, interpolation or cropping)")
        for x in ins:
            total = total + x.shape[d]
        shape = ins[0].shape[:d] + (total,) + ins[0].shape[d + 1:]
        return [TensorType(shape, promote(x.dtype for x in ins))]

    def forward(self, p, call, args):
        return f"torch.cat([{', '.join(args)}], dim={p.dim})"

    def label(self, p, ins):
        return f"dim={p.dim}"

    samples = (
        Sample({}, ((2, 3, 4, 4), (2, 5, 4, 4))),
        Sample({"dim": -1}, ((2, 3), (2, 4), (2, 1))),
        Sample({"dim": 0}, ((2, 3),)),
    )
