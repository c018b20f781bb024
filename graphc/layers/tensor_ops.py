"""Tensor operations without parameters that rearrange a tensor's dims, emitted as
expressions: reshape, view, permute, transpose, squeeze and unsqueeze (graphc.layers.reduce
has the ones that reduce a tensor or take parts of it).

Dims are torch's (the batch is dim 0, negative dims count from the end, a 0-d tensor
takes dims -1 and 0), except the shape of reshape and view, which leaves out the batch.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar

from graphc.layers.base import (
    Field,
    Layer,
    Params,
    Sample,
    ShapeError,
    TensorType,
    need_concrete,
    register,
)
from graphc.pyfmt import literal
from graphc.shapes import Sym, normalize_dim, numel, shape_str


class _VarargParams(Params):
    """``reshape(16, -1)``, ``reshape((16, -1))`` and ``reshape(16)`` all give shape=(16, -1)
    or (16,): the lowering gathers a ``*name`` positional's arguments into one tuple, and a
    lone value given by keyword becomes a 1-tuple here."""

    vararg: ClassVar[str]

    @classmethod
    def prepare(cls, data):
        if cls.vararg in data and not isinstance(data[cls.vararg], tuple):
            data = {**data, cls.vararg: (data[cls.vararg],)}
        return data


def _wrap(dim: int, rank: int, arg: str, x: TensorType) -> int:
    """torch's wrapping of ``dim`` into ``range(rank)`` (a 0-d tensor takes -1 and 0)."""
    r = max(rank, 1)
    d = normalize_dim(dim, r)
    if d is None:
        raise ShapeError(f"{arg}={dim} is out of range for a {len(x.shape)}-d input "
                         f"{shape_str(x.shape)}", arg=arg, code="shape-rank",
                         hint=f"use a dim in [{-r}, {r - 1}]")
    return d


def _wrap_all(dims: tuple[int, ...], rank: int, arg: str, x: TensorType) -> list[int]:
    out = [_wrap(d, rank, arg, x) for d in dims]
    for i, d in enumerate(out):
        if d in out[:i]:
            raise ShapeError(f"{arg}={literal(dims)} names dim {d} twice", arg=arg,
                             code="invalid-argument", hint="name each dim once")
    return out


# ------------------------------------------------------------------ reshaping
class _Reshape(Layer):
    category = "reshape"
    positional = ("*shape",)
    method = "reshape"

    class Params(_VarargParams):
        vararg = "shape"
        shape: tuple[Annotated[int, Field(ge=-1)], ...]

    def infer(self, p, ins):
        (x,) = ins
        if not x.shape:
            raise ShapeError("expects an input with a batch dim, got a 0-d tensor", code="shape-rank")
        if p.shape.count(-1) > 1:
            raise ShapeError(f"shape={literal(p.shape)} has more than one -1", arg="shape",
                             code="invalid-argument", hint="only one dim can be inferred")
        rest = numel(x.shape[1:])
        known = math.prod(d for d in p.shape if d != -1)
        have = f"{rest}, {shape_str(x.shape[1:])} after the batch dim"
        empty_batch = x.shape[0] == 0  # torch compares whole tensors: 0 elements fit any shape
        if -1 in p.shape:
            if known == 0 or empty_batch:
                raise ShapeError(f"shape={literal(p.shape)}: -1 cannot be inferred when "
                                 f"{'the shape has a 0' if known == 0 else 'the batch dim is 0'}",
                                 arg="shape", hint="write every dim")
            inferred = rest // known
            ok = inferred * known == rest
        else:
            inferred, ok = None, empty_batch or rest == known
        if not ok:
            want = f"a multiple of {known}" if inferred is not None else f"{known}"
            if isinstance(rest, Sym) and known:
                raise ShapeError(f"shape={literal(p.shape)} needs {want} elements per sample, but the "
                                 f"input has {have}: they fit only for some values of "
                                 f"{', '.join(sorted(rest.free_names))}", arg="shape",
                                 code="shape-symbolic",
                                 hint="give those dims numbers in the input declaration")
            raise ShapeError(f"shape={literal(p.shape)} needs {want} elements per sample, but the "
                             f"input has {have}", arg="shape",
                             hint="the batch dim is kept: write the shape of one sample")
        dims = tuple(inferred if d == -1 else d for d in p.shape)
        return [TensorType((x.shape[0],) + dims, x.dtype)]

    def forward(self, p, call, args):
        x = args[0]
        return f"{x}.{self.method}({', '.join([f'{x}.shape[0]'] + [literal(d) for d in p.shape])})"

    def label(self, p, ins):
        return literal(p.shape)

    def explain(self, p, ins, outs):
        if -1 not in p.shape:
            return []
        known = math.prod(d for d in p.shape if d != -1)
        return [f"-1 = {numel(ins[0].shape[1:])} / {known} = {outs[0].shape[1 + p.shape.index(-1)]}"]


@register
class reshape(_Reshape):
    """``x.reshape(B, *shape)``: ``shape`` leaves out the batch dim, which is kept (as Keras's
    Reshape); one entry may be -1 (inferred). ``reshape(16, -1)`` or ``reshape((16, -1))``.
    With symbolic dims the -1 must come out exact for every value ((B, T, 64) to (-1, 8, 8)
    gives (B, T, 8, 8)); a shape that fits only some values is a shape-symbolic error."""

    samples = (
        Sample({"shape": (16, -1)}, ((2, 4, 8, 8),)),
        Sample({"shape": 12}, ((2, 3, 4),)),
        Sample({"shape": (-1,)}, ((2, 3, 4),), "int64"),
        Sample({"shape": (2, 1, 3)}, ((2, 6),)),
        Sample({"shape": ()}, ((3, 1, 1),)),
    )


