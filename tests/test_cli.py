"""The CLI in a subprocess, as users and CI run it: exit codes, formats, files."""

import json
import os
import sys
from pathlib import Path

from conftest import MODELS, ROOT, run_graphc

THREE_MISTAKES = """\
model Broken {
    input image: [B, 3, 32, 32]
    a = image -> Conv2d(16, kernal_size=3)
    b = image -> Conv2d(8, 3) -> Frobnicate(2)
    c = image -> Conv2d(8, 3, padding=1) -> MaxPool2d(2) -> Flatten -> Linear(10, in_features=100)
    output a, b, c
}
"""


def no_traceback(proc):
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_check_clean_models_exit_0():
    proc = run_graphc("check", MODELS)
    no_traceback(proc)
    assert proc.returncode == 0, proc.stdout
    assert "All checks passed" in proc.stdout


def test_three_independent_mistakes_reported_at_their_places(tmp_path):
    f = tmp_path / "broken.model"
    f.write_text(THREE_MISTAKES)
    proc = run_graphc("check", f)
    no_traceback(proc)
    assert proc.returncode == 1
    heads = [line for line in proc.stdout.splitlines() if line.startswith(str(f))]
    assert [h.split(": ")[0] for h in heads] == [f"{f}:3:29", f"{f}:4:34", f"{f}:5:95"], proc.stdout
    assert "kernal_size" in heads[0] and "did you mean 'kernel_size'" in proc.stdout
    assert "unknown layer 'Frobnicate'" in heads[1]
    assert "in_features=100 does not match the input, which has 2048" in heads[2]
    assert "^" in proc.stdout  # the caret under the place
    assert proc.stdout.rstrip().endswith("Found 3 errors in 1 file (1 checked).")


def test_json_format(tmp_path):
    f = tmp_path / "broken.model"
    f.write_text(THREE_MISTAKES)
    proc = run_graphc("check", "--format", "json", f, MODELS / "lenet.model")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert len(data) == 3
    assert set(data[0]) == {"file", "line", "column", "end_line", "end_column", "severity", "code",
                            "message", "hint"}
    assert [(d["line"], d["column"], d["code"]) for d in data] == [
        (3, 29, "unknown-argument"), (4, 34, "unknown-layer"), (5, 95, "shape-mismatch")]


def test_github_format(tmp_path):
    f = tmp_path / "broken.model"
    f.write_text(THREE_MISTAKES)
    proc = run_graphc("check", "--format", "github", f)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 1 and len(lines) == 3
    assert lines[0].startswith(f"::error file={f},line=3,col=29,")
    assert "::" in lines[0][2:]


def test_a_broken_file_does_not_stop_the_others(tmp_path):
    (tmp_path / "a.model").write_text("model A {\n    input x: [B, 3]\n    output x\n")
    (tmp_path / "b.model").write_text("model B {\n    input x: [B, 3]\n    y = x -> Linear(2)\n    output y\n}\n")
    (tmp_path / "c.model").write_text("model C {\n    input x: [B, 3]\n    y = x -> Linaer(2)\n    output y\n}\n")
    proc = run_graphc("check", "--format", "json", tmp_path)
    data = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert sorted(Path(d["file"]).name for d in data) == ["a.model", "c.model"]


def test_glob_input_and_strict(tmp_path):
    (tmp_path / "w.model").write_text(
        "model W {\n    input x: [B, 3]\n    input unused: [B, 3]\n    y = x -> Linear(2)\n    output y\n}\n")
    proc = run_graphc("check", str(tmp_path / "*.model"))
    assert proc.returncode == 0 and "warning" in proc.stdout and "unused-input" in proc.stdout
    proc = run_graphc("check", "--strict", str(tmp_path / "*.model"))
    assert proc.returncode == 1


def test_usage_errors_exit_2():
    for args in (["check"], ["frobnicate"], ["viz", "models/lenet.model", "-o", "x.bmp"], []):
        proc = run_graphc(*args)
        no_traceback(proc)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)


def test_missing_file_is_a_diagnostic_not_a_traceback():
    proc = run_graphc("check", "does/not/exist.model", MODELS / "lenet.model")
    no_traceback(proc)
    assert proc.returncode == 1
    assert "does/not/exist.model:1:1: error: cannot read" in proc.stdout


