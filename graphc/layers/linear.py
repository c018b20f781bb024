"""Fully connected layers."""

from __future__ import annotations

from graphc.layers.base import (
    Layer,
    Params,
    PosInt,
    Sample,
    ShapeError,
    TensorType,
    Weight,
    check_given,
    decide,
    need_concrete,
    register,
)
from graphc.shapes import numel, shape_str


@register
class Linear(Layer):
    """y = x Aᵀ + b over the last dimension; ``in_features`` is inferred."""

    needs_float = True
    torch_name = "nn.Linear"
    category = "linear"
    positional = ("out_features",)
    inferred = ("in_features",)
    torch_positional = ("in_features", "out_features", "bias")
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
        decide(p, in_features=n)
        check_given(p, "in_features", n)
        return [TensorType(x.shape[:-1] + (p.out_features,), x.dtype)]

    weights = (Weight("weight", 2, shape=lambda c: (c["out_features"], c["in_features"])),
               Weight("bias", 1, ("bias",), shape=lambda c: (c["out_features"],)))

    def ctor(self, p, ins):
        return {"in_features": ins[0].shape[-1], "out_features": p.out_features, "bias": p.bias}

    def param_count(self, p, ins):
        n = ins[0].shape[-1]
        return n * p.out_features + (p.out_features if p.bias else 0)

    def macs(self, p, ins, outs):
        return numel(outs[0].shape) * ins[0].shape[-1]

    def label(self, p, ins):
        return f"{ins[0].shape[-1]}→{p.out_features}" + ("" if p.bias else " no bias")

    def explain(self, p, ins, outs):
        n = ins[0].shape[-1]
        bias = f" + {p.out_features}" if p.bias else ""
        return [f"in_features = {n} (the input's last dim)", f"params = {n}·{p.out_features}{bias}"]

    samples = (
        Sample({"out_features": 10}, ((4, 20),)),
        Sample({"out_features": 3, "bias": False}, ((2, 5, 7),)),
        Sample({"out_features": 1, "in_features": 6}, ((6,),)),
    )


@register
class Bilinear(Layer):
    """y = x1ᵀ A x2 + b over the last dimensions of two inputs; in1/in2_features are inferred."""

    needs_float = True
    torch_name = "nn.Bilinear"
    category = "linear"
    n_inputs = (2, 2)
    positional = ("out_features",)
    inferred = ("in1_features", "in2_features")
    torch_positional = ("in1_features", "in2_features", "out_features", "bias")
    ctor_positional = 3

    class Params(Params):
        out_features: PosInt
        in1_features: PosInt | None = None
        in2_features: PosInt | None = None
        bias: bool = True

    def infer(self, p, ins):
        x1, x2 = ins
        if x1.dtype != x2.dtype:
            raise ShapeError(f"needs inputs of one dtype, got {x1.dtype} and {x2.dtype}", code="dtype",
                             hint="declare both inputs with the same dtype")
        if len(x1.shape) != len(x2.shape) or not x1.shape:
            raise ShapeError(f"needs two inputs of the same rank, at least 1, got {shape_str(x1.shape)} "
                             f"and {shape_str(x2.shape)}", code="shape-rank")
        for i, (a, b) in enumerate(zip(x1.shape[:-1], x2.shape[:-1])):
            if a != b:
                raise ShapeError(f"needs equal leading dimensions, but dimension {i} is {a} and {b}: "
                                 f"{shape_str(x1.shape)} and {shape_str(x2.shape)}",
                                 hint="only the last dimensions may differ; they need not broadcast")
        sizes = {name: need_concrete(x.shape[-1], f"{name} (that input's last dimension)")
                 for name, x in (("in1_features", x1), ("in2_features", x2))}
        decide(p, **sizes)
        for name, n in sizes.items():
            check_given(p, name, n)
        return [TensorType(x1.shape[:-1] + (p.out_features,), x1.dtype)]

    weights = (Weight("weight", 3), Weight("bias", 1, ("bias",)))

    def ctor(self, p, ins):
        return {"in1_features": ins[0].shape[-1], "in2_features": ins[1].shape[-1],
                "out_features": p.out_features, "bias": p.bias}

    def param_count(self, p, ins):
        return ins[0].shape[-1] * ins[1].shape[-1] * p.out_features + (p.out_features if p.bias else 0)

    def macs(self, p, ins, outs):
        return numel(outs[0].shape) * ins[0].shape[-1] * ins[1].shape[-1]

    def label(self, p, ins):
        return f"{ins[0].shape[-1]}×{ins[1].shape[-1]}→{p.out_features}" + ("" if p.bias else " no bias")

    samples = (
        Sample({"out_features": 5}, ((2, 3), (2, 4))),
        Sample({"out_features": 2, "bias": False, "in1_features": 3, "in2_features": 3}, ((2, 4, 3), (2, 4, 3))),
        Sample({"out_features": 1}, ((6,), (2,))),
    )
