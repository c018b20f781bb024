"""Groups and repeats of any one-tensor step: an operation with no module (permute, reshape, mean)
becomes a small module class of the generated file, so a ConvNeXt block is torchvision's
``block = Sequential(Conv2d, Permute, LayerNorm, Linear, GELU, Linear, Permute)`` with its
state_dict keys; a keyword of the language (``block``) may label a layer, as torch names it."""

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from graphc.api import compile_source  # noqa: E402

CNBLOCK = """
block CNBlock(dim) {
    input x
    param layer_scale: [dim, 1, 1] = constant(1e-6)
    y = x -> block: (Conv2d(dim, 7, padding=3, groups=dim) -> permute(0, 2, 3, 1) -> LayerNorm(dim, eps=1e-6)
        -> Linear(4 * dim) -> GELU -> Linear(dim) -> permute(0, 3, 1, 2))
    z = layer_scale * y + x
    output z
}

model M {
    input x: [B, 16, 7, 7]
    y = x -> stage: CNBlock(16) * 2
    output y
}
"""


class Permute(nn.Module):  # torchvision.ops.misc.Permute
    def __init__(self, dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return torch.permute(x, self.dims)


class CNBlock(nn.Module):  # torchvision.models.convnext.CNBlock, without stochastic depth
    def __init__(self, dim):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True), Permute([0, 2, 3, 1]),
            nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, 4 * dim, bias=True), nn.GELU(),
            nn.Linear(4 * dim, dim, bias=True), Permute([0, 3, 1, 2]))
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * 1e-6)

    def forward(self, x):
        return self.layer_scale * self.block(x) + x


def test_convnext_block_has_torchvisions_keys_and_outputs():
    comp = compile_source(CNBLOCK)
    assert comp.ok, [str(d) for d in comp.diagnostics]
    src = comp.python_source()
    assert "class Permute(nn.Module)" in src
    m = comp.to_module().eval()
    ref = nn.Module()
    ref.stage = nn.Sequential(CNBlock(16), CNBlock(16))
    assert list(m.state_dict()) == list(ref.state_dict())
    ref.load_state_dict(m.state_dict(), strict=True)
    with torch.no_grad():
        for p in m.parameters():  # a layer scale of 1e-6 would hide the block: make it count
            p.add_(torch.randn_like(p) * 0.1)
        ref.load_state_dict(m.state_dict(), strict=True)
        x = torch.randn(2, 16, 7, 7)
        assert torch.equal(m(x), ref.stage(x))
    assert comp.summary().total_params == sum(p.numel() for p in m.parameters())


def test_reshape_and_mean_steps_in_a_group():
    comp = compile_source("""
model M {
    input x: [B, 4, 6]
    y = x -> head: (transpose(1, 2) -> Linear(8) -> mean(1) -> ReLU)
    output y
}
""")
    assert comp.ok, [str(d) for d in comp.diagnostics]
    m = comp.to_module()
    x = torch.randn(3, 4, 6)
    lin = m.head[1]
    assert torch.equal(m(x), torch.relu(lin(x.transpose(1, 2)).mean(1)))
    assert [type(s).__name__ for s in m.head] == ["Transpose", "Linear", "Mean", "ReLU"]


@pytest.mark.parametrize("step,needle", [
    ("chunk(2, dim=1)", "takes only the incoming tensor and gives one"),
    ("add(x)", "takes only the incoming tensor and gives one"),
])
def test_steps_a_sequential_cannot_hold(step, needle):
    comp = compile_source(f"model M {{\n    input x: [B, 4]\n    y = x -> (Linear(4) -> {step})\n    output y\n}}\n")
    assert any(d.code == "arity" and needle in d.message for d in comp.errors), [str(d) for d in comp.errors]


def test_a_keyword_label_names_only_the_attribute():
    ok = compile_source("model M {\n    input x: [B, 4]\n    y = x -> block: Linear(3)\n    output y\n}\n")
    assert ok.ok and "self.block = nn.Linear(4, 3)" in ok.python_source()
    bad = compile_source("model M {\n    input x: [B, 4]\n    y = x -> block: Linear(3)\n    output block\n}\n")
    assert not bad.ok  # 'block' names no value: the language's keyword


NESTED = """
model M {
    input x: [B, 3, 16, 16]
    y = x
        -> features: (
            conv0: Conv2d(8, 3, padding=1, bias=false)
            -> norm0: BatchNorm2d
            -> relu0: ReLU
            -> conv: ((Conv2d(8, 1, bias=false) -> BatchNorm2d -> ReLU6) -> Conv2d(8, 3, padding=1) -> BatchNorm2d)
        )
        -> AdaptiveAvgPool2d(1)
        -> Flatten
        -> Linear(10)
    output y
}
"""


def test_labelled_and_nested_group_members_give_torchvisions_keys():
    """DenseNet's named features (conv0, norm0, relu0) and MobileNetV2's nested conv.0.1 keys."""
    from collections import OrderedDict

    comp = compile_source(NESTED)
    assert comp.ok, [str(d) for d in comp.diagnostics]
    m = comp.to_module().eval()
    ref = nn.Module()
    ref.features = nn.Sequential(OrderedDict([
        ("conv0", nn.Conv2d(3, 8, 3, padding=1, bias=False)), ("norm0", nn.BatchNorm2d(8)), ("relu0", nn.ReLU()),
        ("conv", nn.Sequential(nn.Sequential(nn.Conv2d(8, 8, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU6()),
                               nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)))]))
    ref.adaptive_avg_pool2d, ref.flatten, ref.linear = nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)
    assert list(m.state_dict()) == list(ref.state_dict())
    assert "features.conv.0.1.weight" in m.state_dict()
    ref.load_state_dict(m.state_dict(), strict=True)
    ref.eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        want = ref.linear(ref.flatten(ref.adaptive_avg_pool2d(ref.features(x))))
        assert torch.equal(m(x), want)
    assert comp.summary().total_params == sum(p.numel() for p in m.parameters())
    from graphc.fmt import format_text

    assert format_text(format_text(NESTED)) == format_text(NESTED)
    assert "conv: ((Conv2d(8, 1, bias=false)" in format_text(NESTED)


@pytest.mark.parametrize("group,needle", [
    ("(a: Linear(4) -> ReLU) * 2", "a repeated group cannot have labelled members"),
    ("(a: Linear(4) -> a: ReLU)", "'a' names two members of this group"),
    ("(forward: Linear(4) -> ReLU)", "label 'forward' would be the module attribute"),
])
def test_group_member_label_errors(group, needle):
    comp = compile_source(f"model M {{\n    input x: [B, 4]\n    y = x -> {group}\n    output y\n}}\n")
    assert any(needle in d.message for d in comp.errors), [str(d) for d in comp.errors]
