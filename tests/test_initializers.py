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
