"""graphc diff: keyed by node id, exit 0 / 1 / 2, and the parameter delta torch counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from graphc.cli import main

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"

A = """
model Net {
    input x: [B, 16]
    h = x -> fc1: Linear(32) -> ReLU
    y = h -> fc2: Linear(4)
    output y
}
"""


def files(tmp_path, b_text):
    a, b = tmp_path / "a.model", tmp_path / "b.model"
    a.write_text(A)
    b.write_text(b_text)
    return a, b


def test_same_network_exits_0(tmp_path, capsys):
    a, b = files(tmp_path, "# reformatted\n" + A.replace("    ", "  "))
    assert main(["diff", str(a), str(b)]) == 0
    assert "same network" in capsys.readouterr().out


def test_added_removed_changed(tmp_path, capsys):
    b_text = A.replace("fc1: Linear(32)", "fc1: Linear(64)").replace(
        "y = h -> fc2: Linear(4)", "y = h -> fc2: Linear(4) -> out: Linear(3)").replace("-> ReLU", "-> GELU")
    a, b = files(tmp_path, b_text)
    assert main(["diff", str(a), str(b), "--format", "json"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert [x["id"] for x in d["added"]] == ["gelu", "out"]
    assert [x["id"] for x in d["removed"]] == ["relu"]
    changed = {c["id"]: c for c in d["changed"]}
    assert "out_features 32 → 64" in changed["fc1"]["changes"]
    assert "in_features 32 → 64" in changed["fc2"]["changes"]
    # the parameter delta is torch's count of the two networks
    torch = pytest.importorskip("torch")
    nets = [torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Linear(32, 4)),
            torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.Linear(64, 4), torch.nn.Linear(4, 3))]
    counts = [sum(p.numel() for p in n.parameters()) for n in nets]
    assert d["totals"]["parameters"] == {"a": counts[0], "b": counts[1], "delta": counts[1] - counts[0]}


def test_text_and_github_name_the_delta(capsys):
    args = [str(MODELS / "resnet18.model"), str(MODELS / "resnet50.model")]
    assert main(["diff", *args]) == 1
    assert "+13,867,520" in capsys.readouterr().out  # torchvision: 25,557,032 - 11,689,512
    assert main(["diff", *args, "--format", "github"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert all(line.startswith("::notice file=") for line in out)
    assert "+13%2C867%2C520" not in out[-1] and "+13,867,520 parameters" in out[-1]


def test_usage_errors_exit_2(tmp_path, capsys):
    a, b = files(tmp_path, "model Broken {\n    input x: [B, 16]\n    y = x -> Linear(\n}\n")
    assert main(["diff", str(a), str(b)]) == 2
    assert main(["diff", str(a), str(tmp_path / "missing.model")]) == 2
    assert main(["diff", str(a)]) == 2
    assert main(["diff", str(a), str(a), "--model", "Nope"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_diff_never_imports_torch():
    code = ("import sys; from graphc.cli import main; "
            f"main(['diff', {str(MODELS / 'digits.model')!r}, {str(MODELS / 'lenet.model')!r}]); "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
