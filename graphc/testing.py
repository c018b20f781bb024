"""Checking a layer against torch, for your own layers (graphc.plugins) as for the built-in ones:
``check_layer("Snake")`` builds every sample of the layer in torch, as the generated code does
(its constructor, then its forward text), and compares what graphc says with what torch does:
the output shapes and dtypes, the parameter count, the parameter tensors the module owns, their
number of dims and, where declared, their shapes.  Needs torch.

    from graphc.testing import check_layer
    import my_layers  # registers Snake

    def test_snake():
        check_layer("Snake")
"""

from __future__ import annotations

from graphc.layers.base import FLOAT_DTYPES, LAYERS, Ctor, Layer, TensorType


def check_layer(layer: str | Layer) -> None:
    """Raise AssertionError listing every disagreement between ``layer`` and torch."""
    import torch

    layer = LAYERS[layer] if isinstance(layer, str) else layer
    if not layer.samples:
        raise AssertionError(f"{layer.kind}: no samples; declare some (graphc.layers.base.Sample)")
    problems: list[str] = []
    for i, s in enumerate(layer.samples):
        where = f"{layer.kind} sample {i} {s.params}"
        params = layer.Params.model_validate(s.params)
        ins = [TensorType(tuple(shape), d) for shape, d in zip(s.inputs, s.dtypes())]
        outs = layer.infer(params, ins)
        ctor = layer.ctor(params, ins)
        torch.manual_seed(0)
        tensors = [_tensor(torch, shape, d) for shape, d in zip(s.inputs, s.dtypes())]
        names = [f"t{k}" for k in range(len(tensors))]
        ns = _namespace(torch, layer)
        module = None
        if layer.torch_name is not None:
            module = _build(ns, layer.torch_name, ctor)
            module.train()
            ns["module"] = module
        else:
            ns["self"] = type("Training", (), {"training": True})()
        result = eval(layer.forward(params, "module" if module is not None else None, names),  # noqa: S307
                      ns, dict(zip(names, tensors)))
        results = _flatten(result)
        got = [tuple(r.shape) for r in results]
        if got != [t.shape for t in outs]:
            problems.append(f"{where}: graphc infers {[t.shape for t in outs]}, torch gives {got}")
        dtypes = [str(r.dtype).replace("torch.", "") for r in results]
        if dtypes != [t.dtype for t in outs]:
            problems.append(f"{where}: graphc infers dtypes {[t.dtype for t in outs]}, torch gives {dtypes}")
        want = sum(p.numel() for p in module.parameters()) if module is not None else 0
        if layer.param_count(params, ins) != want:
            problems.append(f"{where}: graphc counts {layer.param_count(params, ins)} parameters, torch {want}")
        if module is not None:
            own = {n: p.dim() for n, p in module.named_parameters(recurse=False)}
            if layer.own_weights(ctor) != own:
                problems.append(f"{where}: graphc declares the tensors {layer.own_weights(ctor)}, torch has {own}")
            for n, p in module.named_parameters(recurse=False):
                shape = layer.weight_shape(ctor, n)
                if shape is not None and shape != tuple(p.shape):
                    problems.append(f"{where}: graphc says {n} is {shape}, torch's is {tuple(p.shape)}")
    if problems:
        raise AssertionError("\n".join(problems))


def _namespace(torch, layer: Layer) -> dict:
    ns = {"torch": torch, "nn": torch.nn, "F": torch.nn.functional}
    for line in layer.imports:
        exec(line, ns)  # noqa: S102 - the layer's own import statements, as the generated code runs them
    return ns


def _build(ns: dict, func: str, ctor: dict):
    def value(v):
        return _build(ns, v.func, v.kwargs) if isinstance(v, Ctor) else v

    return eval(func, ns)(**{k: value(v) for k, v in ctor.items()})  # noqa: S307 - a layer's torch_name


def _tensor(torch, shape, dtype: str):
    if dtype in FLOAT_DTYPES:
        return torch.randn(shape, dtype=getattr(torch, dtype))
    if dtype == "bool":
        return torch.rand(shape) < 0.3
    return torch.randint(0, 3, shape, dtype=getattr(torch, dtype))


def _flatten(out) -> list:
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flatten(o)]
    return [out]
