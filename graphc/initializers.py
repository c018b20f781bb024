"""Where an initializer may apply: ``weight_init=`` / ``bias_init=`` on a layer and the model's
``init { }`` section, checked against the tensors each layer declares it owns (``Layer.weights``).
The initializers themselves are records in graphc/components/initializers.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc.components.base import registry
from graphc.params import Params

#: Every initializer by name (graphc/components/initializers.py).
INITIALIZERS = registry("initializer")


@dataclass(frozen=True)
class Init:
    """An initializer as a model uses it: its record and the checked arguments."""

    name: str
    params: Params

    @property
    def info(self):
        return INITIALIZERS[self.name]

    def call(self, tensor: str) -> str:
        return self.info.call(self.params, tensor)


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
