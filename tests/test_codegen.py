"""Generated code is executed, not only compared as text."""

import ast
import builtins
import inspect
import keyword
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MODELS, import_generated, run_graphc

from graphc.api import compile, compile_source
from graphc.names import NN_MODULE_ATTRS
from graphc.shapes import substitute
from graphc.summary import batch_symbols

torch = pytest.importorskip("torch")

MODEL_FILES = sorted(MODELS.glob("*.model")) + sorted((Path(__file__).parent / "cases").glob("*.model"))
# torchvision's parameter counts for the same architectures, and LeNet-5's
PUBLISHED = {"lenet": 61_706, "resnet18": 11_689_512, "resnet50": 25_557_032, "alexnet": 61_100_840,
             "vgg16": 138_357_544, "mobilenet_v2": 3_504_872}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("built")
    mods = {}
    for f in MODEL_FILES:
        comp = compile(f)
        assert comp.ok, comp.diagnostics
        path = out / f"{f.stem}.py"
        path.write_text(comp.python_source())
        mods[f.stem] = (comp, import_generated(path, f"gen_{f.stem}"), path)
    return mods


@pytest.mark.parametrize("stem", [f.stem for f in MODEL_FILES])
def test_model_runs_forward_with_inferred_shapes(built, stem):
    comp, mod, _ = built[stem]
    model = getattr(mod, comp.program.name)()
    model.eval()
    inputs = mod.example_inputs(batch_size=3)
    with torch.no_grad():
        out = model(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    prog = comp.program
    assert len(outs) == len(prog.outputs)
    # example_inputs(batch_size=3): the batch symbol is 3, other symbols their defaults (16 for a
    # plain symbol, 2 for one in a multiple such as 16 * h), read from its signature
    defaults = {k: v.default for k, v in inspect.signature(mod.example_inputs).parameters.items()}
    assert all(defaults.get(s) in (2, 16) for s in prog.symbols if s not in batch_symbols(prog))
    binds = {s: (3 if s in batch_symbols(prog) else defaults[s]) for s in prog.symbols}
    for o, (_, ref) in zip(outs, prog.outputs):
        assert tuple(o.shape) == tuple(substitute(d, binds) for d in prog.type_of(ref).shape)


@pytest.mark.parametrize("stem", [f.stem for f in MODEL_FILES])
def test_parameter_counts_agree(built, stem):
    comp, mod, _ = built[stem]
    model = getattr(mod, comp.program.name)()
    counted = sum(p.numel() for p in model.parameters())
    assert counted == comp.summary().total_params
    if stem in PUBLISHED:
        assert counted == PUBLISHED[stem]


@pytest.mark.parametrize("stem", [f.stem for f in MODEL_FILES])
def test_every_layer_shape_comment_matches_torch(built, stem):
    """Hook every module; its real output shape equals graphc's inferred one."""
    comp, mod, _ = built[stem]
    model = getattr(mod, comp.program.name)()
    model.eval()
    seen = {}

    def hook(name):
        def f(_m, _i, out):
            if isinstance(out, torch.Tensor):  # LSTM and attention modules return tuples
                seen[name] = tuple(out.shape)
        return f

    for name, m in model.named_modules():
        if name:
            m.register_forward_hook(hook(name))
    with torch.no_grad():
        model(*mod.example_inputs(batch_size=2))
    def plain(n):  # the module's own output is the node's value (not e.g. lstm(x)[0])
        return (n.has_module and n.layer.forward(n.params, "m", ["x"]) == "m(x)" and n.shares is None
                and n.layer.count_outputs(n.params) == 1)  # GRU(state=true) returns (out, h)

    checked = 0
    defaults = {k: v.default for k, v in inspect.signature(mod.example_inputs).parameters.items()}
    binds = {s: (2 if s in batch_symbols(comp.program) else defaults[s]) for s in comp.program.symbols}
    for node in comp.program.layer_nodes():
        if plain(node) and node.id in seen:
            want = tuple(substitute(d, binds) for d in node.outs[0].shape)
            assert seen[node.id] == want, node.id
            checked += 1
    assert checked == sum(1 for n in comp.program.layer_nodes() if plain(n))


def test_one_training_step(built):
    comp, mod, _ = built["lenet"]
    model = mod.LeNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, = mod.example_inputs(batch_size=4)
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    before = model.fc3.weight.detach().clone()
    opt.step()
    assert not torch.equal(before, model.fc3.weight)


def test_resnet18_matches_torchvision_state_dict_layout(built):
    comp, mod, _ = built["resnet18"]
    keys = list(mod.ResNet18().state_dict())
    assert keys[:2] == ["conv1.weight", "bn1.weight"]
    assert "layer2.0.downsample.0.weight" in keys and "layer4.1.bn2.running_var" in keys
    assert keys[-2:] == ["fc.weight", "fc.bias"]
    assert len(keys) == 122  # torchvision.models.resnet18().state_dict() has 122 entries


def test_generated_code_is_standalone(built, tmp_path):
    """Runs in a fresh interpreter where graphc cannot be imported."""
    _, _, path = built["resnet18"]
    assert "graphc" not in "\n".join(line for line in path.read_text().splitlines()
                                      if line.startswith(("import", "from")))
    code = (f"import sys, importlib.util\nsys.modules['graphc'] = None\n"
            f"spec = importlib.util.spec_from_file_location('m', {str(path)!r})\n"
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
            "print(tuple(m.ResNet18()(*m.example_inputs(1)).shape))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(1, 1000)"


def test_generated_code_is_ruff_clean(built):
    paths = [str(p) for _, _, p in built.values()]
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated",
                           "--select", "E,F,W,B", "--line-length", "120", *paths],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("stem", ["resnet18", "unet", "transformer_classifier"])
def test_output_is_deterministic_across_runs_and_hash_seeds(tmp_path, stem):
    outs = []
    for seed in ("0", "1", "12345"):
        d = tmp_path / seed
        proc = run_graphc("build", MODELS / f"{stem}.model", "-o", d, env={"PYTHONHASHSEED": seed})
        assert proc.returncode == 0
        outs.append((d / f"{stem}.py").read_bytes())
    assert outs[0] == outs[1] == outs[2]


HOSTILE = '''
# names that are Python keywords, builtins, nn.Module attributes or private
block lambda(forward=2) {
    input self
    training = self -> Linear(forward)
    print = training -> ReLU    # a label of these names is an error: it is a state_dict key
    output print
}
model __import__ {
    input class: [B, 4]
    const = class -> lambda(3)
    const2 = class -> Linear(3)
    __class__ = add(const, const2) -> Dropout(0.0)
    output __class__
}
'''


def test_hostile_names_are_made_safe(tmp_path):
    src = HOSTILE.replace("const = class", "exec = class").replace("add(const,", "add(exec,")
    comp = compile_source(src, "hostile.model")
    assert comp.ok, comp.diagnostics
    code = comp.python_source()
    tree = ast.parse(code)
    bad = set(dir(builtins)) | set(keyword.kwlist) | NN_MODULE_ATTRS
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            assert node.id not in bad, node.id
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and \
                isinstance(node.value, ast.Name) and node.value.id == "self":
            assert node.attr not in bad and not node.attr.startswith("_"), node.attr
        if isinstance(node, ast.arg):
            assert node.arg == "self" or node.arg not in bad, node.arg
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            assert node.name not in bad - {"forward", "example_inputs"}, node.name
    path = tmp_path / "hostile.py"
    path.write_text(code)
    mod = import_generated(path, "hostile_gen")
    model = mod.MODEL()
    assert tuple(model(*mod.example_inputs()).shape) == (2, 3)


def test_strings_cannot_inject_code(tmp_path):
    src = '''model M {
    input x: [B, 3, 8, 8]
    y = x -> Conv2d(4, 3, padding_mode="zeros\\"); import os; os.system(\\"echo pwned\\")#")
    output y
}'''
    comp = compile_source(src, "m.model")
    assert not comp.ok  # not one of Conv2d's padding modes
    assert comp.diagnostics[0].code == "invalid-argument"
    # a string that is accepted is emitted as a repr()'d literal
    from graphc.pyfmt import literal

    hostile = 'a"); import os; os.system("x")  #\n'
    assert eval(literal(hostile)) == hostile  # noqa: S307 - a literal round-trips, nothing runs


def test_to_module_api():
    comp = compile(MODELS / "lenet.model")
    model = comp.to_module()
    assert sum(p.numel() for p in model.parameters()) == 61_706
    assert tuple(model(torch.zeros(2, 1, 32, 32)).shape) == (2, 10)


def test_blocks_become_classes_with_parameters(built):
    _, mod, path = built["resnet18"]
    text = path.read_text()
    assert "class BasicBlock(nn.Module):" in text and "class DownBlock(nn.Module):" in text
    assert "def __init__(self, in_channels, c, stride=2):" in text
    # the class can be reused with other sizes, as a hand-written one could
    blk = mod.DownBlock(32, 48)
    assert tuple(blk(torch.zeros(1, 32, 16, 16)).shape) == (1, 48, 8, 8)


def test_inferred_sizes_are_written_as_the_block_writes_them(built):
    """An inferred in_channels equal to an argument written in the block (the out_channels
    one layer before, ``inp * t``) is passed as that expression, not as an extra parameter;
    the input's channels, which the block does not tie to ``inp``, are a parameter of their own."""
    _, mod, path = built["mobilenet_v2"]
    text = path.read_text()
    assert "def __init__(self, in_channels, inp, c, stride=1, t=6):" in text
    assert "ConvBN(in_channels, inp * t, k=1)" in text
    assert "ConvBN(inp * t, inp * t, stride=stride, groups=inp * t)" in text
    assert "nn.Conv2d(inp * t, c, 1, bias=False)" in text
    # so the class works for sizes no instance of the model uses
    blk = mod.InvertedResidual(8, 8, 12, stride=2, t=3)
    assert tuple(blk(torch.zeros(1, 8, 16, 16)).shape) == (1, 12, 8, 8)
    blk = mod.InvertedResidual(5, 8, 12, stride=2, t=3)  # in .model too: x need not have inp channels
    assert tuple(blk(torch.zeros(1, 5, 16, 16)).shape) == (1, 12, 8, 8)
