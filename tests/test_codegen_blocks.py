"""Generated block classes build, for other arguments than the model's, what the block builds.

Each class is constructed with other parameter values and input sizes than any use in its
model, and compared with a reference: a model that writes the block's body out with those
values (its parameters become model constants, its inputs model inputs of those shapes).
Both are run by torch: the state_dict of the class must have the reference's keys and
shapes, and, given the reference's weights, the class must compute the reference's outputs.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MODELS, import_generated

from graphc.api import compile_source

torch = pytest.importorskip("torch")

CASES = Path(__file__).parent / "cases" / "codegen"

# (file, class, constructor arguments by name, input shapes); every argument named, so the
# classes' signatures are part of what is checked
USES = [
    (MODELS / "resnet18.model", "BasicBlock", {"c": 24}, [(2, 24, 9, 9)]),
    (MODELS / "resnet18.model", "DownBlock", {"in_channels": 10, "c": 24, "stride": 3}, [(2, 10, 9, 9)]),
    (MODELS / "unet.model", "DoubleConv", {"in_channels": 5, "c": 12}, [(2, 5, 8, 8)]),
    (MODELS / "unet.model", "Down", {"in_channels": 6, "c": 10}, [(2, 6, 8, 8)]),
    (MODELS / "unet.model", "Up", {"in_channels": 20, "skip_channels": 7, "c": 9}, [(2, 20, 4, 4), (2, 7, 8, 8)]),
    (MODELS / "mobilenet_v2.model", "ConvBN", {"in_channels": 6, "c": 10, "k": 5, "stride": 2, "groups": 2},
     [(2, 6, 9, 9)]),
    (MODELS / "mobilenet_v2.model", "Depthwise", {"in_channels": 12, "inp": 6, "c": 10}, [(2, 12, 8, 8)]),
    (MODELS / "mobilenet_v2.model", "InvertedResidual", {"in_channels": 5, "inp": 4, "c": 7, "stride": 2, "t": 3},
     [(2, 5, 8, 8)]),
    (MODELS / "mobilenet_v2.model", "InvertedResidualAdd", {"c": 6, "t": 2}, [(2, 6, 8, 8)]),
    (MODELS / "resnet50.model", "Bottleneck", {"c": 5}, [(2, 20, 6, 6)]),
    (MODELS / "resnet50.model", "BottleneckDown", {"in_channels": 7, "c": 5, "stride": 2}, [(2, 7, 6, 6)]),
    (CASES / "block_one_tensor_twice.model", "Pair", {"in_channels": 9, "c": 12, "g": 3},
     [(2, 9, 5, 5), (2, 9, 5, 5)]),
    # blocks used once, where the first use's sizes agree by chance
    (CASES / "single_use_block_sizes.model", "Stem", {"in_channels": 3, "c": 8}, [(2, 3, 8, 8)]),
    (CASES / "single_use_block_sizes.model", "Residual", {"c": 8}, [(2, 8, 5, 5)]),
    (CASES / "single_use_block_sizes.model", "Up", {"in_channels": 10, "skip_channels": 6, "c": 4},
     [(2, 10, 3, 3), (2, 6, 6, 6)]),
    (CASES / "single_use_block_features.model", "Encoder", {"input_size": 5, "h": 3}, [(2, 7, 5)]),
    (CASES / "single_use_block_features.model", "Head", {"fc_in_features": 50, "n": 7}, [(2, 2, 5, 5)]),
    (CASES / "single_use_block_features.model", "Attend", {"d_model": 12, "heads": 3}, [(2, 5, 12)]),
    (CASES / "single_use_block_features.model", "Recur", {"input_size": 5, "fc_in_features": 3, "h": 3, "bi": False},
     [(2, 7, 5)]),
    (CASES / "single_use_block_features.model", "Recur", {"input_size": 5, "fc_in_features": 6, "h": 3, "bi": True},
     [(2, 7, 5)]),
]


def reference(text: str, block: str, args: dict, shapes: list) -> str:
    """The file's blocks and constants, and a model that is ``block``'s body written out:
    its parameters as constants of the values in ``args``, its inputs of ``shapes``."""
    model_at = re.search(r"^model \w+ \{", text, re.M).start()
    m = re.search(rf"^block {block}\(([^)]*)\) \{{", text, re.M)
    params = [p.split("=")[0].strip() for p in m.group(1).split(",") if p.strip()]
    body = text[m.end():_closing(text, m.end() - 1)]
    shapes = iter(shapes)
    body = re.sub(r"^(\s*)input (\w+)\s*$",
                  lambda g: f"{g.group(1)}input {g.group(2)}: [{', '.join(map(str, next(shapes)))}]", body, flags=re.M)
    consts = "".join(f"    const {p} = {str(args[p]).lower() if isinstance(args[p], bool) else args[p]}\n"
                     for p in params)
    return text[:model_at] + "model Reference {\n" + consts + body + "}\n"


def _closing(text: str, at: int) -> int:
    depth = 0
    for i in range(at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise AssertionError("unbalanced braces")


def _build(text: str, path: Path, tmp_path: Path, name: str):
    comp = compile_source(text, str(path))
    assert comp.ok, comp.diagnostics
    out = tmp_path / f"{name}.py"
    out.write_text(comp.python_source())
    return import_generated(out, name)


def problems(path: Path, cls: str, args: dict, shapes: list, tmp_path: Path) -> list[str]:
    """What differs between the class built with ``args`` and the reference (empty: nothing)."""
    text = path.read_text()
    mod = _build(text, path, tmp_path, f"gen_{path.stem}_{cls}")
    ref = _build(reference(text, cls, args, shapes), path, tmp_path, f"ref_{path.stem}_{cls}").MODEL().eval()
    try:
        block = getattr(mod, cls)(**args).eval()
    except TypeError as e:  # the constructor takes other arguments
        return [f"{cls}(**{args}): {e}"]
    got = {k: tuple(v.shape) for k, v in block.state_dict().items()}
    want = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    if got != want:
        return [f"{cls}: state_dict {got} != reference {want}"]
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(-0.5, 0.5)
        block.load_state_dict(ref.state_dict())
        inputs = [torch.randn(s) for s in shapes]
        outs, refs = block(*inputs), ref(*inputs)
    outs, refs = (o if isinstance(o, tuple) else (o,) for o in (outs, refs))
    if [o.shape for o in outs] != [r.shape for r in refs] or \
            not all(torch.allclose(o, r, atol=1e-5) for o, r in zip(outs, refs)):
        return [f"{cls}: outputs differ from the reference's"]
    return []


@pytest.mark.parametrize(("path", "cls", "args", "shapes"), USES,
                         ids=[f"{u[0].stem}-{u[1]}" for u in USES])
def test_block_class_builds_what_the_block_builds_for_other_values(path, cls, args, shapes, tmp_path):
    assert problems(path, cls, args, shapes, tmp_path) == []


def test_the_check_fails_without_trials(tmp_path, monkeypatch):
    """Without trials a block used once has literal sizes again: the check sees it."""
    from graphc.emit.provenance import Trials

    monkeypatch.setattr(Trials, "run", lambda self, s0, signature: [])
    path, cls, args, shapes = next(u for u in USES if u[1] == "Stem")
    assert problems(path, cls, args, shapes, tmp_path)
    path, cls, args, shapes = next(u for u in USES if u[1] == "Head")  # Linear(36) after Flatten, 36 == n
    assert problems(path, cls, {"n": 7}, shapes, tmp_path)


def test_the_check_fails_for_a_wrong_size(tmp_path):
    path, cls, args, shapes = next(u for u in USES if u[1] == "Up" and "cases" in str(u[0]))  # c + skip_channels
    assert problems(path, cls, {**args, "skip_channels": 5}, shapes, tmp_path)


def test_sizes_are_written_as_parameters_not_literals(tmp_path):
    comp = compile_source((CASES / "single_use_block_sizes.model").read_text(), "s.model")
    code = comp.python_source()
    assert "self.bn = nn.BatchNorm2d(c)" in code
    assert "self.conv = nn.Conv2d(c + skip_channels, c, 3, padding=1)" in code
    assert "def __init__(self, c):" in code  # Residual: add(x) ties the input's channels to c
    comp = compile_source((CASES / "single_use_block_features.model").read_text(), "f.model")
    code = comp.python_source()
    assert "self.fc = nn.Linear(2 * h, h)" in code
    assert "d_model=d_model," in code


def test_trials_stop_at_their_budget(monkeypatch, tmp_path):
    """Past the budget a class keeps the evidence of its uses, and the code still runs."""
    from graphc.emit import provenance

    monkeypatch.setattr(provenance.Trials, "__post_init__", lambda self: None)  # a budget of 0
    mod = _build((MODELS / "unet.model").read_text(), MODELS / "unet.model", tmp_path, "unet_no_trials")
    assert tuple(mod.MODEL()(*mod.example_inputs(1)).shape) == (1, 2, 32, 32)  # 16 * h, h = 2


# ---------------------------------------------------------------- lint and names
RUFF_FILES = sorted(MODELS.glob("*.model")) + sorted(CASES.glob("*.model"))


def _ruff(paths, *extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated",
                           "--output-format", "concise", *extra, *map(str, paths)], capture_output=True, text=True)


def test_generated_files_pass_ruff_default_rules(tmp_path):
    """Every generated module and training script, under the installed ruff's default rules."""
    paths = []
    for f in RUFF_FILES:
        comp = compile_source(f.read_text(), str(f))
        assert comp.ok, comp.diagnostics
        d = tmp_path / f.stem
        d.mkdir()
        paths.append(d / f"{comp.module_stem}.py")
        paths[-1].write_text(comp.python_source())
        if comp.train_source() is not None:
            paths.append(d / f"train_{comp.module_stem}.py")
            paths[-1].write_text(comp.train_source())
    proc = _ruff(paths)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the check can fail: an unsorted __all__ and a needless noqa are findings
    bad = tmp_path / "bad.py"
    bad.write_text("import os  # noqa: E402\n\n__all__ = ['b', 'a']\nprint(os)\n")
    proc = _ruff([bad])
    assert "RUF022" in proc.stdout and "RUF100" in proc.stdout, proc.stdout + proc.stderr


