"""Resampling and padding: Upsample, PixelShuffle, PixelUnshuffle, ZeroPad2d, ReflectionPad2d."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from graphc.layers.activation import reject_bool
from graphc.layers.base import (
    Field,
    Layer,
    Params,
    PosInt,
    Sample,
    ShapeError,
    TensorType,
    need_concrete,
    need_rank,
    register,
)
from graphc.shapes import Dim, shape_str

Scale = Annotated[float, Field(gt=0, allow_inf_nan=False)]
MODE_RANKS = {"nearest": (3, 4, 5), "linear": (3,), "bilinear": (4,), "bicubic": (4,), "trilinear": (5,)}
LAYOUTS = {3: "(N, C, W)", 4: "(N, C, H, W)", 5: "(N, C, D, H, W)"}
AXES = ("D", "H", "W")


def _axes(n: int) -> tuple[str, ...]:
    return AXES[len(AXES) - n:]


def _num(v) -> str:
    return shape_str(v) if isinstance(v, tuple) else f"{v:g}"


def _need_rank(x: TensorType, lo: int, hi: int | None, layout: str) -> None:
    """lo..hi dimensions (hi None: no limit)."""
    if hi is not None:
        need_rank(x, tuple(range(lo, hi + 1)), layout)
    elif len(x.shape) < lo:
        raise ShapeError(f"expects an input of at least {lo} dimensions {layout}, got {len(x.shape)}-d "
                         f"{shape_str(x.shape)}", code="shape-rank", hint="reshape the input first")


def _exact_div(n: Dim, k: int, what: str, arg: str) -> Dim:
    """n / k where k must divide n (a symbolic n only when that is certain)."""
    q = n // k
    if q * k != n:
        need_concrete(n, what, arg)
        raise ShapeError(f"{what} is {n}, which is not divisible by {k}", arg=arg,
                         hint=f"make {what} a multiple of {k}")
    return q


def _positive(name: str, value: Dim, formula: str, hint: str) -> None:
    if isinstance(value, int) and value < 1:
        raise ShapeError(f"output {name} would be {value}: {formula}", code="shape-nonpositive", hint=hint)


def _scaled(n: Dim, s: float, axis: str) -> Dim:
    """floor(n × s) for a symbolic n.  torch multiplies in double; that product is exact (so
    floor(n·p/q) is torch's size for every n) when s = p/q with p < 2**12 (q is a power of two, as
    for every float) and n ≤ 2**40, graphc's limit for a size.  A scale such as 0.7 (p has 52
    bits) rounds differently for different n: it needs a concrete size."""
    from fractions import Fraction

    f = Fraction(s)
    if f.numerator >= 2**12:
        need_concrete(n, f"input {axis} (scaled by {s:g}, a number not exact in binary)", "scale_factor")
    return n * f.numerator // f.denominator


@register
class Upsample(Layer):
    """Resizes the spatial dims of (N, C, [D, H,] W) to ``size`` or by ``scale_factor``."""

    needs_float = True
    torch_name = "nn.Upsample"
    category = "reshape"
    positional = ("size", "scale_factor", "mode")

    class Params(Params):
        size: PosInt | tuple[PosInt, ...] | None = None
        scale_factor: Scale | tuple[Scale, ...] | None = None
        mode: Literal["nearest", "linear", "bilinear", "bicubic", "trilinear"] = "nearest"
        align_corners: bool | None = None
        recompute_scale_factor: bool | None = None

    def infer(self, p, ins):
        (x,) = ins
        if (p.size is None) == (p.scale_factor is None):
            raise ShapeError("needs exactly one of size and scale_factor", code="invalid-argument",
                             arg="size" if p.size is not None else None,
                             hint="give size=(H, W) or scale_factor=2")
        if p.recompute_scale_factor and p.size is not None:
            raise ShapeError("recompute_scale_factor=true needs scale_factor, not size",
                             code="invalid-argument", arg="recompute_scale_factor")
        if p.align_corners is not None and p.mode == "nearest":
            raise ShapeError("align_corners is only for the interpolating modes (linear, bilinear, "
                             "bicubic, trilinear)", code="invalid-argument", arg="align_corners",
                             hint="leave align_corners out with mode='nearest'")
        ranks = MODE_RANKS[p.mode]
        need_rank(x, ranks, f"{' or '.join(LAYOUTS[r] for r in ranks)} for mode='{p.mode}'")
        spatial = x.shape[2:]
        arg = "size" if p.size is not None else "scale_factor"
        value = getattr(p, arg)
        values = value if isinstance(value, tuple) else (value,) * len(spatial)
        if len(values) != len(spatial):
            raise ShapeError(f"{arg}={shape_str(value)} has {len(values)} entries, but the input has "
                             f"{len(spatial)} spatial dimension(s): {shape_str(x.shape)}", arg=arg,
                             code="invalid-argument", hint=f"give {len(spatial)} entries or one number")
        if p.size is not None:
            return [TensorType(x.shape[:2] + values, x.dtype)]
        out = []
        for n, s, axis in zip(spatial, values, _axes(len(spatial))):
            if s.is_integer():
                o = n * int(s)
            elif isinstance(n, int):
                o = math.floor(n * s)  # in double, as torch computes it
            else:
                o = _scaled(n, s, axis)
            _positive(axis, o, f"floor({n} × {s:g})", "use a larger scale_factor or give size")
            out.append(o)
        return [TensorType(x.shape[:2] + tuple(out), x.dtype)]

    def label(self, p, ins):
        return (f"→{_num(p.size)}" if p.size is not None else f"×{_num(p.scale_factor)}") + f" {p.mode}"

    def explain(self, p, ins, outs):
        if p.size is not None:
            return []
        spatial = ins[0].shape[2:]
        scales = p.scale_factor if isinstance(p.scale_factor, tuple) else (p.scale_factor,) * len(spatial)
        return [f"{axis}_out = floor({n} × {s:g}) = {o}"
                for axis, n, s, o in zip(_axes(len(spatial)), spatial, scales, outs[0].shape[2:])]

    samples = (
        Sample({"scale_factor": 2.0}, ((1, 3, 4, 5),)),
        Sample({"size": 7, "mode": "linear", "align_corners": True}, ((2, 3, 4),)),
        Sample({"size": (5, 3), "mode": "bicubic", "align_corners": False}, ((1, 2, 4, 4),)),
        Sample({"scale_factor": (0.7, 1.5), "mode": "bilinear", "recompute_scale_factor": True},
               ((1, 2, 10, 3),)),
        Sample({"scale_factor": 1.5, "mode": "trilinear"}, ((1, 1, 3, 4, 5),)),
        Sample({"scale_factor": 0.5, "recompute_scale_factor": False}, ((2, 3, 5, 4, 7),)),
    )


@register
class PixelShuffle(Layer):
    """(*, C·r², H, W) → (*, C, H·r, W·r)."""

    torch_name = "nn.PixelShuffle"
    category = "reshape"
    positional = ("upscale_factor",)
    ctor_positional = 1

    class Params(Params):
        upscale_factor: PosInt

    def infer(self, p, ins):
        (x,) = ins
        _need_rank(x, 3, None, "(*, C, H, W)")
        r = p.upscale_factor
        c = _exact_div(x.shape[-3], r * r, "the channel count (input dimension -3)", "upscale_factor")
        return [TensorType(x.shape[:-3] + (c, x.shape[-2] * r, x.shape[-1] * r), x.dtype)]

    def label(self, p, ins):
        return f"×{p.upscale_factor}"

    def explain(self, p, ins, outs):
        c, h, w = ins[0].shape[-3:]
        r = p.upscale_factor
        co, ho, wo = outs[0].shape[-3:]
        return [f"C_out = {c} / {r}² = {co}", f"H_out = {h} × {r} = {ho}", f"W_out = {w} × {r} = {wo}"]

    samples = (
        Sample({"upscale_factor": 2}, ((1, 8, 3, 4),)),
        Sample({"upscale_factor": 3}, ((9, 2, 2),), "int64"),
    )


@register
class PixelUnshuffle(Layer):
    """(*, C, H·r, W·r) → (*, C·r², H, W)."""

    torch_name = "nn.PixelUnshuffle"
    category = "reshape"
    positional = ("downscale_factor",)
    ctor_positional = 1

    class Params(Params):
        downscale_factor: PosInt

    def infer(self, p, ins):
        (x,) = ins
        _need_rank(x, 3, None, "(*, C, H, W)")
        r = p.downscale_factor
        h = _exact_div(x.shape[-2], r, "the height (input dimension -2)", "downscale_factor")
        w = _exact_div(x.shape[-1], r, "the width (input dimension -1)", "downscale_factor")
        return [TensorType(x.shape[:-3] + (x.shape[-3] * r * r, h, w), x.dtype)]

    def label(self, p, ins):
        return f"÷{p.downscale_factor}"

    def explain(self, p, ins, outs):
        c, h, w = ins[0].shape[-3:]
        r = p.downscale_factor
        co, ho, wo = outs[0].shape[-3:]
        return [f"C_out = {c} × {r}² = {co}", f"H_out = {h} / {r} = {ho}", f"W_out = {w} / {r} = {wo}"]

    samples = (
        Sample({"downscale_factor": 2}, ((1, 3, 4, 6),)),
        Sample({"downscale_factor": 3}, ((2, 1, 2, 3, 6),), "int64"),
    )


Padding = int | tuple[int, int, int, int]


class _Pad2d(Layer):
    """Pads (left, right, top, bottom) of the last two dims; negative values crop."""

    category = "reshape"
    positional = ("padding",)
    ctor_positional = 1
    ranks: tuple[int, int | None] = (2, None)
    layout = "(*, H, W)"

    class Params(Params):
        padding: Padding

    def infer(self, p, ins):
        (x,) = ins
        _need_rank(x, *self.ranks, self.layout)
        left, right, top, bottom = self.pads(p)
        out = []
        for axis, n, lo, hi in (("height", x.shape[-2], top, bottom), ("width", x.shape[-1], left, right)):
            if isinstance(n, int):
                self.check(axis, n, lo, hi)
            o = n + lo + hi
            _positive(axis, o, f"input {axis} {n} + padding {lo} + {hi}", "use less negative padding")
            out.append(o)
        return [TensorType(x.shape[:-2] + tuple(out), x.dtype)]

    def check(self, axis: str, n: int, lo: int, hi: int) -> None:
        """torch's own limits on padding for a concrete input size."""

    @staticmethod
    def pads(p) -> tuple[int, int, int, int]:
        return (p.padding,) * 4 if isinstance(p.padding, int) else p.padding

    def label(self, p, ins):
        return f"p{p.padding}" if isinstance(p.padding, int) else shape_str(p.padding)

    def explain(self, p, ins, outs):
        left, right, top, bottom = self.pads(p)
        (h, w), (ho, wo) = ins[0].shape[-2:], outs[0].shape[-2:]
        return [f"H_out = {h} + {top} + {bottom} = {ho}", f"W_out = {w} + {left} + {right} = {wo}"]


