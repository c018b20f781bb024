"""Stochastic depth (Huang et al., "Deep networks with stochastic depth"), exact to torchvision's
``torchvision.ops.StochasticDepth``: in training, each sample ("row") or the whole batch ("batch")
is zeroed with probability p and the survivors are scaled by 1/(1 - p); in evaluation the input
passes unchanged.  The generated code is plain torch (no torchvision import)."""

from __future__ import annotations

from typing import Literal

from graphc import pyfmt
from graphc.layers.base import Layer, Params, Prob, Sample, ShapeError, TensorType, register


@register
class StochasticDepth(Layer):
    """torchvision's StochasticDepth(p, mode): drop a residual branch per sample ("row") or per batch
    ("batch") in training; no module, the forward line is a tensor expression reading self.training."""

    category = "dropout"
    needs_float = True
    positional = ("p", "mode")

    class Params(Params):
        p: Prob
        mode: Literal["row", "batch"]

    def infer(self, p, ins):
        (x,) = ins
        if p.mode == "row" and not x.shape:
            raise ShapeError("mode='row' drops whole samples along dim 0: the input has no dims",
                             code="shape-rank", hint="use mode='batch' for a 0-d tensor")
        return [TensorType(x.shape, x.dtype)]

    def forward(self, p, call, args):
        # torchvision: identity when not training or p == 0; noise = empty(size).bernoulli_(1 - p),
        # divided by 1 - p when that is positive; input * noise
        (x,) = args
        if p.p == 0.0:
            return x
        survival = 1.0 - p.p
        size = f"({x}.shape[0],) + (1,) * ({x}.ndim - 1)" if p.mode == "row" else f"(1,) * {x}.ndim"
        noise = (f"torch.empty({size}, dtype={x}.dtype, device={x}.device)"
                 f".bernoulli_({pyfmt.literal(survival)})")
        if survival > 0.0:
            noise += f".div_({pyfmt.literal(survival)})"
        return f"{x} * {noise} if self.training else {x}"

    def label(self, p, ins):
        return f"p={p.p} {p.mode}"

    samples = (
        Sample({"p": 0.2, "mode": "row"}, ((4, 3, 5, 5),)),
        Sample({"p": 0.5, "mode": "batch"}, ((4, 6),)),
        Sample({"p": 0.0, "mode": "row"}, ((3, 2),)),
        Sample({"p": 1.0, "mode": "batch"}, ((2, 3, 4),)),
    )
