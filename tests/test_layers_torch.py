"""Every registered layer, every sample, against real torch.

graphc's inferred output shape, parameter count and constructor must agree
with what torch builds and computes.  The registry drives the test: a new
layer is covered by adding its samples, nothing here.
"""

import pytest

torch = pytest.importorskip("torch")

from graphc.layers.base import TensorType, load_all  # noqa: E402
from tests.fuzz.harness import TRAINING, flatten, instantiate, make_tensor  # noqa: E402

REGISTRY = load_all()
CASES = [(kind, i, s) for kind, layer in sorted(REGISTRY.items()) for i, s in enumerate(layer.samples)]
DTYPES = {"float32": torch.float32, "int64": torch.long}


def test_every_layer_has_samples():
    missing = [k for k, layer in REGISTRY.items() if not layer.samples]
    assert not missing, f"layers without samples: {missing}"


def test_samples_cover_every_parameter():
    """Each parameter of each layer is set to a non-default value by some sample."""
    uncovered = []
    for kind, layer in REGISTRY.items():
        for name in layer.Params.model_fields:
            if not any(name in s.params for s in layer.samples):
                uncovered.append(f"{kind}.{name}")
    assert not uncovered, f"parameters no sample sets: {uncovered}"


def _run_torch(layer, params, ctor, inputs):
    """Run the layer the way the generated code does: its constructor, then its forward text."""
    names = [f"t{i}" for i in range(len(inputs))]
    env = dict(zip(names, inputs))
    if layer.torch_name is not None:
        module = instantiate(layer.torch_name, ctor)
        module.train()
        return module, eval(layer.forward(params, "module", names), {"torch": torch, "module": module}, env)
    return None, eval(layer.forward(params, None, names), {"torch": torch, "self": TRAINING}, env)


@pytest.mark.parametrize("kind,i,sample", CASES, ids=[f"{k}-{i}" for k, i, _ in CASES])
def test_layer_matches_torch(kind, i, sample):
    layer = REGISTRY[kind]
    params = layer.Params.model_validate(sample.params)
    ins = [TensorType(tuple(s), d) for s, d in zip(sample.inputs, sample.dtypes())]
    outs = layer.infer(params, ins)
    ctor = layer.ctor(params, ins)
    torch.manual_seed(0)
    tensors = [make_tensor(s, d) for s, d in zip(sample.inputs, sample.dtypes())]
    module, result = _run_torch(layer, params, ctor, tensors)
    results = flatten(result)
    assert [tuple(r.shape) for r in results] == [t.shape for t in outs]
    assert [str(r.dtype).replace("torch.", "") for r in results] == [t.dtype for t in outs]
    want_params = sum(p.numel() for p in module.parameters()) if module is not None else 0
    assert layer.param_count(params, ins) == want_params


@pytest.mark.parametrize("kind,i,sample", CASES, ids=[f"{k}-{i}" for k, i, _ in CASES])
def test_layer_declares_the_weights_torch_makes(kind, i, sample):
    """``own_weights`` (what the init section and weight_init= are checked against) names each
    parameter tensor torch's module owns itself, with its number of dims; a container (Transformer
    layers) owns none itself, and a layer that is not a module owns none."""
    layer = REGISTRY[kind]
    params = layer.Params.model_validate(sample.params)
    ins = [TensorType(tuple(s), d) for s, d in zip(sample.inputs, sample.dtypes())]
    layer.infer(params, ins)
    ctor = layer.ctor(params, ins)
    want = {}
    if layer.torch_name is not None:
        module = instantiate(layer.torch_name, ctor)
        want = {name: p.dim() for name, p in module.named_parameters(recurse=False)}
    assert layer.own_weights(ctor) == want
    static = {w.name: w.rank(None) for w in layer.weights}  # what graphc says of a kind, no instance given
    assert all(static[n] in (None, d) for n, d in want.items() if n in static)
    if layer.torch_name is not None:  # a declared shape (what ``tie`` checks) is torch's
        for name, p in module.named_parameters(recurse=False):
            shape = layer.weight_shape(ctor, name)
            assert shape is None or shape == tuple(p.shape), (name, shape, tuple(p.shape))
        # the buffers (state_dict keys too: what `check --weights` expects), with shapes and dtypes
        declared = {n: (tuple(b.shape(ctor)), b.dtype) for n, b in layer.own_buffers(ctor).items()}
        assert declared == {n: (tuple(b.shape), str(b.dtype).replace("torch.", ""))
                            for n, b in module.named_buffers(recurse=False)}
        # a module with state in submodules says so: its keys are not checked one by one
        nested = [n for n in module.state_dict() if "." in n]
        assert bool(nested) == layer.opaque_state, nested


RANGED = [(kind, i, s) for kind, i, s in CASES if REGISTRY[kind].output_range is not None]


@pytest.mark.parametrize("kind,i,sample", RANGED, ids=[f"{k}-{i}" for k, i, _ in RANGED])
def test_output_range_holds_in_torch(kind, i, sample):
    """A declared output range (what BCELoss and NLLLoss ask of the model's last layer) holds for
    inputs far out in both directions."""
    layer = REGISTRY[kind]
    params = layer.Params.model_validate(sample.params)
    ins = [TensorType(tuple(s), d) for s, d in zip(sample.inputs, sample.dtypes())]
    layer.infer(params, ins)
    torch.manual_seed(0)
    tensors = [torch.randn(s) * 50 if d == "float32" else torch.randint(-100, 100, s)
               for s, d in zip(sample.inputs, sample.dtypes())]
    _, result = _run_torch(layer, params, layer.ctor(params, ins), tensors)
    lo, hi = layer.output_range
    assert lo <= result.min().item() and result.max().item() <= hi


INDEXING = [(kind, i, s) for kind, i, s in CASES if s.dtype == "int64"
            and REGISTRY[kind].id_limit(REGISTRY[kind].Params.model_validate(s.params)) is not None]


@pytest.mark.parametrize("kind,i,sample", INDEXING, ids=[f"{k}-{i}" for k, i, _ in INDEXING])
def test_id_limit_is_where_torch_stops(kind, i, sample):
    """A layer's id limit (what the training script and example_inputs keep ids below): the
    largest id below it works in torch, the limit itself raises."""
    layer = REGISTRY[kind]
    params = layer.Params.model_validate(sample.params)
    ins = [TensorType(tuple(s), sample.dtype) for s in sample.inputs]
    layer.infer(params, ins)
    ctor = layer.ctor(params, ins)
    limit = layer.id_limit(params)
    _run_torch(layer, params, ctor, [torch.full(s, limit - 1) for s in sample.inputs])
    with pytest.raises(IndexError):
        _run_torch(layer, params, ctor, [torch.full(s, limit) for s in sample.inputs])


def test_the_indexing_layers_are_known():
    """Every layer that takes int64 ids and raises on an id too large declares its limit."""
    assert {k for k, _, _ in INDEXING} == {"Embedding"}
