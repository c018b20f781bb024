"""Activation functions and dropout: shape-preserving modules."""

from __future__ import annotations

from typing import Literal

from graphc.layers.base import FLOAT_DTYPES, Layer, Params, Prob, Sample, ShapeError, TensorType, register
from graphc.shapes import normalize_dim, shape_str


class _Elementwise(Layer):
    category = "activation"
    to_float = False  # integer inputs give float32 (torch.sigmoid, torch.tanh)

    def infer(self, p, ins):
        dtype = ins[0].dtype
        if self.to_float and dtype not in FLOAT_DTYPES:
            dtype = "float32"
        return [TensorType(ins[0].shape, dtype)]


class _Inplace(Params):
    inplace: bool = False


@register
class ReLU(_Elementwise):
    """max(0, x)."""

    torch_name = "nn.ReLU"
    Params = _Inplace
    samples = (Sample({}, ((2, 3),)), Sample({"inplace": True}, ((2, 3, 4, 4),)))


@register
class Tanh(_Elementwise):
    """Hyperbolic tangent."""

    torch_name = "nn.Tanh"
    to_float = True
    samples = (Sample({}, ((2, 7),)),)


@register
class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x))."""

    torch_name = "nn.Sigmoid"
    to_float = True
    samples = (Sample({}, ((2, 1),)),)


@register
class GELU(_Elementwise):
    """Gaussian error linear unit; approximate='tanh' for the tanh form."""

    needs_float = True
    torch_name = "nn.GELU"

    class Params(Params):
        approximate: Literal["none", "tanh"] = "none"

    samples = (Sample({}, ((2, 8),)), Sample({"approximate": "tanh"}, ((2, 3, 4),)))


@register
class LeakyReLU(_Elementwise):
    """max(0, x) + negative_slope × min(0, x)."""

    needs_float = True
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
class Softmax(_Elementwise):
    """Normalizes to probabilities along ``dim``."""

    needs_float = True
    torch_name = "nn.Softmax"
    positional = ("dim",)

    class Params(Params):
        dim: int

    def infer(self, p, ins):
        (x,) = ins
        if normalize_dim(p.dim, max(len(x.shape), 1)) is None:
            raise ShapeError(f"dim={p.dim} is out of range for a {len(x.shape)}-d input "
                             f"{shape_str(x.shape)}", arg="dim",
                             hint=f"use a dim in [{-len(x.shape)}, {len(x.shape) - 1}]",
                             code="shape-rank")
        return [TensorType(x.shape, x.dtype)]

    def label(self, p, ins):
        return f"dim={p.dim}"

    samples = (Sample({"dim": 1}, ((2, 10),)), Sample({"dim": -1}, ((2, 3, 4),)))


@register
class Dropout(_Elementwise):
    """Zeroes elements with probability ``p`` while training."""

    needs_float = True
    torch_name = "nn.Dropout"
    category = "dropout"
    positional = ("p",)
    ctor_positional = 1

    class Params(Params):
        p: Prob = 0.5
        inplace: bool = False

    def label(self, p, ins):
        return f"p={p.p:g}"

    samples = (Sample({}, ((2, 10),)), Sample({"p": 0.1, "inplace": True}, ((2, 3, 4, 4),)))