@register
class ZeroPad2d(_Pad2d):
    """Pads the last two dims with zeros: padding is one int or (left, right, top, bottom)."""

    torch_name = "nn.ZeroPad2d"

    def check(self, axis, n, lo, hi):
        if n + min(lo, 0) + min(hi, 0) < 0:
            raise ShapeError(f"negative padding {lo}, {hi} crops more than the input {axis} {n}",
                             code="shape-nonpositive", arg="padding",
                             hint="crop at most the input size in total")

    samples = (
        Sample({"padding": 1}, ((1, 2, 3, 4),)),
        Sample({"padding": (1, -2, 0, 3)}, ((2, 5, 4),), "int64"),
        Sample({"padding": (2, 0, -1, -1)}, ((3, 4),)),
    )


@register
class ReflectionPad2d(_Pad2d):
    """Pads the last two dims with their reflection: each padding must be < that input dim."""

    torch_name = "nn.ReflectionPad2d"
    ranks = (3, 4)
    layout = "(C, H, W) or (N, C, H, W)"

    def infer(self, p, ins):
        reject_bool(ins[0])
        return super().infer(p, ins)

    def check(self, axis, n, lo, hi):
        if max(lo, hi) >= n:
            raise ShapeError(f"padding {max(lo, hi)} must be less than the input {axis} {n}", arg="padding",
                             hint=f"use padding <= {n - 1}, or ZeroPad2d")

    samples = (
        Sample({"padding": 2}, ((1, 2, 3, 4),)),
        Sample({"padding": (3, 0, -1, 1)}, ((2, 3, 4),), "int64"),
    )