def test_build_writes_module(tmp_path):
    proc = run_graphc("build", MODELS / "lenet.model", "-o", tmp_path)
    no_traceback(proc)
    assert proc.returncode == 0
    out = tmp_path / "lenet.py"
    assert out.exists() and "class LeNet(nn.Module):" in out.read_text()
    # the module and the training script of its train section, no temp files left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet.py", "train_lenet.py"]


def test_failed_build_writes_and_overwrites_nothing(tmp_path):
    src = tmp_path / "net.model"
    src.write_text("model Net {\n    input x: [B, 3]\n    y = x -> Linear(4)\n    output y\n}\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert run_graphc("build", src, "-o", out).returncode == 0
    before = (out / "net.py").read_bytes()
    src.write_text("model Net {\n    input x: [B, 3]\n    y = x -> Linear(0)\n    output y\n}\n")
    proc = run_graphc("build", src, "-o", out)
    no_traceback(proc)
    assert proc.returncode == 1 and "nothing was written" in proc.stderr
    assert (out / "net.py").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["net.py", "notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"


def test_summary_json():
    proc = run_graphc("summary", "--format", "json", MODELS / "resnet18.model")
    assert proc.returncode == 0
    data = json.loads(proc.stdout)
    assert {"model", "inputs", "outputs", "total_params", "trainable_params", "total_macs",
            "layers"} <= set(data)
    assert data["model"] == "ResNet18" and data["total_params"] == 11_689_512
    assert data["outputs"] == [{"name": "logits", "shape": "(B, 1000)"}]
    assert data["layers"][0] == {"name": "conv1", "kind": "Conv2d", "output_shape": "(B, 64, 112, 112)",
                                 "params": 9408, "macs": 118_013_952, "depth": 0,
                                 "activation_bytes": 64 * 112 * 112 * 4}
    assert sum(layer["params"] for layer in data["layers"]) == data["total_params"]


def test_summary_text():
    proc = run_graphc("summary", MODELS / "lenet.model")
    assert proc.returncode == 0
    assert "Total params:       61,706" in proc.stdout
    assert "fc1      Linear     (B, 120)         48,120   48,000     480 B" in proc.stdout


def test_summary_blocks_depth_and_batch():
    proc = run_graphc("summary", "--depth", "0", "--batch-size", "8", MODELS / "resnet18.model")
    assert proc.returncode == 0
    assert "layer1   Sequential         (B, 64, 56, 56)      147,968  462,422,016" in proc.stdout
    assert "BasicBlock" not in proc.stdout  # depth 0 hides the blocks inside layer1
    assert "Activations, batch 8:" in proc.stdout
    data = json.loads(run_graphc("summary", "--format", "json", MODELS / "resnet18.model").stdout)
    assert data["total_macs"] == 1_814_073_344 and data["param_bytes"] == 4 * 11_689_512
    assert {b["name"] for b in data["blocks"]} >= {"layer1", "layer1.0", "layer4.1"}


def test_viz_dot_without_graphviz_binary(tmp_path):
    env = {"PATH": str(Path(sys.executable).parent)}  # python, but no `dot`
    proc = run_graphc("viz", MODELS / "lenet.model", "-o", tmp_path / "lenet.dot", env=env)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "lenet.dot").read_text()
    assert text.startswith('digraph "LeNet"') and "(B, 6, 28, 28)" in text
    proc = run_graphc("viz", MODELS / "lenet.model", "-o", tmp_path / "lenet.svg", env=env)
    no_traceback(proc)
    assert proc.returncode == 2
    assert "graphviz 'dot' program is not installed" in proc.stderr
    assert not (tmp_path / "lenet.svg").exists()


def test_viz_svg(tmp_path):
    import shutil

    if shutil.which("dot") is None:
        import pytest

        pytest.fail("the graphviz binary is part of the test set-up (make test installs it)")
    proc = run_graphc("viz", MODELS / "resnet18.model", "-o", tmp_path / "r.svg")
    assert proc.returncode == 0, proc.stderr
    svg = (tmp_path / "r.svg").read_text()
    assert "<svg" in svg and "layer4.1" in svg


def test_check_imports_only_the_layer_modules_a_model_uses():
    code = (
        "import sys\n"
        "from graphc.cli import main\n"
        f"assert main(['check', {str(MODELS / 'lenet.model')!r}]) == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith('graphc.layers.')))\n"
    )
    import subprocess

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stdout.strip().splitlines()[-1]
    assert "graphc.layers.conv" in loaded and "graphc.layers.linear" in loaded, loaded
    assert "graphc.layers.attention" not in loaded and "graphc.layers.recurrent" not in loaded, loaded


def test_check_build_summary_viz_never_import_torch(tmp_path):
    code = (
        "import sys\n"
        "from graphc.cli import main\n"
        f"assert main(['check', {str(MODELS)!r}]) == 0\n"
        f"assert main(['build', {str(MODELS / 'resnet18.model')!r}, '-o', {str(tmp_path)!r}, '-q']) == 0\n"
        f"assert main(['summary', {str(MODELS / 'resnet18.model')!r}]) == 0\n"
        f"assert main(['viz', {str(MODELS / 'resnet18.model')!r}, '-o', {str(tmp_path / 'r.dot')!r}, '-q']) == 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('no torch')\n"
    )
    import subprocess

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ})
    assert proc.returncode == 0, proc.stderr
    assert "no torch" in proc.stdout


