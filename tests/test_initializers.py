"""Initializers: per layer (weight_init=, bias_init=) and the model's init section."""

from pathlib import Path

import pytest
from conftest import import_generated

from graphc.api import compile_source

torch = pytest.importorskip("torch")

SRC = (Path("/dev/null"), """
block Blk(c) {
    input x
    y = x -> conv: Conv2d(c, 3, padding=1, weight_init=orthogonal(gain=2.0)) -> ReLU
    output y
}
model Inits {
    input image: [B, 3, 8, 8]
    y = image -> stem: Conv2d(8, 3, padding=1, bias_init=constant(0.5))
        -> bn: BatchNorm2d -> body: Blk(8) * 2 -> Flatten
        -> fc: Linear(10, weight_init=zeros(), bias_init=ones())
    output y
    init {
        Conv2d = kaiming_normal(mode="fan_out", nonlinearity="relu")
        BatchNorm2d = constant(2.0)
        bias = zeros()
    }
}
""")[1]


def test_initializers_are_applied(tmp_path):
    comp = compile_source(SRC, "inits.model")
    assert comp.ok, comp.diagnostics
    path = tmp_path / "inits.py"
    path.write_text(comp.python_source())
    m = import_generated(path, "gen_inits").Inits()
    assert torch.all(m.stem.bias == 0.5)
    assert torch.all(m.fc.weight == 0) and torch.all(m.fc.bias == 1)
    assert torch.all(m.bn.weight == 2.0) and torch.all(m.bn.bias == 0)
    assert torch.all(m.body[0].conv.bias == 0)
    w = m.body[1].conv.weight.reshape(8, -1)
    assert torch.allclose(w @ w.T, 4.0 * torch.eye(8), atol=1e-4)  # orthogonal with gain 2
    # kaiming_normal(fan_out, relu): std = sqrt(2 / fan_out) for the stem (fan_out = 8*3*3)
    assert abs(m.stem.weight.std().item() - (2 / 72) ** 0.5) < 0.05


@pytest.mark.parametrize("snippet,message", [
    ("Linear(10, bias_init=xavier_uniform())", "xavier_uniform needs a tensor of at least 2 dims"),
    ("Linear(10, bias=false, bias_init=zeros())", "has no bias (bias=false)"),
    ("ReLU(weight_init=zeros())", "ReLU has no weight"),
    ("add(x, weight_init=zeros())", "add has no parameters to initialize"),
    ("Linear(10, weight_init=kaiming_normall())", "unknown initializer 'kaiming_normall'"),
    ("Linear(10, weight_init=kaiming_normal(mode=\"fan_up\"))", "kaiming_normal mode=\"fan_up\""),
    ("Linear(10, weight_init=3)", "an initializer is a call"),
])
def test_bad_initializers_are_diagnosed(snippet, message):
    src = f"model M {{\n    input x: [B, 4]\n    y = x -> {snippet}\n    output y\n}}\n"
    comp = compile_source(src, "m.model")
    assert not comp.ok
    assert any(message in d.message for d in comp.errors), comp.diagnostics


def test_bad_init_section_is_diagnosed():
    src = ("model M {\n    input x: [B, 3, 8, 8]\n    y = x -> Conv2d(4, 3) -> BatchNorm2d\n    output y\n"
           "    init {\n        BatchNorm2d = xavier_uniform()\n        Conv2 = zeros()\n    }\n}\n")
    comp = compile_source(src, "m.model")
    msgs = [d.message for d in comp.errors]
    assert "xavier_uniform needs a tensor of at least 2 dims (it uses fan-in/fan-out), but BatchNorm2d's " \
           "weight is 1-d" in msgs
    assert "'Conv2' is not a layer with parameters" in msgs


def _model(layers: str, init: str, shape: str = "[B, 3, 8, 8]") -> str:
    return (f"model M {{\n    input x: {shape}\n    y = x -> {layers}\n    output y\n"
            f"    init {{\n        {init}\n    }}\n}}\n")


def _errors(src: str) -> list:
    comp = compile_source(src, "m.model")
    return [(d.message, d.hint) for d in comp.errors]


