"""Activation functions and dropout: shape-preserving modules."""

from __future__ import annotations

import math
from typing import Literal

from graphc.layers.base import (
    FLOAT_DTYPES,
    Layer,
    Params,
    PosInt,
    Prob,
    Sample,
    ShapeError,
    TensorType,
    Weight,
    need_concrete,
    register,
)
from graphc.shapes import normalize_dim, shape_str


def reject_bool(x: TensorType) -> None:
    """For ops that take integers but raise for bool (relu, hardtanh, reflection padding)."""
    if x.dtype == "bool":
        raise ShapeError("takes floating-point or integer inputs, not bool", code="dtype",
                         hint="declare the input as float32 or an integer type")


class _Elementwise(Layer):
    category = "activation"
    to_float = False  # integer and bool inputs give float32 (torch.sigmoid, torch.tanh)
    no_bool = False   # integer inputs work, bool inputs raise (relu, hardtanh)

    def infer(self, p, ins):
        dtype = ins[0].dtype
        if self.no_bool:
            reject_bool(ins[0])
        if self.to_float and dtype not in FLOAT_DTYPES:
            dtype = "float32"
        return [TensorType(ins[0].shape, dtype)]


class _Inplace(Params):
    inplace: bool = False


@register
class ReLU(_Elementwise):
    """max(0, x)."""

    torch_name = "nn.ReLU"
    output_range = (0.0, math.inf)
    no_bool = True
    Params = _Inplace
    samples = (Sample({}, ((2, 3),)), Sample({"inplace": True}, ((2, 3, 4, 4),)),
               Sample({}, ((2, 3),), "int64"))


@register
class ReLU6(_Elementwise):
    """min(max(0, x), 6)."""

    torch_name = "nn.ReLU6"
    output_range = (0.0, 6.0)
    no_bool = True
    Params = _Inplace
    samples = (Sample({}, ((2, 3),)), Sample({"inplace": True}, ((2, 3, 4),), "int64"))


@register
class Hardtanh(_Elementwise):
    """x clamped to [min_val, max_val]."""

    torch_name = "nn.Hardtanh"
    no_bool = True
    positional = ("min_val", "max_val")

    class Params(Params):
        min_val: float = -1.0
        max_val: float = 1.0
        inplace: bool = False

    def infer(self, p, ins):
        if not p.min_val < p.max_val:
            raise ShapeError(f"max_val={p.max_val:g} must be greater than min_val={p.min_val:g}",
                             code="invalid-argument", arg="max_val",
                             hint="give a max_val above min_val")
        return super().infer(p, ins)

    def label(self, p, ins):
        return f"[{p.min_val:g}, {p.max_val:g}]"

    samples = (Sample({}, ((2, 5),)), Sample({"min_val": -2.5, "max_val": 0.5, "inplace": True}, ((3, 4),)),
               Sample({"min_val": 0.0, "max_val": 6.0}, ((2, 3),), "int64"))


@register
class Tanh(_Elementwise):
    """Hyperbolic tangent."""

    torch_name = "nn.Tanh"
    output_range = (-1.0, 1.0)
    to_float = True
    samples = (Sample({}, ((2, 7),)),)


