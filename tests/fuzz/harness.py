"""Differential checking of one layer configuration: graphc against real torch.

``compare(kind, params, shapes, dtype)`` runs graphc's validation and shape rule
and torch's module (or tensor expression) on the same configuration and says
whether they agree:

- both accept, with equal output shapes, dtypes and parameter counts;
- or both reject (the parameter schema or the shape rule in graphc; an exception in torch).

Configurations that graphc's parameter schema rejects are compared too: torch
is then built from the raw arguments where the layer's constructor can be
derived, so "graphc rejects, torch accepts" is caught as a disagreement.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from graphc.layers.base import FLOAT_DTYPES, ShapeError, TensorType, load_all
from graphc.params import ParamError

REG = load_all()


@dataclass
class Outcome:
    ok: bool                 # graphc and torch agree
    graphc: object           # list of (shape, dtype) or an error text
    torch: object
    accepted: bool           # both accepted (a shape comparison happened)

    def __str__(self) -> str:
        return f"graphc={self.graphc!r} torch={self.torch!r}"


def dtypes_of(dtype, n: int) -> list[str]:
    """One dtype for every input, or one each (a mask is "bool")."""
    return [dtype] * n if isinstance(dtype, str) else list(dtype)


def make_tensor(shape, dtype: str, scale: float = 1.0):
    tdt = getattr(torch, dtype)
    if dtype in FLOAT_DTYPES:
        return torch.randn(shape, dtype=tdt) * scale
    if dtype == "bool":
        return torch.rand(shape) < 0.3
    return torch.randint(0, 3, shape, dtype=tdt)


def flatten(out) -> list:
    """The tensors of a forward result: LSTM's (output, (h_n, c_n)) gives three."""
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flatten(o)]
    return [out]


# what a module-less forward text may read besides torch: ``self.training`` (StochasticDepth)
TRAINING = type("Training", (), {"training": True})()


def _torch_run(layer, params, ctor, shapes, dtype):
    dts = dtypes_of(dtype, len(shapes))
    tdt = getattr(torch, dts[0])
    tensors = [make_tensor(s, d) for s, d in zip(shapes, dts)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if layer.torch_name is None:
            names = [f"t{i}" for i in range(len(tensors))]
            out = eval(layer.forward(params, None, names), {"torch": torch, "self": TRAINING},
                       dict(zip(names, tensors)))
            n_params = 0
        else:
            module = instantiate(layer.torch_name, ctor)
            if dts[0] in FLOAT_DTYPES and dts[0] != "float32":
                module = module.to(tdt)
            module.train()
            call = layer.forward(params, "module", [f"t{i}" for i in range(len(tensors))])
            out = eval(call, {"torch": torch, "module": module},
                       {f"t{i}": t for i, t in enumerate(tensors)})
            n_params = sum(p.numel() for p in module.parameters())
    outs = flatten(out)
    return [(tuple(o.shape), str(o.dtype).replace("torch.", "")) for o in outs], n_params


def instantiate(torch_name: str, ctor: dict):
    """Build ``nn.X(**ctor)``; nested constructor values (Ctor) are built first."""
    from graphc.layers.base import Ctor

    def build(v):
        if isinstance(v, Ctor):
            return instantiate(v.func, v.kwargs)
        return v

    cls = getattr(torch.nn, torch_name.split(".", 1)[1])
    return cls(**{k: build(v) for k, v in ctor.items()})


def _as_written(ctor: dict, params: dict) -> dict:
    from graphc.layers.base import Ctor

    out = {}
    for k, v in ctor.items():
        if isinstance(v, Ctor):
            v = Ctor(v.func, _as_written(v.kwargs, params))
        out[k] = params[k] if k in params else v
    return out


def compare(kind: str, params: dict, shapes: list[tuple[int, ...]], dtype: str = "float32") -> Outcome:
    layer = REG[kind]
    try:
        p = layer.Params.model_validate(params)
    except ParamError as e:
        return Outcome(True, f"invalid params: {e.errors()[0]['msg']}", "not run", False)
    dts = dtypes_of(dtype, len(shapes))
    ins = [TensorType(tuple(s), d) for s, d in zip(shapes, dts)]
    try:
        if layer.needs_float and dts and dts[0] not in FLOAT_DTYPES:
            raise ShapeError(f"needs a floating-point input, got {dts[0]}")
        outs = layer.infer(p, ins)
        g = [(tuple(o.shape), o.dtype) for o in outs]
        g_params = layer.param_count(p, ins)
        ctor = layer.ctor(p, ins)
    except ShapeError as e:
        g, g_params, ctor = f"error: {e.message}", None, None
    if ctor is None:
        # graphc rejected the shapes: torch must reject them too.
        try:
            ctor = layer.ctor(p, ins)
        except Exception:
            ctor = None
    if ctor is not None:
        # what the user wrote reaches torch as written (a given in_features is not
        # replaced by the inferred one), so torch can disagree with graphc's check
        ctor = _as_written(ctor, params)
    try:
        if ctor is None and layer.torch_name is not None:
            raise RuntimeError("no constructor")
        t, t_params = _torch_run(layer, p, ctor, shapes, dtype)
    except Exception as e:  # torch rejects
        t, t_params = f"error: {type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}", None
    if isinstance(g, str) or isinstance(t, str):
        agree = isinstance(g, str) and isinstance(t, str)
        if isinstance(g, str) and not isinstance(t, str) and ctor is None:
            agree = False
        return Outcome(agree, g, t, False)
    return Outcome(g == t and g_params == t_params, (g, g_params), (t, t_params), True)
