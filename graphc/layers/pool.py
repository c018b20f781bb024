"""Pooling over 1, 2 and 3 spatial dims: max, average, adaptive average and adaptive max.

One implementation per family, parameterized by the number of spatial dims
(``nd``); each registered kind is a small class naming ``nd``, its parameter
model and its samples.
"""

from __future__ import annotations

from typing import ClassVar

from graphc.layers.base import (
    FLOAT_DTYPES,
    Layer,
    NonNegInt,
    Params,
    PosInt,
    Sample,
    ShapeError,
    TensorType,
    need_rank,
    register,
)
from graphc.layers.conv import AXES, LAYOUT, LETTERS, dims_text, ntuple, sizes, term
from graphc.shapes import ceil_div, pool_out


def _max_params(nd: int) -> type[Params]:
    Size, Pad = sizes(PosInt, nd), sizes(NonNegInt, nd)

    class MaxPoolParams(Params):
        kernel_size: Size
        stride: Size | None = None
        padding: Pad = 0
        dilation: Size = 1
        ceil_mode: bool = False

    return MaxPoolParams


def _avg_params(nd: int) -> type[Params]:
    Size, Pad = sizes(PosInt, nd), sizes(NonNegInt, nd)

    class AvgPoolParams(Params):
        kernel_size: Size
        stride: Size | None = None
        padding: Pad = 0
        ceil_mode: bool = False
        count_include_pad: bool = True

    if nd == 1:  # torch's AvgPool1d has no divisor_override
        return AvgPoolParams

    class AvgPoolDivisorParams(AvgPoolParams):
        divisor_override: PosInt | None = None

    return AvgPoolDivisorParams


def _check_dtype(x: TensorType, allowed: tuple[str, ...]) -> None:
    """The element types torch's (CPU) kernel for this pooling takes; they differ between kinds."""
    if x.dtype not in allowed:
        raise ShapeError(f"torch has no {x.dtype} kernel for it; it takes "
                         f"{', '.join(allowed[:-1])} or {allowed[-1]}",
                         code="dtype", hint="convert the input to float32 first")


# ------------------------------------------------------------ windows
class _PoolNd(Layer):
    """Max and average pooling: a window slid over every spatial dim."""

    category = "pool"
    positional = ("kernel_size", "stride", "padding")
    ctor_positional = 1
    nd: ClassVar[int]
    has_dilation: ClassVar[bool]

    def window(self, p) -> tuple[tuple, tuple, tuple, tuple]:
        """kernel, stride (the kernel when none), padding, dilation: one entry per dim."""
        k = ntuple(p.kernel_size, self.nd)
        s = k if p.stride is None else ntuple(p.stride, self.nd)
        return k, s, ntuple(p.padding, self.nd), ntuple(getattr(p, "dilation", 1), self.nd)

    def pooled(self, p, x: TensorType) -> TensorType:
        nd = self.nd
        need_rank(x, (nd + 1, nd + 2), LAYOUT[nd])
        k, s, pd, d = self.window(p)
        for kk, pp in zip(k, pd):
            if pp > kk // 2:
                raise ShapeError(f"padding {pp} is more than half the kernel size {kk}",
                                 arg="padding", hint=f"use padding <= {kk // 2}")
        out = []
        for n, kk, ss, pp, dd, axis in zip(x.shape[-nd:], k, s, pd, d, AXES[nd]):
            o = pool_out(n, kk, ss, pp, dd, p.ceil_mode)
            if isinstance(o, int) and o < 1:
                raise ShapeError(
                    f"output {axis} would be {o}: input {axis} {n} + 2×padding {pp} "
                    f"is smaller than the window {dd * (kk - 1) + 1}",
                    code="shape-nonpositive", hint="use a smaller kernel, or pool less before this layer")
            out.append(o)
        return TensorType(x.shape[:-nd] + tuple(out), x.dtype)

    def explain(self, p, ins, outs):
        nd = self.nd
        lines = []
        for a, n, kk, ss, pp, dd, o in zip(LETTERS[nd], ins[0].shape[-nd:], *self.window(p),
                                           outs[0].shape[-nd:]):
            reach = f"{dd}·({kk}−1) − 1" if self.has_dilation else f"{kk}"
            text = f"{'ceil' if p.ceil_mode else 'floor'}(({term(n)} + 2·{pp} − {reach})/{ss}) + 1"
            # ceil_mode's rule: a last window that would start in the right padding is dropped
            if p.ceil_mode and isinstance(o, int) and o != ceil_div(n + 2 * pp - dd * (kk - 1) - 1, ss) + 1:
                text += f" − 1 = {o} (the last window would start in the right padding, so it is dropped)"
            else:
                text += f" = {o}"
            lines.append(f"{a}_out = {text}")
        return lines

    def label(self, p, ins):
        k, s, _, _ = self.window(p)
        text = dims_text(k) + (f" s{dims_text(s)}" if s != k else "")
        return text + (" ceil" if p.ceil_mode else "")


