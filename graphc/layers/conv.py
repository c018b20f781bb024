"""Convolutions and transposed convolutions over 1, 2 and 3 spatial dims.

One implementation per family, parameterized by the number of spatial dims
(``nd``); each registered kind is a small class naming ``nd``, its parameter
model and its samples.  The helpers for N-d sizes (tuple types, axis names,
formula text) are shared with graphc.layers.pool.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from graphc.layers.base import (
    Layer,
    NonNegInt,
    Params,
    PosInt,
    Sample,
    ShapeError,
    TensorType,
    Weight,
    check_given,
    decide,
    either_order,
    need_concrete,
    need_rank,
    register,
)
from graphc.shapes import Dim, conv_out, numel

# ------------------------------------------------------------ N-d helpers
AXES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}
LETTERS = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
LAYOUT = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


def sizes(item, nd: int):
    """The type of a per-dim argument: one value for every dim, or an ``nd``-tuple."""
    return item | tuple[(item,) * nd]


def ntuple(v, nd: int) -> tuple:
    return (v,) * nd if isinstance(v, int) else tuple(v)


def dims_text(v) -> str:
    """``3`` or ``3×2``: a per-dim value for labels."""
    return "×".join(map(str, v)) if isinstance(v, tuple) else str(v)


def term(d: Dim) -> str:
    """A dim inside a formula: in parentheses when its text is a sum."""
    s = str(d)
    return f"({s})" if " " in s else s


def window_hint(n: int, eff: int) -> str:
    return f"use a smaller kernel or add padding={(eff - n + 1) // 2}"


# ------------------------------------------------------------ convolution
PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]


def _conv_params(nd: int) -> type[Params]:
    Size, Pad = sizes(PosInt, nd), sizes(NonNegInt, nd)

    class ConvParams(Params):
        out_channels: PosInt
        kernel_size: Size
        stride: Size = 1
        padding: Pad | Literal["same", "valid"] = 0
        dilation: Size = 1
        groups: PosInt = 1
        bias: bool = True
        padding_mode: PaddingMode = "zeros"
        in_channels: PosInt | None = None

    return ConvParams


def _transposed_params(nd: int) -> type[Params]:
    Size, Pad = sizes(PosInt, nd), sizes(NonNegInt, nd)

    class ConvTransposeParams(Params):
        out_channels: PosInt
        kernel_size: Size
        stride: Size = 1
        padding: Pad = 0
        output_padding: Pad = 0
        groups: PosInt = 1
        bias: bool = True
        dilation: Size = 1
        padding_mode: Literal["zeros"] = "zeros"
        in_channels: PosInt | None = None

    return ConvTransposeParams


class _ConvBase(Layer):
    """What convolutions and transposed convolutions share: channels, groups, counts, label."""

    transposed = False

    needs_float = True
    category = "conv"
    positional = ("out_channels", "kernel_size", "stride", "padding")
    inferred = ("in_channels",)
    torch_positional = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                        "groups", "bias", "padding_mode")
    ctor_positional = 3
    nd: ClassVar[int]

    def channels(self, p, x: TensorType) -> int:
        nd = self.nd
        need_rank(x, (nd + 1, nd + 2), LAYOUT[nd])
        c = need_concrete(x.shape[-nd - 1], f"in_channels (input dimension {-nd - 1})")
        decide(p, in_channels=c)
        check_given(p, "in_channels", c)
        for what, v in (("in_channels", c), ("out_channels", p.out_channels)):
            if v % p.groups:
                raise ShapeError(f"{what} {v} is not divisible by groups={p.groups}", arg="groups",
                                 hint="groups must divide both in_channels and out_channels")
        return c

    @property
    def weights(self) -> tuple[Weight, ...]:
        return (Weight("weight", 2 + self.nd, shape=self._weight_shape),
                Weight("bias", 1, ("bias",), shape=lambda c: (c["out_channels"],)))

    def _weight_shape(self, c: dict) -> tuple[int, ...]:
        k = ntuple(c["kernel_size"], self.nd)
        if self.transposed:
            return (c["in_channels"], c["out_channels"] // c["groups"], *k)
        return (c["out_channels"], c["in_channels"] // c["groups"], *k)

    def kernel_numel(self, p) -> int:
        return math.prod(ntuple(p.kernel_size, self.nd))

    def ctor(self, p, ins):
        d = p.model_dump()
        d.pop("in_channels")
        return {"in_channels": ins[0].shape[-self.nd - 1], **d}

    def param_count(self, p, ins):
        c = ins[0].shape[-self.nd - 1]
        weights = c * p.out_channels // p.groups * self.kernel_numel(p)
        return weights + (p.out_channels if p.bias else 0)

    def label(self, p, ins):
        parts = [f"{p.out_channels}@{dims_text(ntuple(p.kernel_size, self.nd))}"]
        if p.stride != 1:
            parts.append(f"s{dims_text(p.stride)}")
        if p.padding not in (0, "valid"):
            parts.append(f"p{dims_text(p.padding)}")
        if p.groups != 1:
            parts.append(f"g{p.groups}")
        return " ".join(parts)


class _ConvNd(_ConvBase):
    @either_order
    def infer(self, p, ins):
        (x,) = ins
        self.channels(p, x)
        nd = self.nd
        k, s, d = (ntuple(v, nd) for v in (p.kernel_size, p.stride, p.dilation))
        spatial = x.shape[-nd:]
        if p.padding == "same":
            if s != (1,) * nd:
                raise ShapeError(f"padding='same' needs stride 1, got stride={p.stride}", arg="padding",
                                 hint="use an explicit padding with a strided convolution")
            for n, kk, dd, axis in zip(spatial, k, d, AXES[nd]):
                self._check_mode(p, n, (dd * (kk - 1) + 1) // 2, axis)  # the larger side
            return [TensorType(x.shape[:-nd - 1] + (p.out_channels,) + tuple(spatial), x.dtype)]
        pd = ntuple(0 if p.padding == "valid" else p.padding, nd)
        out = []
        for n, kk, ss, pp, dd, axis in zip(spatial, k, s, pd, d, AXES[nd]):
            self._check_mode(p, n, pp, axis)
            o = conv_out(n, kk, ss, pp, dd)
            if isinstance(o, int) and o < 1:
                eff = dd * (kk - 1) + 1
                raise ShapeError(
                    f"output {axis} would be {o}: input {axis} {n} + 2×padding {pp} "
                    f"is smaller than the effective kernel {eff} (kernel {kk}, dilation {dd})",
                    code="shape-nonpositive", hint=window_hint(n, eff))
            out.append(o)
        return [TensorType(x.shape[:-nd - 1] + (p.out_channels,) + tuple(out), x.dtype)]

    @staticmethod
    def _check_mode(p, n, pad, axis):
        """reflect needs each side's padding < the size, circular <= it; replicate has no limit."""
        if p.padding_mode in ("zeros", "replicate") or pad == 0 or not isinstance(n, int):
            return
        reflect = p.padding_mode == "reflect"
        if (pad >= n) if reflect else (pad > n):
            raise ShapeError(
                f"padding_mode='{p.padding_mode}' with padding {pad} needs input {axis} "
                f"{'>' if reflect else '>='} {pad}, got {n}",
                arg="padding", hint="reduce padding or use padding_mode='zeros'")

    def macs(self, p, ins, outs):
        c = ins[0].shape[-self.nd - 1]
        return numel(outs[0].shape) * (c // p.groups) * self.kernel_numel(p)

    def explain(self, p, ins, outs):
        nd = self.nd
        spatial, out = ins[0].shape[-nd:], outs[0].shape[-nd:]
        if p.padding == "same":
            return [f"{a}_out = {n} (padding='same' keeps the size)" for a, n in zip(LETTERS[nd], spatial)]
        k, s, d = (ntuple(v, nd) for v in (p.kernel_size, p.stride, p.dilation))
        pd = ntuple(0 if p.padding == "valid" else p.padding, nd)
        return [f"{a}_out = floor(({term(n)} + 2·{pp} − {dd}·({kk}−1) − 1)/{ss}) + 1 = {o}"
                for a, n, kk, ss, pp, dd, o in zip(LETTERS[nd], spatial, k, s, pd, d, out)]


class _ConvTransposeNd(_ConvBase):
    transposed = True

    torch_positional = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding",
                        "groups", "bias", "dilation", "padding_mode")

    @either_order
    def infer(self, p, ins):
        (x,) = ins
        self.channels(p, x)
        nd = self.nd
        k, s, pd, op, d = (ntuple(v, nd) for v in
                           (p.kernel_size, p.stride, p.padding, p.output_padding, p.dilation))
        out = []
        for n, kk, ss, pp, oo, dd, axis in zip(x.shape[-nd:], k, s, pd, op, d, AXES[nd]):
            if oo >= ss and oo >= dd:
                raise ShapeError(f"output_padding {oo} ({axis}) must be smaller than either "
                                 f"stride {ss} or dilation {dd}", arg="output_padding",
                                 hint=f"use output_padding < {max(ss, dd)}")
            o = (n - 1) * ss - 2 * pp + dd * (kk - 1) + oo + 1
            if isinstance(o, int) and o < 1:
                full = o + 2 * pp
                raise ShapeError(
                    f"output {axis} would be {o}: (input {axis} {n} − 1)×stride {ss} + "
                    f"dilation {dd}×(kernel {kk} − 1) + output_padding {oo} + 1 = {full} "
                    f"is not more than 2×padding {2 * pp}",
                    code="shape-nonpositive", arg="padding",
                    hint=f"use padding <= {(full - 1) // 2}")
            out.append(o)
        return [TensorType(x.shape[:-nd - 1] + (p.out_channels,) + tuple(out), x.dtype)]

    def macs(self, p, ins, outs):
        return numel(ins[0].shape) * (p.out_channels // p.groups) * self.kernel_numel(p)

    def explain(self, p, ins, outs):
        nd = self.nd
        k, s, pd, op, d = (ntuple(v, nd) for v in
                           (p.kernel_size, p.stride, p.padding, p.output_padding, p.dilation))
        return [f"{a}_out = ({n} − 1)·{ss} − 2·{pp} + {dd}·({kk}−1) + {oo} + 1 = {o}"
                for a, n, kk, ss, pp, oo, dd, o in
                zip(LETTERS[nd], ins[0].shape[-nd:], k, s, pd, op, d, outs[0].shape[-nd:])]


# ------------------------------------------------------------ the kinds
@register
class Conv1d(_ConvNd):
    """1-d convolution over (N, C, L) or (C, L); ``in_channels`` is inferred."""

    torch_name = "nn.Conv1d"
    nd = 1
    Params = _conv_params(1)
    samples = (
        Sample({"out_channels": 4, "kernel_size": 3}, ((2, 3, 10),)),
        Sample({"out_channels": 6, "kernel_size": (2,), "stride": 2, "padding": 1, "dilation": 2,
                "groups": 3, "bias": False, "in_channels": 3}, ((3, 9),)),
        Sample({"out_channels": 2, "kernel_size": 4, "padding": "same", "padding_mode": "reflect",
                "dilation": (2,)}, ((1, 2, 5),)),
        Sample({"out_channels": 2, "kernel_size": 3, "padding": (3,), "stride": (3,),
                "padding_mode": "replicate"}, ((1, 1, 2),)),
        Sample({"out_channels": 3, "kernel_size": 2, "padding": "valid", "padding_mode": "circular"},
               ((2, 2, 4),)),
    )


@register
class Conv2d(_ConvNd):
    """2-d convolution over (N, C, H, W) or (C, H, W); ``in_channels`` is inferred."""

    torch_name = "nn.Conv2d"
    nd = 2
    Params = _conv_params(2)
    samples = (
        Sample({"out_channels": 6, "kernel_size": 5}, ((2, 1, 32, 32),)),
        Sample({"out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1, "bias": False},
               ((1, 4, 15, 16),)),
        Sample({"out_channels": 4, "kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0),
                "dilation": (2, 1)}, ((2, 3, 11, 9),)),
        Sample({"out_channels": 6, "kernel_size": 4, "padding": "same", "dilation": 2},
               ((1, 2, 9, 10),)),
        Sample({"out_channels": 6, "kernel_size": 3, "padding": "valid"}, ((3, 7, 7),)),
        Sample({"out_channels": 8, "kernel_size": 3, "groups": 4, "padding": 1}, ((1, 4, 6, 6),)),
        Sample({"out_channels": 4, "kernel_size": 3, "padding": 2, "padding_mode": "reflect"},
               ((1, 2, 5, 5),)),
        Sample({"out_channels": 4, "kernel_size": 3, "padding": 1, "padding_mode": "circular"},
               ((1, 2, 5, 5),)),
        Sample({"out_channels": 2, "kernel_size": 2, "padding": "same", "padding_mode": "replicate"},
               ((1, 2, 5, 4),)),
        Sample({"out_channels": 2, "kernel_size": 1, "padding": 3, "padding_mode": "replicate"},
               ((1, 2, 2, 2),)),
        Sample({"out_channels": 3, "kernel_size": 3, "in_channels": 3}, ((1, 3, 3, 3),)),
    )


@register
class Conv3d(_ConvNd):
    """3-d convolution over (N, C, D, H, W) or (C, D, H, W); ``in_channels`` is inferred."""

    torch_name = "nn.Conv3d"
    nd = 3
    Params = _conv_params(3)
    samples = (
        Sample({"out_channels": 4, "kernel_size": 3}, ((2, 2, 5, 6, 7),)),
        Sample({"out_channels": 4, "kernel_size": (1, 3, 2), "stride": (1, 2, 2), "padding": (0, 1, 2),
                "dilation": (1, 2, 1), "groups": 2, "bias": False, "in_channels": 2}, ((2, 4, 5, 6),)),
        Sample({"out_channels": 2, "kernel_size": 3, "padding": "same", "padding_mode": "circular"},
               ((1, 1, 3, 4, 5),)),
        Sample({"out_channels": 2, "kernel_size": 2, "stride": 2, "padding": "valid",
                "padding_mode": "reflect"}, ((1, 3, 4, 4, 4),)),
        Sample({"out_channels": 1, "kernel_size": 2, "padding": 1, "padding_mode": "replicate"},
               ((1, 1, 2, 3, 2),)),
    )


@register
class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-d convolution over (N, C, L) or (C, L); ``in_channels`` is inferred."""

    torch_name = "nn.ConvTranspose1d"
    nd = 1
    Params = _transposed_params(1)
    samples = (
        Sample({"out_channels": 4, "kernel_size": 3}, ((2, 3, 10),)),
        Sample({"out_channels": 6, "kernel_size": (4,), "stride": 2, "padding": 1, "output_padding": 1,
                "groups": 3, "bias": False, "in_channels": 3}, ((3, 7),)),
        Sample({"out_channels": 2, "kernel_size": 2, "stride": (1,), "dilation": 3, "output_padding": (2,),
                "padding": (2,), "padding_mode": "zeros"}, ((1, 2, 5),)),
    )


@register
class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-d convolution over (N, C, H, W) or (C, H, W); ``in_channels`` is inferred."""

    torch_name = "nn.ConvTranspose2d"
    nd = 2
    Params = _transposed_params(2)
    samples = (
        Sample({"out_channels": 8, "kernel_size": 2, "stride": 2}, ((2, 4, 7, 7),)),
        Sample({"out_channels": 4, "kernel_size": (3, 2), "stride": (2, 3), "padding": (1, 0),
                "output_padding": (1, 2), "dilation": (1, 2), "groups": 2, "bias": False,
                "in_channels": 6}, ((6, 5, 4),)),
        Sample({"out_channels": 3, "kernel_size": 3, "padding": 1, "output_padding": 1, "dilation": 2,
                "padding_mode": "zeros"}, ((1, 2, 4, 5),)),
    )


@register
class ConvTranspose3d(_ConvTransposeNd):
    """Transposed 3-d convolution over (N, C, D, H, W) or (C, D, H, W); ``in_channels`` is inferred."""

    torch_name = "nn.ConvTranspose3d"
    nd = 3
    Params = _transposed_params(3)
    samples = (
        Sample({"out_channels": 2, "kernel_size": 2, "stride": 2}, ((1, 3, 3, 4, 2),)),
        Sample({"out_channels": 4, "kernel_size": (1, 2, 3), "stride": (1, 2, 2), "padding": (0, 1, 1),
                "output_padding": (0, 1, 0), "dilation": (2, 1, 1), "groups": 2, "bias": False,
                "in_channels": 2, "padding_mode": "zeros"}, ((2, 3, 4, 3),)),
    )
