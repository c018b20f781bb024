"""Fully connected layers."""

from __future__ import annotations

from graphc.layers.base import (Layer, Params, PosInt, Sample, ShapeError, TensorType,
                                check_given, need_concrete, register)
from graphc.shapes import numel


@register
class Linear(Layer):
    """y = x Aᵀ + b over the last dimension; ``in_features`` is inferred."""

    needs_float = True
    torch_name = "nn.Linear"
    category = "linear"
    positional = ("out_features",)
    ctor_positional = 2

    class Params(Params):
        out_features: PosInt
        in_features: PosInt | None = None
        bias: bool = True

    def infer(self, p, ins):
        (x,) = ins
        if len(x.shape) < 1:
            raise ShapeError("expects an input of at least 1 dimension, got a scalar",
                             code="shape-rank")
        n = need_concrete(x.shape[-1], "in_features (the input's last dimension)")
        check_given(p, "in_features", n)
        return [TensorType(x.shape[:-1] + (p.out_features,), x.dtype)]

    def ctor(self, p, ins):
        return {"in_features": ins[0].shape[-1], "out_features": p.out_features, "bias": p.bias}

    def param_count(self, p, ins):
        n = ins[0].shape[-1]
        return n * p.out_features + (p.out_features if p.bias else 0)

    def macs(self, p, ins, outs):
        return numel(outs[0].shape) * ins[0].shape[-1]

    def label(self, p, ins):
        return f"{ins[0].shape[-1]}→{p.out_features}" + ("" if p.bias else " no bias")

    samples = (
        Sample({"out_features": 10}, ((4, 20),)),
        Sample({"out_features": 3, "bias": False}, ((2, 5, 7),)),
        Sample({"out_features": 1, "in_features": 6}, ((6,),)),
    )