class _MaxPoolNd(_PoolNd):
    has_dilation = True

    def infer(self, p, ins):
        (x,) = ins
        _check_dtype(x, ("int32", "int64") + FLOAT_DTYPES)
        return [self.pooled(p, x)]


class _AvgPoolNd(_PoolNd):
    has_dilation = False

    def infer(self, p, ins):
        (x,) = ins
        # torch's CPU avg_pool3d has no float16 or bfloat16 kernel
        floats = FLOAT_DTYPES if self.nd < 3 else ("float32", "float64")
        _check_dtype(x, ("int64",) + floats)
        out = self.pooled(p, x)
        if self.nd == 3:  # avg_pool3d also wants every (unpadded) input size >= the kernel
            for n, kk, axis in zip(x.shape[-3:], self.window(p)[0], AXES[3]):
                if isinstance(n, int) and n < kk:
                    raise ShapeError(f"input {axis} {n} is smaller than the kernel {kk} "
                                     f"(AvgPool3d does not count the padding here)",
                                     code="shape-nonpositive", hint=f"use a kernel of at most {n}")
        return [out]


# ------------------------------------------------------------ adaptive
def _adaptive_params(nd: int) -> type[Params]:
    entry = PosInt if nd == 1 else PosInt | None  # torch takes None (keep that size) from 2-d on
    OutSize = PosInt | tuple[(entry,) * nd]

    class AdaptiveParams(Params):
        output_size: OutSize

    return AdaptiveParams


class _AdaptivePoolNd(Layer):
    """Pooling to a fixed output size: each output cell covers a computed span of the input."""

    needs_float = True
    category = "pool"
    positional = ("output_size",)
    ctor_positional = 1
    nd: ClassVar[int]
    # torch computes a 2-d or 3-d adaptive average to all-1 sizes as a mean over the last
    # dims, which takes inputs of any rank from nd (int output_size) or nd + 1 (a tuple)
    mean_shortcut: ClassVar[bool] = False

    def infer(self, p, ins):
        (x,) = ins
        nd = self.nd
        out = tuple(n if o is None else o for n, o in zip(x.shape[-nd:], ntuple(p.output_size, nd)))
        least = nd if isinstance(p.output_size, int) else nd + 1
        if not (self.mean_shortcut and len(x.shape) >= least and all(o == 1 for o in out)):
            need_rank(x, (nd + 1, nd + 2), LAYOUT[nd])
        return [TensorType(x.shape[:-nd] + out, x.dtype)]

    def explain(self, p, ins, outs):
        nd = self.nd
        return [f"{a}_out = {o} (" + ("output_size" if g is not None else "none in output_size keeps the input size")
                + ")" for a, g, o in zip(LETTERS[nd], ntuple(p.output_size, nd), outs[0].shape[-nd:])]

    def label(self, p, ins):
        return f"→{p.output_size}"


# ------------------------------------------------------------ the kinds
@register
class MaxPool1d(_MaxPoolNd):
    """Max over windows of (N, C, L) or (C, L); stride defaults to the kernel size."""

    needs_float = True  # torch's max_pool1d has no integer kernel (2-d and 3-d have)
    torch_name = "nn.MaxPool1d"
    nd = 1
    Params = _max_params(1)
    samples = (
        Sample({"kernel_size": 2}, ((2, 3, 8),)),
        Sample({"kernel_size": (3,), "stride": 2, "padding": 1, "dilation": 2, "ceil_mode": True},
               ((3, 10),)),
        Sample({"kernel_size": 2, "stride": (2,), "padding": (1,), "dilation": (1,), "ceil_mode": True},
               ((1, 2, 5),)),
    )