@register
class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x))."""

    torch_name = "nn.Sigmoid"
    output_range = (0.0, 1.0)
    to_float = True
    samples = (Sample({}, ((2, 1),)), Sample({}, ((3,),), "int64"))


class _FloatOnly(_Elementwise):
    needs_float = True


@register
class GELU(_FloatOnly):
    """Gaussian error linear unit; approximate='tanh' for the tanh form."""

    torch_name = "nn.GELU"

    class Params(Params):
        approximate: Literal["none", "tanh"] = "none"

    samples = (Sample({}, ((2, 8),)), Sample({"approximate": "tanh"}, ((2, 3, 4),)))


@register
class LeakyReLU(_FloatOnly):
    """max(0, x) + negative_slope × min(0, x)."""

    torch_name = "nn.LeakyReLU"
    positional = ("negative_slope",)
    ctor_positional = 1

    class Params(Params):
        negative_slope: float = 0.01
        inplace: bool = False

    def label(self, p, ins):
        return f"α={p.negative_slope:g}"

    samples = (Sample({}, ((2, 4),)), Sample({"negative_slope": 0.2, "inplace": True}, ((1, 2, 3, 3),)))


@register
class PReLU(_FloatOnly):
    """LeakyReLU with a learned slope: one, or one per channel (input dimension 1)."""

    torch_name = "nn.PReLU"
    positional = ("num_parameters", "init")
    weights = (Weight("weight", 1),)

    class Params(Params):
        num_parameters: PosInt = 1
        init: float = 0.25

    def infer(self, p, ins):
        (x,) = ins
        if p.num_parameters != 1:
            if len(x.shape) < 2:
                raise ShapeError(f"num_parameters={p.num_parameters} needs channels in input dimension 1, "
                                 f"but the input {shape_str(x.shape)} has {len(x.shape)} dimension(s)",
                                 arg="num_parameters", hint="use num_parameters=1 (one shared slope)")
            c = need_concrete(x.shape[1], "the channel count (input dimension 1)", "num_parameters")
            if c != p.num_parameters:
                raise ShapeError(f"num_parameters={p.num_parameters} must be 1 or the channel count "
                                 f"(input dimension 1), which is {c}", arg="num_parameters",
                                 hint=f"use num_parameters=1 or {c}")
        return super().infer(p, ins)

    def param_count(self, p, ins):
        return p.num_parameters

    def label(self, p, ins):
        return str(p.num_parameters) if p.num_parameters != 1 else ""

    samples = (Sample({}, ((2, 4),)), Sample({"num_parameters": 3, "init": 0.1}, ((2, 3, 5, 5),)),
               Sample({}, ((),)))


@register
class ELU(_FloatOnly):
    """x for x > 0, alpha × (exp(x) − 1) otherwise."""

    torch_name = "nn.ELU"
    positional = ("alpha",)

    class Params(Params):
        alpha: float = 1.0
        inplace: bool = False

    def label(self, p, ins):
        return f"α={p.alpha:g}" if p.alpha != 1.0 else ""

    samples = (Sample({}, ((2, 4),)), Sample({"alpha": 0.5, "inplace": True}, ((2, 3, 4),)))


@register
class SELU(_FloatOnly):
    """Scaled ELU with the self-normalizing constants."""

    torch_name = "nn.SELU"
    Params = _Inplace
    samples = (Sample({}, ((2, 4),)), Sample({"inplace": True}, ((3,),)))


@register
class SiLU(_FloatOnly):
    """x × sigmoid(x) (swish)."""

    torch_name = "nn.SiLU"
    Params = _Inplace
    samples = (Sample({}, ((2, 4),)), Sample({"inplace": True}, ((2, 3, 2, 2),)))


@register
class Mish(_FloatOnly):
    """x × tanh(softplus(x))."""

    torch_name = "nn.Mish"
    Params = _Inplace
    samples = (Sample({}, ((2, 4),)), Sample({"inplace": True}, ((2, 3, 2),)))


@register
class LogSigmoid(_FloatOnly):
    """log(sigmoid(x))."""

    torch_name = "nn.LogSigmoid"
    output_range = (-math.inf, 0.0)
    samples = (Sample({}, ((2, 4),)),)


@register
class Softplus(_FloatOnly):
    """log(1 + exp(beta × x)) / beta; linear above threshold."""

    torch_name = "nn.Softplus"
    output_range = (0.0, math.inf)
    positional = ("beta", "threshold")

    class Params(Params):
        beta: float = 1.0
        threshold: float = 20.0

    def label(self, p, ins):
        return f"β={p.beta:g}" if p.beta != 1.0 else ""

    samples = (Sample({}, ((2, 4),)), Sample({"beta": 2.0, "threshold": 10.0}, ((2, 3, 4),)))


@register
class Hardsigmoid(_FloatOnly):
    """Piecewise-linear sigmoid: clamp(x / 6 + 1 / 2, 0, 1)."""

    torch_name = "nn.Hardsigmoid"
    output_range = (0.0, 1.0)
    Params = _Inplace
    samples = (Sample({}, ((2, 4),)), Sample({"inplace": True}, ((2, 3, 2, 2),)))


@register
class Hardswish(_FloatOnly):
    """x × hardsigmoid(x)."""

    torch_name = "nn.Hardswish"
    Params = _Inplace
    samples = (Sample({}, ((2, 4),)), Sample({"inplace": True}, ((2, 3, 2, 2),)))


class _Softmax(_FloatOnly):
    positional = ("dim",)

    class Params(Params):
        dim: int

    def infer(self, p, ins):
        (x,) = ins
        rank = max(len(x.shape), 1)  # a scalar takes dim 0 or -1
        if normalize_dim(p.dim, rank) is None:
            raise ShapeError(f"dim={p.dim} is out of range for a {len(x.shape)}-d input "
                             f"{shape_str(x.shape)}", arg="dim", hint=f"use a dim in [{-rank}, {rank - 1}]",
                             code="shape-rank")
        return [TensorType(x.shape, x.dtype)]

    def label(self, p, ins):
        return f"dim={p.dim}"


@register
class Softmax(_Softmax):
    """Normalizes to probabilities along ``dim``."""

    torch_name = "nn.Softmax"
    output_range = (0.0, 1.0)
    samples = (Sample({"dim": 1}, ((2, 10),)), Sample({"dim": -1}, ((2, 3, 4),)))


@register
class LogSoftmax(_Softmax):
    """log(softmax(x)) along ``dim``, computed stably."""

    torch_name = "nn.LogSoftmax"
    output_range = (-math.inf, 0.0)
    samples = (Sample({"dim": 1}, ((2, 10),)), Sample({"dim": -3}, ((2, 3, 4),)), Sample({"dim": 0}, ((),)))


class _Dropout(Layer):
    """Zeroing with probability p in (0, 1) needs floats; p = 0 and p = 1 take any dtype."""

    torch_name = "nn.Dropout"
    category = "dropout"
    positional = ("p",)
    ctor_positional = 1
    min_rank = 0

    class Params(Params):
        p: Prob = 0.5
        inplace: bool = False

    def infer(self, p, ins):
        (x,) = ins
        if 0 < p.p < 1:
            if x.dtype not in FLOAT_DTYPES:
                raise ShapeError(f"needs a floating-point input when 0 < p < 1, got {x.dtype}",
                                 code="dtype", hint="declare the input as float32")
            if len(x.shape) < self.min_rank:
                raise ShapeError(f"expects an input of at least {self.min_rank} dimensions (N, C, ...), "
                                 f"got {len(x.shape)}-d {shape_str(x.shape)}", code="shape-rank",
                                 hint="use Dropout for inputs without channels")
        return [TensorType(x.shape, x.dtype)]

    def label(self, p, ins):
        return f"p={p.p:g}"


@register
class Dropout(_Dropout):
    """Zeroes elements with probability ``p`` while training."""

    samples = (Sample({"p": 0.0}, ((2, 10),), "int64"), Sample({}, ((2, 10),)),
               Sample({"p": 0.1, "inplace": True}, ((2, 3, 4, 4),)))


@register
class Dropout2d(_Dropout):
    """Zeroes whole channels (input dimension 1) with probability ``p`` while training."""

    torch_name = "nn.Dropout2d"
    min_rank = 2
    samples = (Sample({"p": 1.0}, ((2, 3, 2, 2),), "int64"), Sample({}, ((2, 3, 4, 4),)),
               Sample({"p": 0.2, "inplace": True}, ((1, 4, 5, 5),)))


@register
class Identity(Layer):
    """Returns its input unchanged."""

    torch_name = "nn.Identity"

    def infer(self, p, ins):
        return [ins[0]]

    samples = (Sample({}, ((2, 3),)), Sample({}, ((4,),), "int64"))