@register
class view(_Reshape):
    """``x.view(B, *shape)``: reshape's shape rule; the generated view raises at run time on a
    tensor whose memory layout does not allow it (after permute or transpose: use reshape)."""

    method = "view"
    samples = (
        Sample({"shape": (-1, 2, 2)}, ((2, 3, 4),)),
        Sample({"shape": (4, 3)}, ((2, 12),)),
    )


@register
class permute(Layer):
    """``x.permute(*dims)``: every dim of the input once, in a new order (the batch is dim 0).
    ``permute(0, 2, 1)`` or ``permute((0, 2, 1))``."""

    category = "reshape"
    positional = ("*dims",)

    class Params(_VarargParams):
        vararg = "dims"
        dims: tuple[int, ...]

    def infer(self, p, ins):
        (x,) = ins
        if len(p.dims) != len(x.shape):
            raise ShapeError(f"dims={literal(p.dims)} has {len(p.dims)} entries, but the input "
                             f"{shape_str(x.shape)} has {len(x.shape)} dims", arg="dims",
                             code="shape-rank", hint="name every dim of the input once")
        order = _wrap_all(p.dims, len(x.shape), "dims", x)
        return [TensorType(tuple(x.shape[d] for d in order), x.dtype)]

    def forward(self, p, call, args):
        return f"{args[0]}.permute({', '.join(literal(d) for d in p.dims) or '()'})"

    def label(self, p, ins):
        return literal(p.dims)

    samples = (
        Sample({"dims": (0, 2, 1)}, ((2, 3, 4),)),
        Sample({"dims": (0, -1, 1, 2)}, ((2, 3, 4, 5),)),
        Sample({"dims": ()}, ((),)),
    )


@register
class transpose(Layer):
    """``x.transpose(dim0, dim1)``: two dims swapped."""

    category = "reshape"
    positional = ("dim0", "dim1")

    class Params(Params):
        dim0: int
        dim1: int

    def infer(self, p, ins):
        (x,) = ins
        a = _wrap(p.dim0, len(x.shape), "dim0", x)
        b = _wrap(p.dim1, len(x.shape), "dim1", x)
        shape = list(x.shape)
        if shape:
            shape[a], shape[b] = shape[b], shape[a]
        return [TensorType(tuple(shape), x.dtype)]

    def forward(self, p, call, args):
        return f"{args[0]}.transpose({p.dim0}, {p.dim1})"

    def label(self, p, ins):
        return f"{p.dim0}↔{p.dim1}"

    samples = (
        Sample({"dim0": 1, "dim1": 2}, ((2, 3, 4),)),
        Sample({"dim0": -1, "dim1": 0}, ((2, 3),)),
        Sample({"dim0": 0, "dim1": -1}, ((),)),
    )


@register
class squeeze(Layer):
    """``x.squeeze(dim)``: drops the given dims (an int or a tuple; none: every dim) that have
    size 1; a dim of another size stays (as in torch). Whether a symbolic dim is 1 is known only
    at run time, so squeezing one is an error."""

    category = "reshape"
    positional = ("dim",)

    class Params(Params):
        dim: int | tuple[int, ...] | None = None

    def infer(self, p, ins):
        (x,) = ins
        if p.dim is None:
            dims = list(range(len(x.shape)))
        else:
            dims = _wrap_all(p.dim if isinstance(p.dim, tuple) else (p.dim,), len(x.shape), "dim", x)
        if not x.shape:
            return [x]
        drop = {d for d in dims
                if need_concrete(x.shape[d], f"dim {d} (squeezed only if it is 1)", "dim") == 1}
        return [TensorType(tuple(n for i, n in enumerate(x.shape) if i not in drop), x.dtype)]

    def forward(self, p, call, args):
        return f"{args[0]}.squeeze({'' if p.dim is None else literal(p.dim)})"

    def label(self, p, ins):
        return "" if p.dim is None else f"dim={literal(p.dim)}"

    samples = (
        Sample({"dim": 1}, ((2, 1, 4),)),
        Sample({"dim": -1}, ((2, 3),)),
        Sample({"dim": (1, 3)}, ((2, 1, 4, 1),)),
        Sample({}, ((1, 3, 1),)),
        Sample({"dim": 0}, ((),)),
    )


@register
class unsqueeze(Layer):
    """``x.unsqueeze(dim)``: a new dim of size 1 at ``dim`` (in [-rank-1, rank])."""

    category = "reshape"
    positional = ("dim",)

    class Params(Params):
        dim: int

    def infer(self, p, ins):
        (x,) = ins
        d = _wrap(p.dim, len(x.shape) + 1, "dim", x)
        return [TensorType(x.shape[:d] + (1,) + x.shape[d:], x.dtype)]

    def forward(self, p, call, args):
        return f"{args[0]}.unsqueeze({p.dim})"

    def label(self, p, ins):
        return f"dim={p.dim}"

    samples = (
        Sample({"dim": 1}, ((2, 3),)),
        Sample({"dim": -1}, ((2, 3),)),
        Sample({"dim": 0}, ((),)),
    )
