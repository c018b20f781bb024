"""graphc import: nn.Modules written in this file round-trip through a .model file.

Each test builds the module in torch, imports it (the CLI, as a user runs it), then checks the
written file independently of the importer's own verification: graphc compiles it, the original's
state_dict loads into the built module with strict=True, and torch gives the same outputs.
"""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")

from graphc.api import compile_source  # noqa: E402
from graphc.cli import main  # noqa: E402

NETS = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class LeNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class Block(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNetish(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.layer1 = nn.Sequential(Block(16, 16), Block(16, 16))
        self.layer2 = nn.Sequential(Block(16, 32, 2), Block(32, 32))
        self.layer3 = nn.Sequential(Block(32, 64, 2), Block(64, 64))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class MLP(nn.Module):
    def __init__(self, d=16, hidden=32):
        super().__init__()
        self.inp = nn.Linear(d, hidden)
        self.gate = nn.Linear(d, hidden)
        self.shared = nn.Linear(hidden, hidden)
        self.scale = nn.Parameter(torch.full((hidden,), 0.5))
        self.head = nn.Linear(2 * hidden, 3)

    def forward(self, x, y):
        a = F.relu(self.inp(x))
        g = torch.sigmoid(self.gate(y))
        h = self.shared(self.shared(a * g))
        s = h * self.scale - a / 2.0
        c = torch.cat([s, h], dim=1)
        return self.head(c), c.mean(1)


class SizeView(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        n = x.size(0)
        return self.fc(x.view(n, -1))


class Cumulative(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        h = self.fc(x)
        return torch.cumsum(h, dim=1)


class Tokens(nn.Module):
    """A ViT-like head: sizes read in forward, a class token expanded to the batch, x[:, 0]."""

    def __init__(self, d=8):
        super().__init__()
        self.proj = nn.Conv2d(3, d, 4, stride=4)
        self.class_token = nn.Parameter(torch.randn(1, 1, d))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 5)

    def forward(self, x):
        n, c, h, w = x.shape
        torch._assert(h == 16, "wrong height")
        x = self.proj(x)
        x = x.reshape(n, x.size(1), -1).permute(0, 2, 1)
        t = self.class_token.expand(n, -1, -1)
        x = torch.cat([t, x], dim=1)
        return self.head(self.norm(x)[:, 0])


class Residual(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, d)
        self.act = nn.GELU()

    def forward(self, x):
        return x + self.act(self.fc(x))


class Stack(nn.Module):
    """Items of a ModuleList called in a loop, and one item called on its own (not importable)."""

    def __init__(self, first_only=False):
        super().__init__()
        self.first_only = first_only
        self.layers = nn.ModuleList([Residual(8) for _ in range(3)])
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        if self.first_only:
            return self.out(self.layers[0](x))
        for layer in self.layers:
            x = layer(x)
        return self.out(x)


class AlwaysDrops(nn.Module):
    """F.dropout's training=True default: it drops in eval too, graphc's Dropout does not."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)

    def forward(self, x):
        return F.dropout(self.fc(x), 0.5)


class DenseLayer(nn.Module):
    def __init__(self, cin, g):
        super().__init__()
        self.norm = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, g, 3, padding=1, bias=False)

    def forward(self, feats):
        x = torch.cat(feats, 1)
        return self.conv(F.relu(self.norm(x)))


class DenseBlock(nn.ModuleDict):
    def __init__(self, n, cin, g):
        super().__init__()
        for i in range(n):
            self.add_module(f"layer{i + 1}", DenseLayer(cin + i * g, g))

    def forward(self, x):
        feats = [x]
        for _, layer in self.items():
            feats.append(layer(feats))
        return torch.cat(feats, 1)


class Dense(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = DenseBlock(3, 8, 4)
        self.fc = nn.Linear(20, 5)

    def forward(self, x):
        x = self.block(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Zoo(nn.Module):
    """Many registered layers with arguments other than torch's defaults."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, (3, 5), stride=(1, 2), padding=(1, 2), bias=False),
            nn.GroupNorm(2, 8, eps=1e-3),
            nn.PReLU(8),
            nn.ConvTranspose2d(8, 16, 2, stride=2),
            nn.InstanceNorm2d(16, affine=True),
            nn.LeakyReLU(0.2),
            nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
            nn.MaxPool2d(2),
            nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=False),
            nn.PixelShuffle(2),
            nn.Hardtanh(-0.5, 0.5),
            nn.Dropout2d(0.1),
        )
        self.seq = nn.Sequential(nn.Conv1d(4, 6, 3, padding=1), nn.BatchNorm1d(6, momentum=0.2), nn.ELU(0.5))
        self.norm = nn.LayerNorm(6, eps=1e-6)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(128 * 6, 3, bias=False), nn.Softplus(beta=2.0))

    def forward(self, x):
        f = torch.flatten(self.features(x), 2)
        return self.head(self.norm(self.seq(f).transpose(1, 2)))


