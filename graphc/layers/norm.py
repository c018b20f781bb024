"""Normalization layers."""

from __future__ import annotations

from typing import Annotated

from graphc.layers.base import (
    Field,
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
    need_rank,
    register,
)
from graphc.shapes import numel, prod_int, shape_str

Momentum = Annotated[float, Field(ge=0, le=1)] | None


def _normalized_shape(ctor: dict) -> tuple[int, ...]:
    ns = ctor["normalized_shape"]
    return (ns,) if isinstance(ns, int) else tuple(ns)


def _normalized_dims(ctor: dict) -> int:
    ns = ctor["normalized_shape"]
    return 1 if isinstance(ns, int) else len(ns)


def _one_value(dims, x: TensorType, what: str) -> None:
    """torch's training-time check: statistics over a single value (the product of ``dims``) fail."""
    if numel(dims) == 1:
        raise ShapeError(f"expects more than 1 {what} when training, got input {shape_str(x.shape)}",
                         hint="use a larger batch or input, or a norm over other dimensions")


class _FeatureNorm(Layer):
    """Batch and instance norm: num_features channels at ``channel_dim``, inferred.  A given
    num_features the module does not use (no affine, no running stats) may differ, as in torch."""

    needs_float = True
    category = "norm"
    mixed_dtypes = ("float16", "bfloat16")
    ctor_positional = 1
    inferred = ("num_features",)
    torch_positional = ("num_features", "eps", "momentum", "affine", "track_running_stats")
    ranks: tuple[int, ...] = ()
    layout = ""

    def channel_dim(self, x: TensorType) -> int:
        return 1

    def infer(self, p, ins):
        (x,) = ins
        need_rank(x, self.ranks, self.layout)
        d = self.channel_dim(x)
        decide(p, num_features=x.shape[d])
        used = p.affine or p.track_running_stats  # else torch ignores num_features
        if not used and p.num_features is None and not isinstance(x.shape[d], int):
            # torch's constructor needs a number it then ignores, and warns at each new call site
            # when it differs from the channels: graphc will not write a made-up one (a deliberate
            # rule, docs/language.md "Rules that need a number")
            raise ShapeError(f"the channels (input dimension {d}) are the symbolic '{x.shape[d]}', but "
                             f"{self.torch_name}'s constructor needs num_features as a number (unused "
                             f"with affine=false and track_running_stats=false)", code="shape-symbolic",
                             hint="give the channels a number in the input declaration, or "
                                  "num_features=N with the number you expect (torch warns when the "
                                  "input's channels differ)")
        if used or p.num_features is None:
            c = need_concrete(x.shape[d], f"num_features (input dimension {d})")
            if used:
                check_given(p, "num_features", c)
        self.check_values(x)
        return [TensorType(x.shape, x.dtype)]

    def check_values(self, x: TensorType) -> None:
        _one_value(x.shape[:1] + x.shape[2:], x, "value per channel")

    weights = (Weight("weight", 1, ("affine",), shape=lambda c: (c["num_features"],)),
               Weight("bias", 1, ("affine", "bias"), shape=lambda c: (c["num_features"],)))
    buffers = (Weight("running_mean", 1, ("track_running_stats",), shape=lambda c: (c["num_features"],)),
               Weight("running_var", 1, ("track_running_stats",), shape=lambda c: (c["num_features"],)),
               Weight("num_batches_tracked", 0, ("track_running_stats",), shape=lambda c: (), dtype="int64"))

    def ctor(self, p, ins):
        d = p.model_dump()
        d["num_features"] = p.num_features or ins[0].shape[self.channel_dim(ins[0])]
        return d

    def param_count(self, p, ins):
        return (2 if p.bias else 1) * ins[0].shape[self.channel_dim(ins[0])] if p.affine else 0

    def label(self, p, ins):
        return str(ins[0].shape[self.channel_dim(ins[0])])


class _BatchNorm(_FeatureNorm):
    class Params(Params):
        num_features: PosInt | None = None
        eps: Annotated[float, Field(gt=0)] = 1e-5
        momentum: Momentum = 0.1
        affine: bool = True
        track_running_stats: bool = True
        bias: bool = True


