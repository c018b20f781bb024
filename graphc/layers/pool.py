"""Pooling: max, average and adaptive average over 2-d maps."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from graphc.layers.base import (Layer, NonNegPair, Pair, Params, Sample, ShapeError, TensorType,
                                need_rank, pair, register)
from graphc.shapes import pool_out


def _pool2d(x: TensorType, kernel, stride, padding, dilation, ceil_mode) -> TensorType:
    need_rank(x, (3, 4), "(N, C, H, W)")
    k = pair(kernel)
    s = pair(stride) if stride is not None else k
    pd = pair(padding)
    d = pair(dilation)
    for kk, pp in zip(k, pd):
        if pp > kk // 2:
            raise ShapeError(f"padding {pp} is more than half the kernel size {kk}",
                             arg="padding", hint=f"use padding <= {kk // 2}")
    out = []
    for n, kk, ss, pp, dd, axis in zip(x.shape[-2:], k, s, pd, d, ("height", "width")):
        o = pool_out(n, kk, ss, pp, dd, ceil_mode)
        if isinstance(o, int) and o < 1:
            eff = dd * (kk - 1) + 1
            raise ShapeError(
                f"output {axis} would be {o}: input {axis} {n} + 2×padding {pp} "
                f"is smaller than the window {eff}",
                code="shape-nonpositive", hint="use a smaller kernel or pool earlier less often")
        out.append(o)
    return TensorType(x.shape[:-2] + tuple(out), x.dtype)


def _label(p) -> str:
    k = pair(p.kernel_size)
    s = pair(p.stride) if p.stride is not None else k
    text = f"{k[0]}×{k[1]}" + (f" s{s[0]}" if s != k else "")
    return text + (" ceil" if p.ceil_mode else "")


@register
class MaxPool2d(Layer):
    """Max over windows of a 2-d map; stride defaults to the kernel size."""

    torch_name = "nn.MaxPool2d"
    category = "pool"
    positional = ("kernel_size", "stride", "padding")
    ctor_positional = 1

    class Params(Params):
        kernel_size: Pair
        stride: Pair | None = None
        padding: NonNegPair = 0
        dilation: Pair = 1
        ceil_mode: bool = False

    def infer(self, p, ins):
        return [_pool2d(ins[0], p.kernel_size, p.stride, p.padding, p.dilation,
                        p.ceil_mode)]

    def label(self, p, ins):
        return _label(p)

    samples = (
        Sample({"kernel_size": 2}, ((2, 6, 28, 28),)),
        Sample({"kernel_size": 3, "stride": 2, "padding": 1}, ((1, 3, 112, 112),)),
        Sample({"kernel_size": 3, "stride": 2, "ceil_mode": True}, ((1, 2, 10, 9),)),
        Sample({"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}, ((1, 1, 5, 5),)),
        Sample({"kernel_size": (3, 2), "stride": (2, 1), "dilation": (2, 1)}, ((3, 11, 7),)),
    )


@register
class AvgPool2d(Layer):
    """Mean over windows of a 2-d map; stride defaults to the kernel size."""

    torch_name = "nn.AvgPool2d"
    category = "pool"
    positional = ("kernel_size", "stride", "padding")
    ctor_positional = 1

    class Params(Params):
        kernel_size: Pair
        stride: Pair | None = None
        padding: NonNegPair = 0
        ceil_mode: bool = False
        count_include_pad: bool = True
        divisor_override: Annotated[int, Field(gt=0)] | None = None

    def infer(self, p, ins):
        return [_pool2d(ins[0], p.kernel_size, p.stride, p.padding, 1, p.ceil_mode)]

    def label(self, p, ins):
        return _label(p)

    samples = (
        Sample({"kernel_size": 2}, ((2, 6, 28, 28),)),
        Sample({"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
               ((1, 3, 9, 8),)),
        Sample({"kernel_size": 3, "stride": 2, "ceil_mode": True, "divisor_override": 2},
               ((1, 2, 10, 9),)),
        Sample({"kernel_size": (2, 3), "stride": (1, 2), "padding": (1, 1), "ceil_mode": True},
               ((4, 6, 7),)),
    )


OutSize = Annotated[int, Field(gt=0)] | tuple[Annotated[int, Field(gt=0)] | None,
                                               Annotated[int, Field(gt=0)] | None]


@register
class AdaptiveAvgPool2d(Layer):
    """Average pooling to a fixed output size (None keeps that input size)."""

    needs_float = True
    torch_name = "nn.AdaptiveAvgPool2d"
    category = "pool"
    positional = ("output_size",)
    ctor_positional = 1

    class Params(Params):
        output_size: OutSize

    def infer(self, p, ins):
        (x,) = ins
        need_rank(x, (3, 4), "(N, C, H, W)")
        o = (p.output_size, p.output_size) if isinstance(p.output_size, int) else p.output_size
        out = tuple(n if oo is None else oo for n, oo in zip(x.shape[-2:], o))
        return [TensorType(x.shape[:-2] + out, x.dtype)]

    def label(self, p, ins):
        return f"→{p.output_size}"

    samples = (
        Sample({"output_size": 1}, ((2, 512, 7, 7),)),
        Sample({"output_size": (3, None)}, ((1, 4, 10, 5),)),
        Sample({"output_size": (6, 6)}, ((8, 13, 12),)),
    )
