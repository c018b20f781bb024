"""Convolutions."""

from __future__ import annotations

from typing import Literal

from graphc.layers.base import (Layer, NonNegPair, Pair, Params, PosInt, Sample, ShapeError,
                                TensorType, check_given, need_concrete, need_rank, pair, register)
from graphc.shapes import conv_out, numel

PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]


@register
class Conv2d(Layer):
    """2-d convolution over (N, C, H, W); ``in_channels`` is inferred."""

    needs_float = True
    torch_name = "nn.Conv2d"
    category = "conv"
    positional = ("out_channels", "kernel_size", "stride", "padding")
    ctor_positional = 3

    class Params(Params):
        out_channels: PosInt
        kernel_size: Pair
        stride: Pair = 1
        padding: NonNegPair | Literal["same", "valid"] = 0
        dilation: Pair = 1
        groups: PosInt = 1
        bias: bool = True
        padding_mode: PaddingMode = "zeros"
        in_channels: PosInt | None = None

    def infer(self, p, ins):
        (x,) = ins
        need_rank(x, (3, 4), "(N, C, H, W)")
        c = need_concrete(x.shape[-3], "in_channels (input dimension -3)")
        check_given(p, "in_channels", c)
        if c % p.groups:
            raise ShapeError(f"in_channels {c} is not divisible by groups={p.groups}", arg="groups",
                             hint="groups must divide both in_channels and out_channels")
        if p.out_channels % p.groups:
            raise ShapeError(f"out_channels {p.out_channels} is not divisible by groups={p.groups}",
                             arg="groups", hint="groups must divide both in_channels and out_channels")
        k, s, d = pair(p.kernel_size), pair(p.stride), pair(p.dilation)
        spatial = x.shape[-2:]
        if p.padding == "same":
            if s != (1, 1):
                raise ShapeError(f"padding='same' needs stride 1, got stride={p.stride}", arg="padding",
                                 hint="use an explicit padding with a strided convolution")
            out_hw = tuple(spatial)
            pads = tuple(dd * (kk - 1) for kk, dd in zip(k, d))  # total per dim
            for n, tot, axis in zip(spatial, pads, ("height", "width")):
                self._check_mode(p, n, (tot + 1) // 2, axis)
        else:
            pd = (0, 0) if p.padding == "valid" else pair(p.padding)
            out_hw = []
            for n, kk, ss, pp, dd, axis in zip(spatial, k, s, pd, d, ("height", "width")):
                self._check_mode(p, n, pp, axis)
                o = conv_out(n, kk, ss, pp, dd)
                if isinstance(o, int) and o < 1:
                    eff = dd * (kk - 1) + 1
                    raise ShapeError(
                        f"output {axis} would be {o}: input {axis} {n} + 2×padding {pp} "
                        f"is smaller than the effective kernel {eff} (kernel {kk}, dilation {dd})",
                        code="shape-nonpositive",
                        hint=f"use a smaller kernel or add padding={(eff - n + 1) // 2}",
                    )
                out_hw.append(o)
            out_hw = tuple(out_hw)
        return [TensorType(x.shape[:-3] + (p.out_channels,) + out_hw, x.dtype)]

    @staticmethod
    def _check_mode(p, n, pad, axis):
        if p.padding_mode == "zeros" or pad == 0 or not isinstance(n, int):
            return
        limit_ok = pad < n if p.padding_mode == "reflect" else pad <= n
        if not limit_ok:
            raise ShapeError(
                f"padding_mode='{p.padding_mode}' with padding {pad} needs input {axis} "
                f"{'>' if p.padding_mode == 'reflect' else '>='} {pad}, got {n}",
                arg="padding", hint="reduce padding or use padding_mode='zeros'")

    def ctor(self, p, ins):
        d = p.model_dump()
        d.pop("in_channels")
        return {"in_channels": ins[0].shape[-3], **d}

    def param_count(self, p, ins):
        c = ins[0].shape[-3]
        kh, kw = pair(p.kernel_size)
        return p.out_channels * (c // p.groups) * kh * kw + (p.out_channels if p.bias else 0)

    def macs(self, p, ins, outs):
        kh, kw = pair(p.kernel_size)
        return numel(outs[0].shape) * (ins[0].shape[-3] // p.groups) * kh * kw

    def label(self, p, ins):
        kh, kw = pair(p.kernel_size)
        parts = [f"{p.out_channels}@{kh}×{kw}"]
        if p.stride != 1:
            parts.append(f"s{p.stride}")
        if p.padding not in (0, "valid"):
            parts.append(f"p{p.padding}")
        if p.groups != 1:
            parts.append(f"g{p.groups}")
        return " ".join(str(x) for x in parts)

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
        Sample({"out_channels": 3, "kernel_size": 3, "in_channels": 3}, ((1, 3, 3, 3),)),
    )
