"""Initializers: ``weight_init=`` / ``bias_init=`` on a layer, and the model's ``init { }`` section.

Each entry: a parameter schema (graphc.params) with torch.nn.init's argument names and defaults,
and the fewest dimensions the tensor must have (fan-based initializers need 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from graphc.params import Field, Params

Nonlinearity = Literal["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                       "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]


class _None(Params):
    pass


class _Constant(Params):
    val: float


class _Normal(Params):
    mean: float = 0.0
    std: Annotated[float, Field(ge=0)] = 1.0


class _Uniform(Params):
    a: float = 0.0
    b: float = 1.0


class _Gain(Params):
    gain: float = 1.0


class _Kaiming(Params):
    a: float = 0.0
    mode: Literal["fan_in", "fan_out"] = "fan_in"
    nonlinearity: Nonlinearity = "leaky_relu"


class _TruncNormal(Params):
    mean: float = 0.0
    std: Annotated[float, Field(ge=0)] = 1.0
    a: float = -2.0
    b: float = 2.0


@dataclass(frozen=True)
class InitInfo:
    schema: type[Params]
    torch_fn: str
    min_dims: int = 0
    exact_dims: int | None = None


INITIALIZERS: dict[str, InitInfo] = {
    "zeros": InitInfo(_None, "zeros_"),
    "ones": InitInfo(_None, "ones_"),
    "constant": InitInfo(_Constant, "constant_"),
    "eye": InitInfo(_None, "eye_", exact_dims=2),
    "normal": InitInfo(_Normal, "normal_"),
    "uniform": InitInfo(_Uniform, "uniform_"),
    "xavier_normal": InitInfo(_Gain, "xavier_normal_", min_dims=2),
    "xavier_uniform": InitInfo(_Gain, "xavier_uniform_", min_dims=2),
    "kaiming_normal": InitInfo(_Kaiming, "kaiming_normal_", min_dims=2),
    "kaiming_uniform": InitInfo(_Kaiming, "kaiming_uniform_", min_dims=2),
    "orthogonal": InitInfo(_Gain, "orthogonal_", min_dims=2),
    "trunc_normal": InitInfo(_TruncNormal, "trunc_normal_"),
}


@dataclass(frozen=True)
class Init:
    name: str
    params: Params

    @property
    def info(self) -> InitInfo:
        return INITIALIZERS[self.name]

    def call(self, tensor: str) -> str:
        """``nn.init.kaiming_normal_(m.weight, mode='fan_out')``: only literals and ``tensor``."""
        from graphc.emit import pyfmt

        kw = []
        for name, f in type(self.params).model_fields.items():
            v = getattr(self.params, name)
            if f.is_required() or v != f.default:
                kw.append(f"{name}={pyfmt.literal(v)}")
        return f"nn.init.{self.info.torch_fn}({', '.join([tensor] + kw)})"


def weight_rank(layer, kind: str) -> int | None:
    """The number of dims of a layer's ``weight``, where graphc knows it without torch
    (None: unknown here; torch reports a misfit when the model is built)."""
    if layer.category == "conv" and kind[-2:-1].isdigit():
        return 2 + int(kind[-2])
    return {"Linear": 2, "Embedding": 2, "Bilinear": 3, "PReLU": 1, "GroupNorm": 1}.get(
        kind, 1 if kind.startswith(("BatchNorm", "InstanceNorm")) else None)


def _rank_error(init: Init, rank: int | None, what: str) -> str | None:
    info = init.info
    if rank is None:
        return None
    if info.exact_dims is not None and rank != info.exact_dims:
        return f"{init.name} needs a {info.exact_dims}-d tensor, but {what} is {rank}-d"
    if rank < info.min_dims:
        return f"{init.name} needs a tensor of at least {info.min_dims} dims (it uses fan-in/fan-out), " \
               f"but {what} is {rank}-d"
    return None


def check_inits(prog) -> list:
    """Initializers that cannot apply: a missing weight or bias, or the wrong number of dims."""
    from graphc.errors import diag

    out = []
    for node in prog.nodes.values():
        if not node.inits or node.outs is None:
            continue
        for what, (init, span) in node.inits.items():
            has_bias = node.ctor is not None and node.ctor.get("bias", True) is not False
            if not node.n_params or (what == "bias" and not has_bias):
                who = f"{node.kind} '{node.name}'" if node.user_named else node.kind
                out.append(diag(span, "invalid-argument", f"{who} has no {what}"
                                + (" (bias=false)" if what == "bias" and node.n_params else ""),
                                f"remove {what}_init"))
                continue
            rank = 1 if what == "bias" else weight_rank(node.layer, node.kind)
            msg = _rank_error(init, rank, f"{node.kind}'s {what}")
            if msg:
                out.append(diag(span, "invalid-argument", msg, "use normal, uniform, zeros or constant"))
    from graphc.layers.base import LAYERS

    for key, (init, span) in prog.init_rules.items():
        if key == "bias":
            msg = _rank_error(init, 1, "a bias")
        elif key == "weight":
            msg = None  # applies to the weights it fits (2-d or more for fan-based initializers)
        else:
            msg = _rank_error(init, weight_rank(LAYERS[key], key), f"{key}'s weight")
        if msg:
            out.append(diag(span, "invalid-argument", msg, "use normal, uniform, zeros or constant"))
    return out