class Sliced(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x[:, :, :4])


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return x
'''


@pytest.fixture
def nets(tmp_path, monkeypatch):
    """The modules above as an importable module of its own (a name per test: no stale import)."""
    name = f"graphc_import_nets_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(NETS))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    yield name, importlib.import_module(name)
    sys.modules.pop(name, None)


def _run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def _check_against_torch(path, original, inputs):
    """The written file, checked without the importer: keys, strict load, counts, outputs."""
    text = path.read_text()
    comp = compile_source(text, str(path))
    assert comp.ok, [d.message for d in comp.errors]
    built = comp.to_module().eval()
    original.eval()
    assert set(built.state_dict()) == set(original.state_dict())  # the keys (their order may differ)
    built.load_state_dict(original.state_dict(), strict=True)
    assert sum(p.numel() for p in built.parameters()) == sum(p.numel() for p in original.parameters())
    with torch.no_grad():
        ref, got = original(*inputs), built(*inputs)
    ref = ref if isinstance(ref, tuple) else (ref,)
    got = got if isinstance(got, tuple) else (got,)
    assert len(ref) == len(got)
    for a, b in zip(ref, got):
        assert a.shape == b.shape
        assert torch.equal(a, b)
    return text


def test_lenet_round_trips(nets, tmp_path, capsys):
    name, mod = nets
    out = tmp_path / "lenet.model"
    code, stdout, err = _run(["import", f"{name}:LeNet", "--input", "B,1,32,32", "-o", str(out)], capsys)
    assert code == 0, err
    assert "61,706 parameters in both" in stdout and "bit-identical" in stdout
    torch.manual_seed(0)
    net = mod.LeNet()
    text = _check_against_torch(out, net, [torch.randn(3, 1, 32, 32)])
    assert "input x: [B, 1, 32, 32]" in text
    assert "conv1: Conv2d(6, 5)" in text and "fc3: Linear(10)" in text
    assert "MaxPool2d(2)" in text and "Flatten" in text
    again = tmp_path / "lenet2.model"  # deterministic: the same module gives the same bytes
    assert main(["import", f"{name}:LeNet", "--input", "B,1,32,32", "-q", "-o", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()


def test_arg_flag_reaches_the_constructor(nets, tmp_path, capsys):
    name, mod = nets
    out = tmp_path / "lenet7.model"
    code, _, err = _run(["import", f"{name}:LeNet", "--input", "B,1,32,32", "--arg", "num_classes=7",
                         "-o", str(out)], capsys)
    assert code == 0, err
    assert "fc3: Linear(7)" in out.read_text()
    _check_against_torch(out, mod.LeNet(num_classes=7), [torch.randn(2, 1, 32, 32)])


def test_resnet_blocks_are_recovered(nets, tmp_path, capsys):
    name, mod = nets
    out = tmp_path / "res.model"
    code, _, err = _run(["import", f"{name}:ResNetish", "--input", "B,3,32,32", "-o", str(out)], capsys)
    assert code == 0, err
    text = _check_against_torch(out, mod.ResNetish(), [torch.randn(2, 3, 32, 32)])
    # one class, two structures (with and without downsample): two blocks, the width a parameter
    assert "block Block(out_channels)" in text and "block Block_2(out_channels)" in text
    assert "layer1: Block(16) * 2" in text
    assert "layer2: (Block_2(32) -> Block(32))" in text
    assert "downsample: (Conv2d(out_channels, 1, stride=2, bias=false) -> BatchNorm2d)" in text
    assert "-> relu\n" in text  # the ReLU applied twice is one module, applied again by its label
    assert text.count("block ") == 2


def test_functional_ops_learned_tensor_and_sharing(nets, tmp_path, capsys):
    name, mod = nets
    out = tmp_path / "mlp.model"
    code, stdout, err = _run(["import", f"{name}:MLP", "--input", "B,16", "--input", "B,16",
                              "-o", str(out)], capsys)
    assert code == 0, err
    torch.manual_seed(0)
    net = mod.MLP()
    text = _check_against_torch(out, net, [torch.randn(4, 16), torch.randn(4, 16)])
    assert "param scale: [32]" in text
    assert "concat(" in text and "mean(1)" in text and "Sigmoid" in text
    assert "-> shared" in text  # applied twice: one Linear


def test_sizes_read_in_forward_fold_away(nets, tmp_path, capsys):
    name, mod = nets
    out = tmp_path / "v.model"
    code, _, err = _run(["import", f"{name}:SizeView", "--input", "B,2,4", "-o", str(out)], capsys)
    assert code == 0, err
    text = _check_against_torch(out, mod.SizeView(), [torch.randn(5, 2, 4)])  # another batch size
    assert "view(8)" in text  # x.view(x.size(0), -1): the language's view keeps the batch


def test_class_token_expand_and_select(nets, tmp_path, capsys):
    name, mod = nets
    out = tmp_path / "t.model"
    code, _, err = _run(["import", f"{name}:Tokens", "--input", "B,3,16,16", "-o", str(out)], capsys)
    assert code == 0, err
    torch.manual_seed(0)
    net = mod.Tokens()
    text = _check_against_torch(out, net, [torch.randn(3, 3, 16, 16)])
    assert "param class_token: [1, 1, 8]" in text
    assert "expand(" in text and "slice(1, 0, 1)" in text and "squeeze(1)" in text
    assert "_assert" not in text


def test_unsupported_function_is_reported_with_the_line(nets, tmp_path, capsys):
    name, _ = nets
    out = tmp_path / "c.model"
    code, _, err = _run(["import", f"{name}:Cumulative", "--input", "B,4", "-o", str(out)], capsys)
    assert code == 1
    assert "Traceback" not in err
    assert "cumsum has no counterpart in the language" in err
    assert f"{name}.py:" in err and "return torch.cumsum(h, dim=1)" in err
    assert not out.exists()


def test_module_list_loop_is_a_group(nets, tmp_path, capsys):
    name, mod = nets
    out = tmp_path / "s.model"
    code, _, err = _run(["import", f"{name}:Stack", "--input", "B,8", "-o", str(out)], capsys)
    assert code == 0, err
    torch.manual_seed(0)
    text = _check_against_torch(out, mod.Stack(), [torch.randn(4, 8)])
    assert "layers: Residual * 3" in text  # the ModuleList's keys (layers.0.fc.weight) kept
    code, _, err = _run(["import", f"{name}:Stack", "--input", "B,8", "--arg", "first_only=True",
                         "-o", str(out)], capsys)
    assert code == 1
    assert "calls layers.0 (an item of a container) on its own" in err
    assert "return self.out(self.layers[0](x))" in err


def test_a_difference_is_not_written_unless_forced(nets, tmp_path, capsys):
    name, _ = nets
    out = tmp_path / "d.model"
    argv = ["import", f"{name}:AlwaysDrops", "--input", "B,16", "-o", str(out)]
    code, _, err = _run(argv, capsys)
    assert code == 1 and "output 0 differs from the original's by up to" in err
    assert not out.exists()
    code, _, err = _run([*argv, "--force"], capsys)
    assert code == 1 and "warning: wrote" in err and "unverified (--force)" in err
    assert "Dropout" in out.read_text()


def test_list_of_inputs_concatenated_is_one_block(nets, tmp_path, capsys):
    name, mod = nets
    out = tmp_path / "dense.model"
    code, _, err = _run(["import", f"{name}:Dense", "--input", "B,3,8,8", "-o", str(out)], capsys)
    assert code == 0, err
    torch.manual_seed(0)
    net = mod.Dense()
    for m in net.modules():  # running statistics that are not the initial ones
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    text = _check_against_torch(out, net, [torch.randn(2, 3, 8, 8)])
    # DenseLayer(feats) concatenates its list first: the caller does, and the three are one block
    assert "block DenseLayer()" in text and "DenseLayer_2" not in text
    assert "-> concat(layer1_out, layer2_out) -> layer3: DenseLayer" in text


def test_layer_arguments_are_read_back(nets, tmp_path, capsys):
    name, mod = nets
    out = tmp_path / "zoo.model"
    code, _, err = _run(["import", f"{name}:Zoo", "--input", "B,3,8,8", "-o", str(out)], capsys)
    assert code == 0, err
    torch.manual_seed(0)
    net = mod.Zoo()
    text = _check_against_torch(out, net, [torch.randn(3, 3, 8, 8)])
    for written in ("Conv2d(8, (3, 5), stride=(1, 2), padding=(1, 2), bias=false)", "GroupNorm(2, eps=0.001)",
                    "PReLU(8)", "ConvTranspose2d(16, 2, stride=2)", "InstanceNorm2d(affine=true)",
                    "LeakyReLU(0.2)", "AvgPool2d(3, 2, padding=1, count_include_pad=false)", "MaxPool2d(2)",
                    'mode="bilinear"', "PixelShuffle(2)", "Hardtanh(-0.5, 0.5)", "Dropout2d(0.1)",
                    "BatchNorm1d(momentum=0.2)", "ELU(0.5)", "LayerNorm(6, 1e-06)", "Linear(3, bias=false)",
                    "Softplus(2.0)"):
        assert written in text, written


def test_indexing_a_range_is_reported(nets, tmp_path, capsys):
    name, _ = nets
    code, _, err = _run(["import", f"{name}:Sliced", "--input", "B,2,8", "-o", str(tmp_path / "s.model")], capsys)
    assert code == 1 and "indexing" in err and "return self.fc(x[:, :, :4])" in err


def test_control_flow_is_reported_with_the_line(nets, tmp_path, capsys):
    name, _ = nets
    out = tmp_path / "b.model"
    code, _, err = _run(["import", f"{name}:Branchy", "--input", "B,4", "-o", str(out)], capsys)
    assert code == 1
    assert "Traceback" not in err
    assert "cannot trace Branchy.forward" in err and "if x.sum() > 0:" in err
    assert not out.exists()


def test_input_shapes():
    from graphc.interop.importer import parse_shape

    assert parse_shape("B,3x224x224") == ("", ["B", 3, 224, 224])
    assert parse_shape("long[B, max_len]") == ("long", ["B", "max_len"])
    assert parse_shape("double[2,x]") == ("double", [2, "x"])


@pytest.mark.parametrize("argv, message", [
    (["nets_nowhere_xyz:Net", "--input", "B,4"], "cannot import nets_nowhere_xyz"),
    (["{mod}", "--input", "B,4"], "write MODULE:CALLABLE"),
    (["{mod}:Nope", "--input", "B,4"], "has no 'Nope'"),
    (["{mod}:LeNet", "--input", "B,1,0,3"], "is not a size"),
    (["{mod}:LeNet", "--input", "B,1,32,32", "--arg", "oops"], "write NAME=VALUE"),
    (["{mod}:LeNet", "--input", "B,1,32,32", "--arg", "depth=3"], "unexpected keyword argument 'depth'"),
    (["{mod}:MLP", "--input", "B,16"], "give one --input per tensor argument"),
    (["{mod}:LeNet", "--input", "B,3,32,32"], "the module fails on inputs of the --input shapes"),
])
def test_usage_errors_are_one_message(nets, tmp_path, capsys, argv, message):
    name, _ = nets
    out = tmp_path / "x.model"
    argv = [a.replace("{mod}", name) for a in argv]
    code, _, err = _run(["import", *argv, "-o", str(out)], capsys)
    assert code == 1
    assert message in err and "Traceback" not in err
    assert not out.exists()


TORCHVISION = ["resnet18", "alexnet", "mobilenet_v2", "squeezenet1_0", "regnet_y_400mf"]


@pytest.mark.torchvision
@pytest.mark.parametrize("model", TORCHVISION)
def test_torchvision_round_trips(tmp_path, model):
    try:
        tvm = importlib.import_module("torchvision.models")
    except Exception as e:  # noqa: BLE001 - a CUDA wheel beside CPU torch fails in several ways
        pytest.skip(f"torchvision is not importable here: {type(e).__name__}")
    from graphc.interop.importer import run_import

    torch.manual_seed(0)
    net = getattr(tvm, model)().eval()
    path = tmp_path / f"{model}.model"
    text, _, _ = run_import(net, [("", ["B", 3, 224, 224])], str(path))
    path.write_text(text)
    _check_against_torch(path, net, [torch.randn(1, 3, 224, 224)])