@pytest.mark.parametrize("layers,init,message", [
    # LayerNorm's weight is 1-d (its normalized_shape's length): no fan-in/fan-out
    ("LayerNorm", "LayerNorm = xavier_normal()",
     "xavier_normal needs a tensor of at least 2 dims (it uses fan-in/fan-out), "
     "but LayerNorm's weight is 1-d"),
    ("ReLU", "ReLU = zeros()", "ReLU has no weight"),
    ("Identity", "Identity = zeros()", "Identity has no weight"),
    ("Flatten", "Flatten = zeros()", "Flatten has no weight"),
    ("Dropout(0.5)", "Dropout = zeros()", "Dropout has no weight"),
    ("MaxPool2d(2)", "MaxPool2d = ones()", "MaxPool2d has no weight"),
    ("BatchNorm2d(affine=false)", "BatchNorm2d = ones()", "BatchNorm2d has no weight (affine=false)"),
    ("LayerNorm(elementwise_affine=false)", "LayerNorm = ones()",
     "LayerNorm has no weight (elementwise_affine=false)"),
    ("GroupNorm(1, affine=false)", "GroupNorm = ones()", "GroupNorm has no weight (affine=false)"),
    # a kind the model does not use: what holds for every instance
    ("ReLU", "Tanh = zeros()", "Tanh has no weight"),
    ("ReLU", "Conv1d = eye()", "eye needs a 2-d tensor, but Conv1d's weight is 3-d"),
])
def test_init_rule_is_checked_against_the_weights_the_layer_declares(layers, init, message):
    errors = _errors(_model(layers, init))
    assert any(m == message for m, _ in errors), errors
    if "has no weight" in message:
        assert any("remove the rule" in h for m, h in errors if m == message), errors


def test_init_rule_on_several_tensors_names_them():
    src = _model("LSTM(4)", "LSTM = orthogonal()", "[B, 5, 3]")
    assert ("LSTM has no weight: its tensors are weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0",
            "initialize them in your own code after building the model") in _errors(src)
    src = ("model M {\n    input x: [B, 5, 8]\n    y = x -> MultiheadAttention(2, bias_init=zeros())\n"
           "    output y\n}\n")
    assert any(m == "MultiheadAttention has no bias: its tensors are in_proj_weight, in_proj_bias"
               for m, _ in _errors(src))


def test_init_rule_that_fails_on_one_instance_names_it():
    src = _model("a: BatchNorm2d -> b: BatchNorm2d(affine=false)", "BatchNorm2d = ones()")
    msgs = [m for m, _ in _errors(src)]
    assert msgs == ["BatchNorm2d 'b' has no weight (affine=false)"]


@pytest.mark.parametrize("layers,init", [
    ("LayerNorm([8, 8])", "LayerNorm = xavier_normal()"),  # a 2-d weight: fan-based is fine
    ("a: BatchNorm2d -> ReLU -> b: BatchNorm2d", "BatchNorm2d = ones()"),
    ("Conv2d(4, 3) -> ReLU", "Conv2d = kaiming_normal()\n        weight = zeros()\n        bias = zeros()"),
])
def test_init_rules_that_fit_build_and_run(layers, init, tmp_path):
    comp = compile_source(_model(layers, init), "m.model")
    assert comp.ok, comp.diagnostics
    path = tmp_path / "m.py"
    path.write_text(comp.python_source())
    mod = import_generated(path, f"gen_fit_{abs(hash(init))}")
    mod.M()(*mod.example_inputs())


@pytest.mark.parametrize("layers,init", [
    ("LayerNorm", "LayerNorm = xavier_normal()"),
    ("ReLU", "ReLU = zeros()"),
    ("BatchNorm2d(affine=false)", "BatchNorm2d = ones()"),
])
def test_what_check_rejects_fails_in_torch(layers, init, tmp_path):
    """The rejected rules are real failures: the same model with the check skipped fails in torch."""
    from graphc import initializers

    check = initializers.check_inits
    initializers.check_inits = lambda prog: []
    try:
        comp = compile_source(_model(layers, init), "m.model")
    finally:
        initializers.check_inits = check
    assert comp.ok, comp.diagnostics
    path = tmp_path / "m.py"
    path.write_text(comp.python_source())
    with pytest.raises((ValueError, AttributeError)):
        import_generated(path, f"gen_bad_{abs(hash(init))}").M()


def test_rank_is_checked_per_instance():
    """A LayerNorm over two dims has a 2-d weight (xavier fits), over one a 1-d one (it does not)."""
    src = _model("a: LayerNorm([8, 8]) -> b: LayerNorm", "LayerNorm = xavier_uniform()")
    assert [m for m, _ in _errors(src)] == [
        "xavier_uniform needs a tensor of at least 2 dims (it uses fan-in/fan-out), "
        "but the weight of LayerNorm 'b' is 1-d"]
