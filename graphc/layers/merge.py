"""Operations that combine several tensors: add, sub, mul, matmul, concat, stack.

They have no parameters and no module: the forward line is a tensor expression.
"""

from __future__ import annotations

from graphc.expr import OPERATORS
from graphc.layers.base import FLOAT_DTYPES, Layer, Params, Sample, ShapeError, TensorType, promote, register
from graphc.shapes import broadcast, normalize_dim, numel, shape_str


def _category(dtype: str) -> int:
    return 0 if dtype == "bool" else 2 if dtype in FLOAT_DTYPES else 1


def result_type(ins: list[TensorType]) -> str:
    """torch's dtype for an elementwise op: a 0-d tensor only counts when it is of a higher
    category (bool < integer < floating point) than the tensors with dimensions."""
    dims = [x.dtype for x in ins if x.shape]
    zero = [x.dtype for x in ins if not x.shape]
    if not dims or not zero:
        return promote(dims or zero)
    d, z = promote(dims), promote(zero)
    return promote([d, z]) if _category(z) > _category(d) else d


def _out_of_range(arg: str, dim: int, rank: int, what: str) -> ShapeError:
    lo, hi = -max(rank, 1), max(rank, 1) - 1
    return ShapeError(f"{arg}={dim} is out of range for {what}", arg=arg, code="shape-rank",
                      hint=f"use a dim in [{lo}, {hi}]")


class _Broadcast(Layer):
    category = "merge"
    expression = True
    n_inputs = (2, None)
    op = "+"

    def infer(self, p, ins):
        shapes = [x.shape for x in ins]
        out = broadcast(shapes)
        if out is None:
            listed = " and ".join(shape_str(s) for s in shapes)
            raise ShapeError(f"needs shapes that broadcast, got {listed}",
                             hint="make the shapes equal (e.g. a 1×1 Conv2d or Linear on one "
                                  "branch), or size-1 where one should be repeated")
        return [TensorType(out, result_type(ins))]

    def forward(self, p, call, args):
        return f" {self.op} ".join(args)

    def precedence_of(self, p) -> int:
        """How the forward text binds (graphc.expr.OPERATORS), for the emitter's brackets."""
        return OPERATORS[self.op][0]

    def operand_is_right(self, p, i: int) -> bool:
        return i > 0

    def label(self, p, ins):
        return self.op


@register
class add(_Broadcast):
    """Elementwise sum of two or more tensors (with broadcasting)."""

    samples = (Sample({}, ((2, 3, 4), (2, 3, 4))), Sample({}, ((2, 3, 4), (3, 1), (1,))),
               Sample({}, ((2, 3), ()), "int64"))


@register
class sub(_Broadcast):
    """Elementwise difference ``a - b`` (with broadcasting); bool tensors are an error, as in torch."""

    n_inputs = (2, 2)
    op = "-"

    def infer(self, p, ins):
        if any(x.dtype == "bool" for x in ins):
            raise ShapeError("cannot subtract bool tensors", code="dtype",
                             hint="use logical_xor / logical_not on masks, or convert to a number type")
        return super().infer(p, ins)

    samples = (Sample({}, ((2, 3, 4), (3, 1))), Sample({}, ((2, 1), (2, 5)), "int64"))


@register
class mul(_Broadcast):
    """Elementwise product of two or more tensors (with broadcasting)."""

    op = "*"
    samples = (Sample({}, ((2, 3), (2, 3))), Sample({}, ((2, 8, 4, 4), (2, 8, 1, 1))))