SYMBOLIC = """model Sym {
    input image: [B, 3, H, W]
    y = image -> Conv2d(8, 3, stride=2, padding=1) -> ReLU -> MaxPool2d(2) -> Flatten -> Linear(10)
    output y
}
"""


def test_symbolic_dims_and_set(tmp_path):
    f = tmp_path / "sym.model"
    f.write_text(SYMBOLIC)
    proc = run_graphc("check", f)
    assert proc.returncode == 1
    assert "the symbolic '8*(floor((H - 3)/4) + 1)*(floor((W - 3)/4) + 1)'" in proc.stdout
    assert "--set H=64 --set W=64" in proc.stdout
    proc = run_graphc("check", "--set", "H=64", "--set", "W=48", f)
    assert proc.returncode == 0, proc.stdout
    proc = run_graphc("check", "--set", "H=oops", f)
    assert proc.returncode == 2 and "is not an integer" in proc.stderr


def test_explain(tmp_path):
    proc = run_graphc("check", "--explain", MODELS / "lenet.model")
    assert proc.returncode == 0
    assert "conv1: Conv2d (B, 1, 32, 32) -> (B, 6, 28, 28)" in proc.stdout
    assert "fc1: Linear (B, 400) -> (B, 120)" in proc.stdout
    # where 400 comes from, and the weight + bias arithmetic ending in the total
    assert "    dims 1..3 merged: 16·5·5 = 400\n" in proc.stdout
    assert "    in_features = 400 (the input's last dim)\n    params = 400·120 + 120 = 48,120\n" in proc.stdout
    assert "    params = 156\n" in proc.stdout  # conv1: a layer without a formula line keeps the total
    proc = run_graphc("summary", "--explain", "--format", "json", MODELS / "lenet.model")
    data = json.loads(proc.stdout)
    assert any(line.startswith("pool2: MaxPool2d (B, 16, 10, 10) -> (B, 16, 5, 5)") for line in data["explain"])


def test_viz_collapse_and_depth(tmp_path):
    proc = run_graphc("viz", MODELS / "resnet18.model", "--collapse", "-o", tmp_path / "c.dot")
    assert proc.returncode == 0
    text = (tmp_path / "c.dot").read_text()
    assert "cluster" not in text and "BasicBlock ×2" in text and "147,968 params" in text
    assert '"layer1" -> "layer2"' in text and '"maxpool" -> "layer1"' in text
    proc = run_graphc("viz", MODELS / "resnet18.model", "--depth", "1", "-o", tmp_path / "d.dot")
    text = (tmp_path / "d.dot").read_text()
    assert 'subgraph "cluster_layer1"' in text and '"layer1.0" -> "layer1.1"' in text
    assert "layer1.0.conv1" not in text