@register
class MaxPool2d(_MaxPoolNd):
    """Max over windows of (N, C, H, W) or (C, H, W); stride defaults to the kernel size."""

    torch_name = "nn.MaxPool2d"
    nd = 2
    Params = _max_params(2)
    samples = (
        Sample({"kernel_size": 2}, ((2, 6, 28, 28),)),
        Sample({"kernel_size": 3, "stride": 2, "padding": 1}, ((1, 3, 112, 112),)),
        Sample({"kernel_size": 3, "stride": 2, "ceil_mode": True}, ((1, 2, 10, 9),)),
        Sample({"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}, ((1, 1, 5, 5),)),
        Sample({"kernel_size": (3, 2), "stride": (2, 1), "dilation": (2, 1)}, ((3, 11, 7),)),
        Sample({"kernel_size": 2, "padding": (1, 0)}, ((2, 3, 5, 4),), "int64"),
    )


@register
class MaxPool3d(_MaxPoolNd):
    """Max over windows of (N, C, D, H, W) or (C, D, H, W); stride defaults to the kernel size."""

    torch_name = "nn.MaxPool3d"
    nd = 3
    Params = _max_params(3)
    samples = (
        Sample({"kernel_size": 2}, ((2, 3, 4, 6, 5),)),
        Sample({"kernel_size": (1, 3, 2), "stride": (1, 2, 2), "padding": (0, 1, 1), "dilation": (1, 1, 2),
                "ceil_mode": True}, ((2, 3, 7, 6),)),
    )


@register
class AvgPool1d(_AvgPoolNd):
    """Mean over windows of (N, C, L) or (C, L); stride defaults to the kernel size."""

    torch_name = "nn.AvgPool1d"
    nd = 1
    Params = _avg_params(1)
    samples = (
        Sample({"kernel_size": 2}, ((2, 3, 8),)),
        Sample({"kernel_size": (3,), "stride": (2,), "padding": (1,), "ceil_mode": True,
                "count_include_pad": False}, ((3, 8),)),
        Sample({"kernel_size": 4, "stride": 3, "padding": 2}, ((1, 2, 9),), "int64"),
    )


@register
class AvgPool2d(_AvgPoolNd):
    """Mean over windows of (N, C, H, W) or (C, H, W); stride defaults to the kernel size."""

    torch_name = "nn.AvgPool2d"
    nd = 2
    Params = _avg_params(2)
    samples = (
        Sample({"kernel_size": 2}, ((2, 6, 28, 28),)),
        Sample({"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
               ((1, 3, 9, 8),)),
        Sample({"kernel_size": 3, "stride": 2, "ceil_mode": True, "divisor_override": 2},
               ((1, 2, 10, 9),)),
        Sample({"kernel_size": (2, 3), "stride": (1, 2), "padding": (1, 1), "ceil_mode": True},
               ((4, 6, 7),)),
    )


@register
class AvgPool3d(_AvgPoolNd):
    """Mean over windows of (N, C, D, H, W) or (C, D, H, W); stride defaults to the kernel size."""

    torch_name = "nn.AvgPool3d"
    nd = 3
    Params = _avg_params(3)
    samples = (
        Sample({"kernel_size": 2}, ((2, 3, 4, 6, 5),)),
        Sample({"kernel_size": (1, 3, 2), "stride": (1, 2, 2), "padding": (0, 1, 1), "ceil_mode": True,
                "count_include_pad": False, "divisor_override": 3}, ((2, 3, 7, 6),)),
    )


@register
class AdaptiveAvgPool1d(_AdaptivePoolNd):
    """Average pooling of (N, C, L) or (C, L) to a fixed output length."""

    torch_name = "nn.AdaptiveAvgPool1d"
    nd = 1
    Params = _adaptive_params(1)
    samples = (
        Sample({"output_size": 1}, ((2, 8, 7),)),
        Sample({"output_size": (5,)}, ((3, 4),)),
    )


@register
class AdaptiveAvgPool2d(_AdaptivePoolNd):
    """Average pooling to a fixed output size (None keeps that input size)."""

    torch_name = "nn.AdaptiveAvgPool2d"
    nd = 2
    mean_shortcut = True
    Params = _adaptive_params(2)
    samples = (
        Sample({"output_size": 1}, ((2, 512, 7, 7),)),
        Sample({"output_size": (3, None)}, ((1, 4, 10, 5),)),
        Sample({"output_size": (6, 6)}, ((8, 13, 12),)),
        Sample({"output_size": 1}, ((3, 4),)),
        Sample({"output_size": (None, 1)}, ((2, 2, 3, 1, 4),)),
    )


@register
class AdaptiveAvgPool3d(_AdaptivePoolNd):
    """Average pooling to a fixed output size (None keeps that input size)."""

    torch_name = "nn.AdaptiveAvgPool3d"
    nd = 3
    mean_shortcut = True
    Params = _adaptive_params(3)
    samples = (
        Sample({"output_size": 1}, ((2, 3, 4, 5, 6),)),
        Sample({"output_size": (2, None, 3)}, ((3, 4, 5, 6),)),
        Sample({"output_size": 1}, ((3, 4, 5),)),
    )


@register
class AdaptiveMaxPool1d(_AdaptivePoolNd):
    """Max pooling of (N, C, L) or (C, L) to a fixed output length."""

    torch_name = "nn.AdaptiveMaxPool1d"
    nd = 1
    Params = _adaptive_params(1)
    samples = (
        Sample({"output_size": 3}, ((2, 4, 10),)),
        Sample({"output_size": (4,)}, ((3, 6),)),
    )


@register
class AdaptiveMaxPool2d(_AdaptivePoolNd):
    """Max pooling to a fixed output size (None keeps that input size)."""

    torch_name = "nn.AdaptiveMaxPool2d"
    nd = 2
    Params = _adaptive_params(2)
    samples = (
        Sample({"output_size": 1}, ((2, 8, 7, 7),)),
        Sample({"output_size": (None, 2)}, ((3, 5, 6),)),
    )


@register
class AdaptiveMaxPool3d(_AdaptivePoolNd):
    """Max pooling to a fixed output size (None keeps that input size)."""

    torch_name = "nn.AdaptiveMaxPool3d"
    nd = 3
    Params = _adaptive_params(3)
    samples = (
        Sample({"output_size": (2, 3, None)}, ((1, 2, 4, 5, 3),)),
        Sample({"output_size": 2}, ((2, 3, 3, 4),)),
    )
