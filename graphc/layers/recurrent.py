"""Recurrent layers: RNN, LSTM and GRU.

The torch modules return ``(output, h_n)`` (LSTM: ``(output, (h_n, c_n))``);
graphc's ``output`` parameter picks one tensor of that, so a recurrent layer is
one value in a model: the whole sequence, its last time step, or the last
layer's final hidden state (both directions side by side when bidirectional).

An initial state comes as extra leading tensors (``GRU(x, h0, 64)``; LSTM:
``LSTM(x, h0, c0, 64)``), and ``state=true`` returns the final state too:
``out, h = x -> GRU(64, state=true)``, ``out, h, c = x -> LSTM(64, state=true)``.
"""

from __future__ import annotations

from typing import Literal

from graphc.layers.base import (
    Layer,
    NonNegInt,
    Params,
    PosInt,
    Prob,
    Sample,
    ShapeError,
    TensorType,
    check_given,
    decide,
    either_order,
    need_concrete,
    need_rank,
    register,
)
from graphc.shapes import numel, shape_str

Output = Literal["sequence", "last", "hidden"]


class ExplicitBatchFirst(Layer):
    """graphc's batch_first default (True) is not torch's (False): always write it."""

    def ctor_defaults(self):
        out = super().ctor_defaults()
        out.pop("batch_first")
        return out


class _RecurrentParams(Params):
    hidden_size: PosInt
    num_layers: PosInt = 1
    bias: bool = True
    batch_first: bool = True
    dropout: Prob = 0.0
    bidirectional: bool = False
    input_size: PosInt | None = None
    output: Output = "sequence"
    state: bool = False