@register
class BatchNorm1d(_BatchNorm):
    """Batch normalization over (N, C) or (N, C, L); ``num_features`` is inferred."""

    torch_name = "nn.BatchNorm1d"
    ranks = (2, 3)
    layout = "(N, C) or (N, C, L)"
    samples = (
        Sample({}, ((4, 10),)),
        Sample({"eps": 1e-3, "momentum": None, "affine": False}, ((2, 3, 5),)),
        Sample({"num_features": 7, "track_running_stats": False, "bias": False}, ((3, 7),)),
        Sample({"num_features": 5, "affine": False, "track_running_stats": False}, ((3, 7),)),
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
        Sample({"num_features": 5, "track_running_stats": False, "bias": False}, ((3, 5, 2, 3),)),
    )


@register
class BatchNorm3d(_BatchNorm):
    """Batch normalization over (N, C, D, H, W); ``num_features`` is inferred."""

    torch_name = "nn.BatchNorm3d"
    ranks = (5,)
    layout = "(N, C, D, H, W)"
    samples = (
        Sample({}, ((2, 4, 3, 3, 3),)),
        Sample({"momentum": None, "affine": False, "eps": 1e-3, "track_running_stats": False},
               ((1, 2, 1, 1, 2),)),
        Sample({"num_features": 3, "bias": False}, ((2, 3, 1, 2, 2),)),
    )


class _InstanceNorm(_FeatureNorm):
    spatial = 1

    class Params(Params):
        num_features: PosInt | None = None
        eps: float = 1e-5
        momentum: Momentum = 0.1
        affine: bool = False
        track_running_stats: bool = False
        bias: bool = True

    def channel_dim(self, x):
        return len(x.shape) - 1 - self.spatial

    def check_values(self, x):
        _one_value(x.shape[-self.spatial:], x, "spatial element")


@register
class InstanceNorm1d(_InstanceNorm):
    """Instance normalization over (N, C, L) or unbatched (C, L); ``num_features`` is inferred."""

    torch_name = "nn.InstanceNorm1d"
    ranks = (2, 3)
    layout = "(N, C, L) or (C, L)"
    samples = (
        Sample({}, ((2, 3, 5),)),
        Sample({"affine": True, "eps": 1e-3, "momentum": 0.2}, ((4, 6),)),
        Sample({"num_features": 3, "track_running_stats": True, "momentum": None}, ((2, 3, 4),)),
        Sample({"num_features": 9, "affine": True, "bias": False}, ((1, 9, 2),)),
    )


@register
class InstanceNorm2d(_InstanceNorm):
    """Instance normalization over (N, C, H, W) or unbatched (C, H, W); ``num_features`` is inferred."""

    torch_name = "nn.InstanceNorm2d"
    ranks = (3, 4)
    layout = "(N, C, H, W) or (C, H, W)"
    spatial = 2
    samples = (
        Sample({}, ((2, 3, 4, 4),)),
        Sample({"affine": True, "track_running_stats": True, "bias": False}, ((3, 1, 2),)),
        Sample({"num_features": 2, "eps": 1e-3, "momentum": None, "affine": True}, ((1, 2, 2, 1),)),
    )


