"""Initializers: ``weight_init=`` / ``bias_init=`` on a layer, and the model's ``init { }`` section.

Each is a function of ``torch.nn.init`` with its argument names and defaults, and the
dims the tensor must have (fan-based initializers need at least 2; ``eye`` exactly 2).
Which tensors a layer owns, and their dims, the layer itself declares
(``Layer.weights``); graphc.initializers checks one against the other.  Samples are
tensor shapes the registry test initializes in torch; a sample with ``rejects`` has
dims torch refuses.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from graphc.components.base import Component, NonNeg, Params, Sample, register

Nonlinearity = Literal["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                       "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]


class Initializer(Component):
    kind = "initializer"
    min_dims: ClassVar[int] = 0
    exact_dims: ClassVar[int | None] = None
    samples = (Sample({}, (3, 4)), Sample({}, (6, 2, 3, 3)), Sample({}, (5,)))

    #: a torch factory that makes a tensor of these values at once (``param``'s ``torch.zeros``)
    factory: ClassVar[str | None] = None
    #: the dtypes torch initializes on the CPU (a ``param`` may be any floating-point dtype)
    dtypes: ClassVar[tuple[str, ...]] = ("float16", "bfloat16", "float32", "float64")

    def call(self, p: Params, tensor: str, kwargs: list[str] | None = None) -> str:
        """``nn.init.kaiming_normal_(m.weight, mode='fan_out')``: only literals and ``tensor``;
        ``kwargs`` (``name=source``) instead of ``p``'s literals, in a class that takes them as
        constructor parameters (graphc.emit.learned)."""
        return f"{self.torch_name}({', '.join([tensor, *(self.kwargs(p) if kwargs is None else kwargs)])})"


class _FanBased(Initializer):
    min_dims = 2
    samples = (Sample({}, (3, 4)), Sample({}, (6, 2, 3, 3)), Sample({}, (5,), rejects=True))


class _Gain(Params):
    gain: float = 1.0


@register
class zeros(Initializer):  # noqa: N801 - the names a .model file writes
    """Every value 0."""

    torch_name = "nn.init.zeros_"
    factory = "torch.zeros"


@register
class ones(Initializer):  # noqa: N801
    """Every value 1."""

    torch_name = "nn.init.ones_"
    factory = "torch.ones"


@register
class constant(Initializer):  # noqa: N801
    """Every value ``val``."""

    torch_name = "nn.init.constant_"
    samples = (Sample({"val": 0.5}, (3, 4)), Sample({"val": -2.0}, (7,)))

    class Params(Params):
        val: float


@register
class eye(Initializer):  # noqa: N801
    """The identity matrix (a 2-d tensor)."""

    torch_name = "nn.init.eye_"
    exact_dims = 2
    samples = (Sample({}, (3, 4)), Sample({}, (2, 3, 3), rejects=True))


@register
class normal(Initializer):  # noqa: N801
    """Normal values of ``mean`` and ``std``."""

    torch_name = "nn.init.normal_"
    samples = (*Initializer.samples, Sample({"mean": 1.0, "std": 0.02}, (4, 4)))

    class Params(Params):
        mean: float = 0.0
        std: NonNeg = 1.0


@register
class uniform(Initializer):  # noqa: N801
    """Uniform values in [a, b)."""

    torch_name = "nn.init.uniform_"
    samples = (*Initializer.samples, Sample({"a": -0.1, "b": 0.1}, (4, 4)))

    class Params(Params):
        a: float = 0.0
        b: float = 1.0

    def problems(self, p):
        if p.a > p.b:  # torch: "uniform_ expects to return a [from, to) range, but found from=2 > to=1"
            return [(f"uniform(a={p.a:g}, b={p.b:g}): a is above b, which torch refuses",
                     f"swap them: uniform(a={p.b:g}, b={p.a:g})")]
        return []


@register
class xavier_normal(_FanBased):  # noqa: N801
    """Glorot's normal initialization, from fan-in and fan-out."""

    torch_name = "nn.init.xavier_normal_"
    Params = _Gain
    samples = (*_FanBased.samples, Sample({"gain": 2.0}, (4, 5)))


@register
class xavier_uniform(_FanBased):  # noqa: N801
    """Glorot's uniform initialization, from fan-in and fan-out."""

    torch_name = "nn.init.xavier_uniform_"
    Params = _Gain
    samples = (*_FanBased.samples, Sample({"gain": 0.5}, (4, 5)))


class _Kaiming(Params):
    a: float = 0.0
    mode: Literal["fan_in", "fan_out"] = "fan_in"
    nonlinearity: Nonlinearity = "leaky_relu"


@register
class kaiming_normal(_FanBased):  # noqa: N801
    """He's normal initialization, from fan-in (or fan-out) and the nonlinearity's gain."""

    torch_name = "nn.init.kaiming_normal_"
    Params = _Kaiming
    samples = (*_FanBased.samples, Sample({"mode": "fan_out", "nonlinearity": "relu"}, (8, 3, 3, 3)),
               Sample({"a": 0.1}, (4, 4)))


@register
class kaiming_uniform(_FanBased):  # noqa: N801
    """He's uniform initialization, from fan-in (or fan-out) and the nonlinearity's gain."""

    torch_name = "nn.init.kaiming_uniform_"
    Params = _Kaiming
    samples = (*_FanBased.samples, Sample({"a": 5 ** 0.5}, (8, 3)),
               Sample({"mode": "fan_out", "nonlinearity": "tanh"}, (8, 3)))


@register
class orthogonal(_FanBased):  # noqa: N801
    """A (semi-)orthogonal matrix, the tensor flattened past its first dim."""

    torch_name = "nn.init.orthogonal_"
    dtypes = ("float32", "float64")  # torch's QR (geqrf) has no float16 or bfloat16 on the CPU
    Params = _Gain
    samples = (*_FanBased.samples, Sample({"gain": 2.0}, (3, 2, 2)))


@register
class trunc_normal(Initializer):  # noqa: N801
    """Normal values of ``mean`` and ``std``, redrawn outside [a, b]."""

    torch_name = "nn.init.trunc_normal_"
    samples = (*Initializer.samples, Sample({"mean": 1.0, "std": 0.02, "a": 0.96, "b": 1.04}, (4, 4)))

    class Params(Params):
        mean: float = 0.0
        std: NonNeg = 1.0
        a: float = -2.0
        b: float = 2.0

    def problems(self, p):
        if p.a > p.b:  # torch raises, as for uniform
            return [(f"trunc_normal(a={p.a:g}, b={p.b:g}): a is above b, so no value lies in [a, b]",
                     f"swap them: trunc_normal(a={p.b:g}, b={p.a:g})")]
        return []