class _Recurrent(ExplicitBatchFirst):
    needs_float = True
    category = "recurrent"
    positional = ("hidden_size", "num_layers")
    inferred = ("input_size",)
    torch_positional = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                        "bidirectional")
    ctor_positional = 2
    Params = _RecurrentParams
    n_inputs = (1, 2)  # the sequence, then h0
    gates = 1
    h_n = "[1]"  # the h_n part of the module's result
    states = ("h0",)

    def count_outputs(self, p):
        return 1 + (len(self.states) if p is not None and p.state else 0)

    def _state_shapes(self, p, x: TensorType) -> list[tuple]:
        """h0's shape (and c0's): (D·num_layers, N, H_out), without N when unbatched."""
        lead = (self._directions(p) * p.num_layers,)
        if len(x.shape) == 3:
            lead += (x.shape[0 if p.batch_first else 1],)
        return [lead + (self._h_out(p),)] + [lead + (p.hidden_size,)] * (len(self.states) - 1)

    def _check_states(self, p, x: TensorType, given: list[TensorType]) -> None:
        if not given:
            return
        if len(given) != len(self.states):
            raise ShapeError(f"{self.kind} takes an initial state of {len(self.states)} tensors "
                             f"({', '.join(self.states)}), got {len(given)}", code="arity",
                             hint=f"write {self.kind}(x, {', '.join(self.states)}, ...)")
        for name, h, want in zip(self.states, given, self._state_shapes(p, x)):
            if h.dtype != x.dtype:
                raise ShapeError(f"{name} must have the input's dtype {x.dtype}, got {h.dtype}",
                                 code="dtype", hint="convert the state to the input's dtype")
            if len(h.shape) != len(want):
                raise ShapeError(f"for a {len(x.shape)}-d input {shape_str(x.shape)}, {name} must be "
                                 f"{len(want)}-d {shape_str(want)}, got {len(h.shape)}-d "
                                 f"{shape_str(h.shape)}", code="shape-rank",
                                 hint="(num_layers·directions, batch, hidden), without the batch "
                                      "when the input is unbatched")
            if tuple(h.shape) != tuple(want):
                raise ShapeError(f"{name} must be {shape_str(want)} (num_layers·directions, batch, "
                                 f"hidden), got {shape_str(h.shape)}",
                                 hint="the batch of a state is dim 1 whatever batch_first says")

    @either_order
    def infer(self, p, ins):
        x = ins[0]
        need_rank(x, (2, 3), "(B, T, F), (T, B, F) or unbatched (T, F)")
        n = need_concrete(x.shape[-1], "input_size (the input's last dimension)")
        decide(p, input_size=n)
        check_given(p, "input_size", n)
        proj = self._proj(p)
        if proj >= p.hidden_size:
            raise ShapeError(f"proj_size={proj} must be smaller than hidden_size={p.hidden_size}",
                             code="invalid-argument", arg="proj_size",
                             hint=f"use a proj_size below {p.hidden_size}, or 0 for no projection")
        self._check_states(p, x, ins[1:])
        features = self._directions(p) * self._h_out(p)
        if p.state and p.output != "sequence":
            raise ShapeError(f"state=true returns the whole sequence and the final state; "
                             f"output='{p.output}' cannot go with it", code="invalid-argument",
                             arg="output", hint="drop output= (the final state holds each layer's "
                                                "last hidden state)")
        if p.output == "sequence":
            out = TensorType(x.shape[:-1] + (features,), x.dtype)
            return [out] + ([TensorType(s, x.dtype) for s in self._state_shapes(p, x)] if p.state else [])
        time = 1 if p.batch_first and len(x.shape) == 3 else 0
        return [TensorType(x.shape[:time] + x.shape[time + 1:-1] + (features,), x.dtype)]

    @staticmethod
    def _directions(p) -> int:
        return 2 if p.bidirectional else 1

    @staticmethod
    def _proj(p) -> int:
        return getattr(p, "proj_size", 0)  # LSTM only

    def _h_out(self, p) -> int:
        return self._proj(p) or p.hidden_size

    def own_weights(self, ctor):
        """weight_ih_l0, weight_hh_l0, bias_ih_l0, ... (and weight_hr_l0 with proj_size), per layer
        and direction: no single weight or bias for weight_init= or the init section."""
        out = {}
        for k in range(ctor["num_layers"]):
            for sfx in ("", "_reverse") if ctor["bidirectional"] else ("",):
                out |= {f"weight_ih_l{k}{sfx}": 2, f"weight_hh_l{k}{sfx}": 2}
                if ctor["bias"]:
                    out |= {f"bias_ih_l{k}{sfx}": 1, f"bias_hh_l{k}{sfx}": 1}
                if ctor.get("proj_size"):
                    out[f"weight_hr_l{k}{sfx}"] = 2
        return out

    def ctor(self, p, ins):
        d = p.model_dump(exclude={"input_size", "output", "state"})
        return {"input_size": ins[0].shape[-1], **d}

    def unpack(self, p, names):
        return f"{names[0]}, ({', '.join(names[1:])})" if len(names) > 2 else ", ".join(names)

    def forward(self, p, call, args):
        x, states = args[0], args[1:]
        state = "" if not states else f", {states[0]}" if len(states) == 1 else f", ({', '.join(states)})"
        out = f"{call}({x}{state})"
        if p.state:
            return out
        if p.output == "sequence":
            return f"{out}[0]"
        if p.output == "last":
            return f"{out}[0][..., -1, :]" if p.batch_first else f"{out}[0][-1]"
        h = f"{out}{self.h_n}"
        return f"torch.cat({h}[-2:].unbind(), dim=-1)" if p.bidirectional else f"{h}[-1]"

    def _per_step(self, p, n: int, with_bias: bool) -> int:
        """Weights (or MACs) of one time step: every layer, every direction."""
        g, h, h_out, d = self.gates * p.hidden_size, p.hidden_size, self._h_out(p), self._directions(p)
        proj = self._proj(p)
        def one_layer(n_in: int) -> int:
            return d * (g * (n_in + h_out) + (2 * g if with_bias else 0) + proj * h)

        # the first layer reads n features, every later one the d * h_out of the layer below
        return one_layer(n) + (p.num_layers - 1) * one_layer(d * h_out)

    def param_count(self, p, ins):
        return self._per_step(p, ins[0].shape[-1], p.bias)

    def macs(self, p, ins, outs):
        return numel(ins[0].shape[:-1]) * self._per_step(p, ins[0].shape[-1], False)

    def label(self, p, ins):
        parts = [str(p.hidden_size)]
        if p.num_layers > 1:
            parts.append(f"×{p.num_layers}")
        if p.bidirectional:
            parts.append("bi")
        if p.output != "sequence":
            parts.append(f"→{p.output}")
        if p.state:
            parts.append("+state")
        return " ".join(parts)

    def explain(self, p, ins, outs):
        d, h_out = self._directions(p), self._h_out(p)
        return [f"features = directions·H_out = {d}·{h_out} = {d * h_out}"]