@register
class LayerNorm(Layer):
    """Normalizes over the trailing ``normalized_shape`` dims (default: the last dim, inferred)."""

    needs_float = True
    category = "norm"
    mixed_dtypes = ("float16", "bfloat16")
    positional = ("normalized_shape", "eps", "elementwise_affine", "bias")  # PyTorch's order
    ctor_positional = 1
    torch_name = "nn.LayerNorm"

    class Params(Params):
        normalized_shape: PosInt | Annotated[tuple[PosInt, ...], Field(min_length=1)] | None = None
        eps: float = 1e-5
        elementwise_affine: bool = True
        bias: bool = True

    @staticmethod
    def _normalized(p, x: TensorType) -> tuple[int, ...]:
        if p.normalized_shape is None:
            return (x.shape[-1],)
        return (p.normalized_shape,) if isinstance(p.normalized_shape, int) else p.normalized_shape

    def infer(self, p, ins):
        (x,) = ins
        if p.normalized_shape is None:
            if not x.shape:
                raise ShapeError("expects an input of at least 1 dimension, got a scalar", code="shape-rank")
            need_concrete(x.shape[-1], "normalized_shape (the input's last dimension)")
        ns = self._normalized(p, x)
        tail = x.shape[len(x.shape) - len(ns):] if len(ns) <= len(x.shape) else None
        if tail is not None:
            for d in tail:
                need_concrete(d, "an input dimension that normalized_shape must match", "normalized_shape")
        if tail != ns:
            raise ShapeError(f"normalized_shape={shape_str(ns)} must equal the input's last {len(ns)} "
                             f"dimension(s), but the input is {shape_str(x.shape)}", arg="normalized_shape",
                             hint="leave normalized_shape out to normalize over the last dimension")
        return [TensorType(x.shape, x.dtype)]

    weights = (Weight("weight", _normalized_dims, ("elementwise_affine",), shape=_normalized_shape),
               Weight("bias", _normalized_dims, ("elementwise_affine", "bias"), shape=_normalized_shape))

    def ctor(self, p, ins):
        d = p.model_dump()
        d["normalized_shape"] = p.normalized_shape or ins[0].shape[-1]
        return d

    def param_count(self, p, ins):
        return (2 if p.bias else 1) * prod_int(self._normalized(p, ins[0])) if p.elementwise_affine else 0

    def label(self, p, ins):
        ns = self._normalized(p, ins[0])
        return str(ns[0]) if len(ns) == 1 else shape_str(ns)

    samples = (
        Sample({}, ((2, 5, 8),)),
        Sample({"normalized_shape": (3, 4), "eps": 1e-6, "bias": False}, ((2, 3, 4),)),
        Sample({"normalized_shape": 6, "elementwise_affine": False}, ((6,),)),
    )


@register
class GroupNorm(Layer):
    """Normalizes over groups of channels (input dimension 1); ``num_channels`` is inferred."""

    needs_float = True
    category = "norm"
    mixed_dtypes = ("float16", "bfloat16")
    positional = ("num_groups",)
    inferred = ("num_channels",)
    torch_positional = ("num_groups", "num_channels", "eps", "affine")
    ctor_positional = 2
    torch_name = "nn.GroupNorm"

    class Params(Params):
        num_groups: PosInt
        num_channels: PosInt | None = None
        eps: float = 1e-5
        affine: bool = True
        bias: bool = True

    def infer(self, p, ins):
        (x,) = ins
        if len(x.shape) < 2:
            raise ShapeError(f"expects an input of at least 2 dimensions (N, C, ...), got "
                             f"{len(x.shape)}-d {shape_str(x.shape)}", code="shape-rank",
                             hint="add a batch dimension first")
        c = need_concrete(x.shape[1], "num_channels (input dimension 1)")
        decide(p, num_channels=c)
        n = p.num_channels or c
        g = p.num_groups
        if n % g:
            raise ShapeError(f"num_channels {n} is not divisible by num_groups={g}", arg="num_groups",
                             hint="num_groups must divide the channel count")
        if c % g:
            raise ShapeError(f"the input's {c} channels are not divisible by num_groups={g}",
                             arg="num_groups", hint="num_groups must divide the channel count")
        if p.affine:
            check_given(p, "num_channels", c)
        if numel((x.shape[0] * c // g,) + x.shape[2:]) == 1:
            raise ShapeError(f"expects more than 1 value per group, got input {shape_str(x.shape)} "
                             f"with num_groups={g}", arg="num_groups",
                             hint="use fewer groups or a larger input")
        return [TensorType(x.shape, x.dtype)]

    weights = (Weight("weight", 1, ("affine",), shape=lambda c: (c["num_channels"],)),
               Weight("bias", 1, ("affine", "bias"), shape=lambda c: (c["num_channels"],)))

    def ctor(self, p, ins):
        return {"num_groups": p.num_groups, "num_channels": p.num_channels or ins[0].shape[1],
                "eps": p.eps, "affine": p.affine, "bias": p.bias}

    def param_count(self, p, ins):
        return (2 if p.bias else 1) * ins[0].shape[1] if p.affine else 0

    def label(self, p, ins):
        return f"{p.num_groups}g {ins[0].shape[1]}"

    samples = (
        Sample({"num_groups": 2}, ((2, 4, 5, 5),)),
        Sample({"num_groups": 3, "num_channels": 6, "eps": 1e-3, "bias": False}, ((1, 6, 4),)),
        Sample({"num_groups": 1, "affine": False}, ((3, 2),)),
        Sample({"num_groups": 2, "num_channels": 4, "affine": False}, ((2, 6, 3),)),
    )
