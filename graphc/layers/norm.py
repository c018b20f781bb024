"""Normalization layers."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from graphc.layers.base import (Layer, Params, PosInt, Sample, TensorType, check_given, need_concrete,
                                need_rank, register)


class _BatchNorm(Layer):
    needs_float = True
    category = "norm"
    ctor_positional = 1
    ranks: tuple[int, ...] = ()
    layout = ""

    class Params(Params):
        num_features: PosInt | None = None
        eps: Annotated[float, Field(gt=0)] = 1e-5
        momentum: Annotated[float, Field(ge=0, le=1)] | None = 0.1
        affine: bool = True
        track_running_stats: bool = True

    def infer(self, p, ins):
        (x,) = ins
        need_rank(x, self.ranks, self.layout)
        c = need_concrete(x.shape[1], "num_features (input dimension 1)")
        check_given(p, "num_features", c)
        return [TensorType(x.shape, x.dtype)]

    def ctor(self, p, ins):
        d = p.model_dump()
        d["num_features"] = ins[0].shape[1]
        return d

    def param_count(self, p, ins):
        return 2 * ins[0].shape[1] if p.affine else 0

    def label(self, p, ins):
        return str(ins[0].shape[1])


@register
class BatchNorm1d(_BatchNorm):
    """Batch normalization over (N, C) or (N, C, L); ``num_features`` is inferred."""

    torch_name = "nn.BatchNorm1d"
    ranks = (2, 3)
    layout = "(N, C) or (N, C, L)"
    samples = (
        Sample({}, ((4, 10),)),
        Sample({"eps": 1e-3, "momentum": None, "affine": False}, ((2, 3, 5),)),
        Sample({"num_features": 7, "track_running_stats": False}, ((3, 7),)),
    )


@register
class BatchNorm2d(_BatchNorm):
    """Batch normalization over (N, C, H, W); ``num_features`` is inferred."""

    torch_name = "nn.BatchNorm2d"
    ranks = (4,)
    layout = "(N, C, H, W)"
    samples = (
        Sample({}, ((2, 6, 5, 5),)),
        Sample({"momentum": 0.01, "affine": False, "eps": 1e-3}, ((2, 3, 4, 4),)),
        Sample({"num_features": 5, "track_running_stats": False}, ((3, 5, 2, 3),)),
    )