@register
class RNN(_Recurrent):
    """Elman RNN (tanh or relu) over (B, T, F); ``output``: "sequence", "last" or "hidden"."""

    torch_name = "nn.RNN"
    torch_positional = ("input_size", "hidden_size", "num_layers", "nonlinearity", "bias", "batch_first",
                        "dropout", "bidirectional")

    class Params(_RecurrentParams):
        nonlinearity: Literal["tanh", "relu"] = "tanh"

    def ctor(self, p, ins):
        d = super().ctor(p, ins)
        return {k: d[k] for k in ("input_size", "hidden_size", "num_layers", "nonlinearity", "bias",
                                  "batch_first", "dropout", "bidirectional")}

    samples = (
        Sample({"hidden_size": 8}, ((2, 5, 3),)),
        Sample({"hidden_size": 4, "num_layers": 2, "nonlinearity": "relu", "dropout": 0.5,
                "output": "last"}, ((2, 5, 3),)),
        Sample({"hidden_size": 4, "batch_first": False, "bidirectional": True, "output": "last"},
               ((5, 2, 3),)),
        Sample({"hidden_size": 4, "num_layers": 3, "bidirectional": True, "output": "hidden",
                "bias": False}, ((2, 5, 3),)),
        Sample({"hidden_size": 6, "input_size": 3, "output": "hidden"}, ((5, 3),)),
        Sample({"hidden_size": 4, "num_layers": 2, "state": True}, ((2, 5, 3), (2, 2, 4))),
        Sample({"hidden_size": 4, "bidirectional": True, "batch_first": False, "state": True},
               ((5, 3, 2), (2, 3, 4))),
        Sample({"hidden_size": 4, "output": "last"}, ((5, 3), (1, 4))),
    )


@register
class LSTM(_Recurrent):
    """Long short-term memory over (B, T, F), h optionally projected to ``proj_size``; ``output`` as RNN."""

    torch_name = "nn.LSTM"
    torch_positional = _Recurrent.torch_positional + ("proj_size",)
    gates = 4
    h_n = "[1][0]"
    n_inputs = (1, 3)  # the sequence, then h0 and c0
    states = ("h0", "c0")

    class Params(_RecurrentParams):
        proj_size: NonNegInt = 0

    samples = (
        Sample({"hidden_size": 8}, ((2, 5, 3),)),
        Sample({"hidden_size": 6, "proj_size": 2, "num_layers": 2, "bidirectional": True},
               ((2, 5, 3),)),
        Sample({"hidden_size": 6, "proj_size": 3, "bidirectional": True, "output": "hidden",
                "num_layers": 2, "dropout": 0.1}, ((2, 4, 3),)),
        Sample({"hidden_size": 4, "batch_first": False, "output": "hidden", "bias": False},
               ((5, 2, 3),)),
        Sample({"hidden_size": 4, "output": "last", "input_size": 3}, ((2, 5, 3),)),
        Sample({"hidden_size": 4, "output": "last", "bidirectional": True}, ((5, 3),)),
        Sample({"hidden_size": 6, "proj_size": 2, "num_layers": 2, "state": True},
               ((3, 5, 4), (2, 3, 2), (2, 3, 6))),
        Sample({"hidden_size": 4, "bidirectional": True, "state": True}, ((5, 3),)),
        Sample({"hidden_size": 4, "output": "hidden"}, ((2, 5, 3), (1, 2, 4), (1, 2, 4))),
    )


@register
class GRU(_Recurrent):
    """Gated recurrent unit over (B, T, F); ``output`` as RNN."""

    torch_name = "nn.GRU"
    gates = 3

    samples = (
        Sample({"hidden_size": 8}, ((2, 5, 3),)),
        Sample({"hidden_size": 4, "num_layers": 2, "bidirectional": True, "dropout": 0.2,
                "output": "hidden"}, ((2, 5, 3),)),
        Sample({"hidden_size": 4, "batch_first": False, "output": "last", "bias": False},
               ((5, 2, 3),)),
        Sample({"hidden_size": 5, "input_size": 2, "output": "hidden", "bidirectional": True},
               ((4, 2),)),
        Sample({"hidden_size": 4, "state": True}, ((2, 5, 3), (1, 2, 4))),
        Sample({"hidden_size": 3, "num_layers": 2, "bidirectional": True, "state": True},
               ((4, 2), (4, 3))),
    )