def test_all_is_sorted_as_ruff_sorts_it(tmp_path):
    """ruff_sort_key orders names as RUF022 wants, digits, case and underscores included."""
    import random

    from graphc.emit.ruff_order import ruff_sort_key

    rng = random.Random(0)
    pieces = ["a", "B", "b", "Z", "_", "0", "00", "01", "1", "2", "9", "10", "x", "MODEL", "Net", "v", "é"]
    files = []
    for i in range(60):
        names = {"".join(rng.choice(pieces) for _ in range(rng.randint(1, 5))) for _ in range(rng.randint(2, 12))}
        names = sorted((n for n in names if n.isidentifier()), key=ruff_sort_key)
        files.append(tmp_path / f"m{i}.py")
        files[-1].write_text(f"__all__ = {names!r}\n")
    proc = _ruff(files, "--select", "RUF022")
    assert proc.returncode == 0, proc.stdout
    files[0].write_text("__all__ = ['Block_10', 'Block_2']\n")  # not natural order: a finding
    assert _ruff(files[:1], "--select", "RUF022").returncode == 1


CONSTANTS = '''
const hidden = 128
const ff = hidden * 4
const unused = 7
const nn = 3
const Model = 2
const MODEL = 5
block Layer(width=hidden) {
    input x
    y = x -> fc: Linear(width) -> ReLU -> out: Linear(ff // 8)
    output y
}
model MLP {
    input x: [B, hidden // 2]
    y = x -> in_proj: Linear(hidden + nn - Model) -> Layer() -> head: Linear(MODEL)
    output y
}
'''


def test_top_level_constants_stay_names(tmp_path):
    comp = compile_source(CONSTANTS, "consts.model")
    assert comp.ok, comp.diagnostics
    code = comp.python_source()
    for line in ["HIDDEN = 128", "FF = HIDDEN * 4", "NN = 3", "MODEL_1 = 2", "MODEL_2 = 5",
                 "def __init__(self, in_features, width=HIDDEN):", "self.out = nn.Linear(width, FF // 8)",
                 "self.in_proj = nn.Linear(64, HIDDEN + NN - MODEL_1)", "self.head = nn.Linear(64, MODEL_2)",
                 "torch.randn((batch_size, HIDDEN // 2))", "MODEL = MLP"]:
        assert line in code, line
    assert "UNUSED" not in code
    path = tmp_path / "consts.py"
    path.write_text(code)
    mod = import_generated(path, "consts_gen")
    assert (mod.HIDDEN, mod.FF, mod.MODEL) == (128, 512, mod.MLP)
    assert tuple(mod.MODEL()(*mod.example_inputs(3)).shape) == (3, 5)
    assert _ruff([path]).returncode == 0