@register
class matmul(Layer):
    """``torch.matmul(a, b)``: 1-d operands are vectors, batch dims broadcast; one dtype for both."""

    expression = True

    category = "merge"
    n_inputs = (2, 2)

    def infer(self, p, ins):
        a, b = ins
        if not a.shape or not b.shape:
            raise ShapeError(f"needs tensors of at least 1 dim, got {len(a.shape)}-d and "
                             f"{len(b.shape)}-d", code="shape-rank")
        if a.dtype != b.dtype or a.dtype == "bool":
            raise ShapeError(f"needs two tensors of one number type, got {a.dtype} and {b.dtype}",
                             code="dtype", hint="convert one operand, e.g. declare both float32")
        k_a, k_b = a.shape[-1], b.shape[-2] if len(b.shape) > 1 else b.shape[0]
        if k_a != k_b:
            raise ShapeError(f"{shape_str(a.shape)} @ {shape_str(b.shape)}: the last dim of the first "
                             f"({k_a}) must equal the {'first' if len(b.shape) == 1 else 'second-to-last'}"
                             f" dim of the second ({k_b})")
        batch = broadcast([a.shape[:-2], b.shape[:-2]])
        if batch is None:
            raise ShapeError(f"{shape_str(a.shape)} @ {shape_str(b.shape)}: the batch dims "
                             f"{shape_str(a.shape[:-2])} and {shape_str(b.shape[:-2])} do not broadcast")
        rows = a.shape[-2:-1]  # () for a vector
        cols = b.shape[-1:] if len(b.shape) > 1 else ()
        return [TensorType(batch + rows + cols, a.dtype)]

    def forward(self, p, call, args):
        return f"torch.matmul({args[0]}, {args[1]})"

    def macs(self, p, ins, outs):
        return numel(outs[0].shape) * ins[0].shape[-1]

    def label(self, p, ins):
        return "@"

    samples = (
        Sample({}, ((2, 3, 4), (4, 5))),
        Sample({}, ((4,), (4,))),
        Sample({}, ((4,), (2, 4, 3))),
        Sample({}, ((2, 1, 3, 4), (5, 4, 2)), "int64"),
        Sample({}, ((2, 3, 4), (4,))),
    )


@register
class concat(Layer):
    """Concatenation along ``dim`` (default 1, the channels)."""

    expression = True

    category = "merge"
    n_inputs = (1, None)
    positional = ("dim",)

    class Params(Params):
        dim: int = 1

    def infer(self, p, ins):
        if any(not x.shape for x in ins):
            raise ShapeError("cannot concatenate a 0-d tensor", code="shape-rank",
                             hint="unsqueeze it first, or use stack")
        dtype = promote(x.dtype for x in ins)
        kept = [x for x in ins if x.shape != (0,)]  # torch skips empty 1-d tensors (unreachable in a model: the 0-size rule)
        if not kept:
            return [TensorType((0,), dtype)]
        rank = len(kept[0].shape)
        for x in kept[1:]:
            if len(x.shape) != rank:
                raise ShapeError(
                    f"needs tensors of one rank, got {shape_str(kept[0].shape)} and "
                    f"{shape_str(x.shape)}", code="shape-rank")
        d = normalize_dim(p.dim, rank)
        if d is None:
            raise _out_of_range("dim", p.dim, rank, f"{rank}-d tensors")
        for i in range(rank):
            dims = [x.shape[i] for x in kept]
            if i != d and any(di != dims[0] for di in dims):
                listed = ", ".join(shape_str(x.shape) for x in kept)
                raise ShapeError(
                    f"along dim {p.dim} every other dim must be equal, but dim {i} differs: "
                    f"{listed}", hint="resize one branch (pooling, interpolation or cropping)")
        total = 0
        for x in kept:
            total = total + x.shape[d]
        return [TensorType(kept[0].shape[:d] + (total,) + kept[0].shape[d + 1:], dtype)]

    def forward(self, p, call, args):
        return f"torch.cat([{', '.join(args)}], dim={p.dim})"

    def label(self, p, ins):
        return f"dim={p.dim}"

    samples = (
        Sample({}, ((2, 3, 4, 4), (2, 5, 4, 4))),
        Sample({"dim": -1}, ((2, 3), (2, 4), (2, 1))),
        Sample({"dim": 0}, ((2, 3),)),
        Sample({}, ((2, 1), (2, 3), (2, 2)), "int64"),
    )


@register
class stack(Layer):
    """``torch.stack``: tensors of one shape joined along a new dim ``dim`` (default 0, as torch)."""

    expression = True

    category = "merge"
    n_inputs = (1, None)
    positional = ("dim",)

    class Params(Params):
        dim: int = 0

    def infer(self, p, ins):
        shape = ins[0].shape
        for x in ins[1:]:
            if x.shape != shape:
                listed = ", ".join(shape_str(x.shape) for x in ins)
                raise ShapeError(f"needs tensors of one shape, got {listed}")
        d = normalize_dim(p.dim, len(shape) + 1)
        if d is None:
            raise _out_of_range("dim", p.dim, len(shape) + 1, f"stacking {len(shape)}-d tensors")
        return [TensorType(shape[:d] + (len(ins),) + shape[d:], promote(x.dtype for x in ins))]

    def forward(self, p, call, args):
        return f"torch.stack([{', '.join(args)}], dim={p.dim})"

    def label(self, p, ins):
        return f"dim={p.dim}"

    samples = (
        Sample({}, ((2, 3), (2, 3))),
        Sample({"dim": -1}, ((2, 3, 4), (2, 3, 4), (2, 3, 4))),
        Sample({"dim": 1}, ((2,), (2,)), "int64"),
    )
