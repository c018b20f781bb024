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
        from graphc import pyfmt

        kw = []
        for name, f in type(self.params).model_fields.items():
            v = getattr(self.params, name)
            if f.is_required() or v != f.default:
                kw.append(f"{name}={pyfmt.literal(v)}")
        return f"nn.init.{self.info.torch_fn}({', '.join([tensor] + kw)})"


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


def _misfit(init: Init, layer, ctor: dict | None, what: str, who: str, remove: str):
    """Why ``init`` cannot set ``what`` of a layer, from the tensors the layer declares it owns
    (``Layer.weights``; ``ctor`` None: no instance, what holds for any): (message, hint) or None."""
    decl = next((w for w in layer.weights if w.name == what), None)
    if decl is None:
        owned = layer.own_weights(ctor) if ctor is not None else {}
        if owned:  # LSTM, MultiheadAttention: tensors of other names
            return (f"{who} has no {what}: its tensors are {', '.join(owned)}",
                    "initialize them in your own code after building the model")
        return f"{who} has no {what}", remove
    off = None if ctor is None else decl.missing_because(ctor)
    if off:
        return f"{who} has no {what} ({off}=false)", remove
    msg = _rank_error(init, decl.rank(ctor), f"the {what} of {who}" if " " in who else f"{who}'s {what}")
    return (msg, "use normal, uniform, zeros or constant") if msg else None


def _who(node) -> str:
    return f"{node.kind} '{node.name}'" if node.user_named else node.kind


def check_inits(prog) -> list:
    """Initializers that cannot apply, each layer asked what it owns (``Layer.weights``): a weight
    or bias the layer lacks, or fewer dims than the initializer needs."""
    from graphc.errors import diag
    from graphc.layers.base import LAYERS

    out = []
    for node in prog.nodes.values():
        if not node.inits or node.outs is None:
            continue
        for what, (init, span) in node.inits.items():
            problem = _misfit(init, node.layer, node.ctor, what, _who(node), f"remove {what}_init")
            if problem:
                out.append(diag(span, "invalid-argument", *problem))
    for key, (init, span) in prog.init_rules.items():
        if key in ("weight", "bias"):  # applies to the tensors it fits (2-d or more for fan-based ones)
            msg = _rank_error(init, 1, "a bias") if key == "bias" else None
            problem = (msg, "use normal, uniform, zeros or constant") if msg else None
        else:
            uses = [n for n in prog.nodes.values() if n.kind == key and n.outs is not None]
            lacking = [n for n in uses if "weight" not in n.layer.own_weights(n.ctor)]
            hint = "remove the rule" if len(lacking) == len(uses) else \
                "the rule would fail on it: remove the rule, or give the others weight_init="
            # each instance as built, or (the kind unused) what holds for any instance
            problems = [_misfit(init, n.layer, n.ctor, "weight", _who(n), hint) for n in uses]
            problems = problems or [_misfit(init, LAYERS[key], None, "weight", key, hint)]
            problem = next((p for p in problems if p), None)
        if problem:
            out.append(diag(span, "invalid-argument", *problem))
    return out
