"""A call written in PyTorch's positional order (``Conv2d(3, 16, 3)``, ``Linear(32, 10)``,
``BatchNorm2d(32)``) gets PyTorch's meaning, or an error that names both readings, never a
silently different model (issue 19, "The PyTorch habit").

Every acceptance builds the generated model and compares the layer with the module PyTorch
builds from the same arguments (``repr`` and parameter shapes) and runs it; every rejection is
one PyTorch makes: the module PyTorch builds from those arguments fails on that input."""

import inspect

import pytest
import torch
from torch import nn

from graphc.api import compile_source
from graphc.layers.base import load_all


def lit(v) -> str:
    """A Python value as .model text."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, tuple):
        return "(" + ", ".join(map(lit, v)) + ")"
    return repr(v)


def model(kind: str, args: tuple, shapes: list[tuple], extra: str = "") -> str:
    inputs = "".join(f"    input x{i}: [{', '.join(map(str, s))}]\n" for i, s in enumerate(shapes))
    tensors = ", ".join(f"x{i}" for i in range(len(shapes)))
    call = ", ".join([lit(a) for a in args] + ([extra] if extra else []))
    return f"model M {{\n{inputs}    y = layer: {kind}({tensors}, {call})\n    output y\n}}\n"


def torch_module(kind: str, args: tuple):
    m = getattr(nn, kind)(*args)
    if isinstance(m, nn.RNNBase) and len(args) < 5:  # graphc's batch_first default is True
        m = getattr(nn, kind)(*args, batch_first=True)
    return m


def run(kind, args, shapes):
    comp = compile_source(model(kind, args, shapes), "m.model")
    return comp, [(d.severity, d.code) for d in comp.diagnostics]


# kind, PyTorch's positional arguments, input shapes; only PyTorch's order fits these calls
TORCH_ONLY = [
    ("Linear", (32, 10), [(2, 32)]),
    ("Linear", (32, 10, False), [(2, 5, 32)]),
    ("Bilinear", (3, 4, 5), [(2, 3), (2, 4)]),
    ("Conv1d", (4, 8, 3, 2, 1), [(2, 4, 10)]),
    ("Conv2d", (3, 16, 3, 1, 1, 1, 1, False), [(2, 3, 8, 8)]),
    ("Conv3d", (2, 4, 3, 1, 1), [(1, 2, 5, 5, 5)]),
    ("ConvTranspose2d", (4, 2, 3, 2, 1, 1), [(2, 4, 5, 5)]),
    ("BatchNorm1d", (6,), [(4, 6)]),
    ("BatchNorm2d", (32,), [(2, 32, 4, 4)]),
    ("BatchNorm3d", (3, 1e-3, 0.2), [(2, 3, 2, 2, 2)]),
    ("InstanceNorm1d", (6, 1e-5, 0.1, True), [(2, 6, 7)]),
    ("InstanceNorm2d", (4, 1e-5, 0.1, True, True), [(2, 4, 3, 3)]),
    ("GroupNorm", (2, 6), [(2, 6, 4)]),
    ("GroupNorm", (3, 6, 1e-3, False), [(2, 6, 4)]),
    ("LSTM", (12, 20, 2, True, True), [(2, 5, 12)]),
    ("GRU", (12, 20, 1, False, True, 0.0, True), [(2, 5, 12)]),
    ("RNN", (12, 20, 2, "relu"), [(2, 5, 12)]),
]

# both orders fit; the first number is the input's size, so PyTorch's meaning is taken
AMBIGUOUS = [
    ("Conv2d", (3, 16, 3), [(2, 3, 32, 32)]),
    ("Conv1d", (4, 8, 3, 2), [(2, 4, 10)]),
    ("ConvTranspose2d", (4, 2, 3), [(2, 4, 5, 5)]),
    ("LSTM", (12, 20), [(2, 5, 12)]),
    ("GRU", (12, 20), [(2, 5, 12)]),
]


def check_same_as_torch(comp, kind, args, shapes):
    assert comp.ok, comp.diagnostics
    ours = comp.to_module().layer
    ref = torch_module(kind, args)
    assert repr(ours) == repr(ref)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
    xs = [torch.randn(s) for s in shapes]
    ours.load_state_dict(ref.state_dict())
    ours.eval(), ref.eval()
    got, want = ours(*xs), ref(*xs)
    got, want = (got[0], want[0]) if isinstance(ref, nn.RNNBase) else (got, want)
    assert torch.equal(got, want)


@pytest.mark.parametrize(("kind", "args", "shapes"), TORCH_ONLY, ids=lambda v: str(v))
def test_pytorch_order_alone_has_pytorchs_meaning(kind, args, shapes):
    comp, got = run(kind, args, shapes)
    check_same_as_torch(comp, kind, args, shapes)
    assert got == [("note", "torch-order")]
    (d,) = comp.diagnostics
    assert "may be left out" in d.hint


@pytest.mark.parametrize(("kind", "args", "shapes"), AMBIGUOUS, ids=lambda v: str(v))
def test_both_orders_fit_pytorchs_meaning_is_taken_with_a_warning(kind, args, shapes):
    comp, got = run(kind, args, shapes)
    check_same_as_torch(comp, kind, args, shapes)
    assert got == [("warning", "ambiguous-arguments")]
    (d,) = comp.diagnostics
    assert "graphc's order would read" in d.message


def test_the_warnings_fixes_mean_what_they_say():
    """The hint's two calls: the first builds PyTorch's module, the second graphc's reading,
    and neither is ambiguous."""
    comp, _ = run("Conv2d", (3, 16, 3), [(2, 3, 32, 32)])
    (d,) = comp.diagnostics
    assert d.hint == "write Conv2d(16, 3) for PyTorch's meaning (in_channels is inferred), " \
                     "or Conv2d(3, 16, stride=3) for graphc's"
    for call, want in (("Conv2d(x, 16, 3)", nn.Conv2d(3, 16, 3)), ("Conv2d(x, 3, 16, stride=3)", nn.Conv2d(3, 3, 16, 3))):
        c = compile_source(f"model M {{\n    input x: [2, 3, 32, 32]\n    y = layer: {call}\n    output y\n}}\n", "m.model")
        assert c.diagnostics == [] and repr(c.to_module().layer) == repr(want)


@pytest.mark.parametrize(("kind", "args", "shapes"), [
    ("Conv2d", (16, 3, 2, 1), [(2, 3, 32, 32)]),  # graphc: out_channels=16, kernel_size=3, stride=2, padding=1
    ("LSTM", (7, 2), [(2, 5, 12)]),               # graphc: hidden_size=7, num_layers=2
    ("ConvTranspose1d", (8, 3, 2), [(2, 4, 10)]),
])
def test_graphcs_order_where_pytorchs_reading_would_fail(kind, args, shapes):
    """PyTorch's reading of these calls fails on this input (its first number is not the
    input's size), so it cannot be meant: graphc's order reads them, as before, silently."""
    with pytest.raises(RuntimeError):
        torch_module(kind, args)(*[torch.randn(s) for s in shapes])
    comp, got = run(kind, args, shapes)
    assert comp.ok and got == []
    layer = compile_source(model(kind, args, shapes), "m.model").to_module().layer
    names = list(load_all()[kind].positional)
    for name, v in zip(names, args):
        assert getattr(layer, name) in (v, (v,), (v, v))


# PyTorch's order only, with an inferred size the input contradicts: PyTorch fails too
MISMATCHES = [
    ("Linear", (32, 10), [(2, 64)], "in_features"),
    ("Conv2d", (3, 16, 3, 1, 1), [(2, 16, 8, 8)], "in_channels"),
    ("BatchNorm2d", (32,), [(2, 16, 4, 4)], "num_features"),
    ("InstanceNorm1d", (6, 1e-5, 0.1, True), [(2, 5, 7)], "num_features"),
    ("GroupNorm", (2, 8), [(2, 6, 4)], "num_channels"),
    ("Bilinear", (3, 4, 5), [(2, 3), (2, 5)], "in2_features"),
    ("LSTM", (12, 20, 2), [(2, 5, 7)], "input_size"),
]


@pytest.mark.parametrize(("kind", "args", "shapes", "field"), MISMATCHES, ids=lambda v: str(v))
def test_an_inferred_size_the_input_contradicts_is_an_error_torch_makes_too(kind, args, shapes, field):
    with pytest.raises((RuntimeError, ValueError)):
        torch_module(kind, args)(*[torch.randn(s) for s in shapes])
    comp, got = run(kind, args, shapes)
    assert got == [("error", "shape-mismatch")]
    (d,) = comp.diagnostics
    assert "PyTorch's order" in d.message and field in d.message
    assert d.hint.startswith(f"graphc infers {field} from the input: write {kind}(")


def test_the_fix_of_a_mismatch_builds_torchs_module():
    comp, _ = run("Linear", (32, 10), [(2, 64)])
    (d,) = comp.diagnostics
    assert d.hint.endswith("write Linear(10)")
    ok = compile_source("model M {\n    input x: [2, 64]\n    y = layer: Linear(x, 10)\n    output y\n}\n", "m.model")
    assert repr(ok.to_module().layer) == repr(nn.Linear(64, 10))


def test_a_block_used_twice_decides_each_use():
    """The input decides per use: a block whose Conv2d(3, 8, 3) meets 3 channels and then 8."""
    src = ("block B() {\n    input t\n    u = t -> Conv2d(3, 8, 3)\n    output u\n}\n"
           "model M {\n    input x: [2, 3, 16, 16]\n    y = x -> b1: B -> b2: B\n    output y\n}\n")
    comp = compile_source(src, "m.model")
    assert comp.ok
    m = comp.to_module()
    assert repr(m.b1.conv2d) == repr(nn.Conv2d(3, 8, 3))      # PyTorch's reading: 3 channels in
    assert repr(m.b2.conv2d) == repr(nn.Conv2d(8, 3, 8, 3))   # graphc's: 8 channels in
    assert m(torch.randn(2, 3, 16, 16)).shape == nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 3, 8, 3))(
        torch.randn(2, 3, 16, 16)).shape


# ------------------------------------------------ the declarations, against torch
# Layers whose torch constructor takes an inferred size first but that do not declare
# PyTorch's order yet (graphc/layers/attention.py: embed_dim, d_model).
NOT_YET = {"MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer"}


def torch_order(layer) -> list[str]:
    """torch's positional parameters, as far as graphc's schema has them."""
    cls = getattr(nn, layer.torch_name[3:])
    out = []
    for n, p in inspect.signature(cls.__init__).parameters.items():
        if n == "self":
            continue
        if p.kind is not p.POSITIONAL_OR_KEYWORD or n not in layer.Params.model_fields:
            break
        out.append(n)
    return out


def test_declared_orders_are_torchs():
    layers = {k: v for k, v in load_all().items() if v.torch_name and v.torch_name.startswith("nn.")}
    undeclared = set()
    for kind, layer in layers.items():
        order = torch_order(layer)
        if layer.torch_positional is not None and order:  # RNNs take *args: checked below
            assert list(layer.torch_positional) == order, kind
        for name in layer.inferred:
            f = layer.Params.model_fields[name]
            assert not f.is_required() and f.default is None, (kind, name)
        if layer.torch_positional is None and order and order[:len(layer.positional)] != list(layer.positional):
            undeclared.add(kind)
    assert undeclared == NOT_YET


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_recurrent_orders_are_torchs(kind):
    """torch's RNNs take ``*args``: each declared name, given positionally, sets that attribute."""
    layer = load_all()[kind]
    values = {"input_size": 3, "hidden_size": 5, "num_layers": 2, "nonlinearity": "relu", "bias": False,
              "batch_first": True, "dropout": 0.25, "bidirectional": True, "proj_size": 2}
    m = getattr(nn, kind)(*[values[n] for n in layer.torch_positional])
    for n in layer.torch_positional:
        assert getattr(m, n) == values[n], n


def test_pytorchs_reading_that_fails_on_the_input_is_not_taken():
    """``LSTM(8, 2, proj_size=2)`` on 8 features: the first number is the input's, but PyTorch's
    reading (hidden_size=2) fails, as PyTorch does; graphc's (hidden_size=8, num_layers=2) runs."""
    with pytest.raises(ValueError):
        nn.LSTM(8, 2, proj_size=2)
    comp = compile_source(model("LSTM", (8, 2), [(2, 5, 8)], extra="proj_size=2"), "m.model")
    assert comp.ok and comp.diagnostics == []
    ref = nn.LSTM(8, 8, num_layers=2, proj_size=2, batch_first=True)
    assert repr(comp.to_module().layer) == repr(ref)
