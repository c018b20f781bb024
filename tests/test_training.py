"""Training: the generated script runs, records, resumes and fails clearly."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import MODELS, run_graphc

from graphc.api import compile_source

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

RECORD_KEYS = {"epoch", "train_loss", "val_loss", "val_accuracy", "val_top5_accuracy", "steps", "lr", "seconds",
               "world_size"}


def build(tmp_path, src: str, name="net"):
    f = tmp_path / f"{name}.model"
    f.write_text(src)
    proc = run_graphc("build", f, "-o", tmp_path / "gen")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp_path / "gen" / f"train_{name}.py"


def run_script(script, *args, timeout=300):
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def records(out: Path):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits_run")
    proc = run_graphc("train", MODELS / "digits.model", "--out", out, "--epochs", "4", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_graphc_train_digits_learns_and_records(digits_run):
    recs = records(digits_run)
    assert [r["epoch"] for r in recs] == [1, 2, 3, 4]
    assert all(set(r) == RECORD_KEYS for r in recs)
    assert all(r["world_size"] == 1 for r in recs)
    assert recs[-1]["val_accuracy"] > 0.9, recs[-1]
    assert recs[-1]["train_loss"] < recs[0]["train_loss"]


def test_checkpoints_load_with_weights_only(digits_run):
    for name in ("last.pt", "best.pt"):
        ckpt = torch.load(digits_run / name, map_location="cpu", weights_only=True)
        assert {"model", "optimizer", "scheduler", "epoch", "rng"} <= set(ckpt)
    assert torch.load(digits_run / "last.pt", weights_only=True)["epoch"] == 4
    assert not list(digits_run.glob("*.tmp"))


def test_epoch_lines_printed(tmp_path):
    script = build(tmp_path, (MODELS / "digits.model").read_text(), "digits")
    proc = run_script(script, "--epochs", "1", "--out", tmp_path / "run", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("epoch 1/1  train_loss ") and "val_acc" in line and " lr " in line


@pytest.mark.slow  # a real kill mid-training, then a resume: make test-fast skips it
def test_sigkill_then_resume_records_every_epoch_once(tmp_path):
    script = build(tmp_path, (MODELS / "digits.model").read_text(), "digits")
    out = tmp_path / "run"
    # four epochs of 719 steps: killed once the first is recorded, three epochs before the run ends
    args = [sys.executable, str(script), "--epochs", "4", "--batch-size", "2", "--out", str(out), "--quiet"]
    # one torch thread: on a busy machine, oversubscribed threads made two epochs take minutes
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 600
    metrics = out / "metrics.jsonl"
    while time.time() < deadline:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 1:
            break
        if proc.poll() is not None:
            pytest.fail(f"training ended before it could be killed: {proc.stderr.read().decode()}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = len(records(out))
    assert 1 <= killed_at < 4
    done = subprocess.run([*args, "--resume"], capture_output=True, text=True, env=env, timeout=600)  # one thread too
    assert done.returncode == 0, done.stderr
    assert [r["epoch"] for r in records(out)] == [1, 2, 3, 4]
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 4


def test_corrupt_checkpoint_is_a_clear_error_and_is_kept(tmp_path):
    script = build(tmp_path, (MODELS / "digits.model").read_text(), "digits")
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_bytes(b"this is not a checkpoint")
    proc = run_script(script, "--epochs", "1", "--out", out, "--resume")
    assert proc.returncode == 2
    assert "cannot load checkpoint" in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "last.pt").read_bytes() == b"this is not a checkpoint"


@pytest.mark.serial
def test_torchrun_two_processes(tmp_path):
    script = build(tmp_path, (MODELS / "digits.model").read_text(), "digits")
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           str(script), "--epochs", "2", "--out", str(out), "--device", "cpu"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    recs = records(out)
    assert [r["epoch"] for r in recs] == [1, 2]  # rank 0 alone writes
    assert all(r["world_size"] == 2 for r in recs)
    assert proc.stdout.count("epoch 2/2") == 1   # and prints
    assert recs[-1]["val_accuracy"] > 0.5


def test_bf16_autocast_on_cpu(tmp_path):
    script = build(tmp_path, (MODELS / "digits.model").read_text(), "digits")
    proc = run_script(script, "--epochs", "1", "--out", tmp_path / "run", "--precision", "bf16", "--device", "cpu",
                      "--batch-size", "256")
    assert proc.returncode == 0, proc.stderr
    assert records(tmp_path / "run")[0]["train_loss"] > 0


BINARY = """model Cancer {
    input x: [B, 30]
    y = x -> Linear(16) -> ReLU -> Linear(1)
    output y
    train {
        data = breast_cancer()
        loss = BCEWithLogitsLoss()
        optimizer = Adam(lr=0.01)
        normalize = true
        epochs = 3
        early_stopping = 2
    }
}
"""

DIGITS_FLAT = """model Digits {
    input x: [B, 64]
    y = x -> Linear(32) -> ReLU -> Linear(10)
    output y
    train {
        data = digits(flatten=true)
        loss = CrossEntropyLoss()
    }
}
"""

REGRESSION = """model Diabetes {
    input x: [B, 10]
    y = x -> Linear(32) -> ReLU -> Linear(1)
    output y
    train {
        data = diabetes()
        loss = HuberLoss(delta=10.0)
        optimizer = SGD(lr=0.001, momentum=0.9, nesterov=true)
        scheduler = ReduceLROnPlateau(patience=1)
        clip_grad_norm = 1.0
        epochs = 3
    }
}
"""


def test_binary_classification(tmp_path):
    script = build(tmp_path, BINARY, "cancer")
    proc = run_script(script, "--out", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    recs = records(tmp_path / "run")
    assert recs[-1]["val_accuracy"] > 0.8


def test_regression(tmp_path):
    script = build(tmp_path, REGRESSION, "diabetes")
    proc = run_script(script, "--out", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    recs = records(tmp_path / "run")
    assert "val_accuracy" not in recs[0] and recs[-1]["val_loss"] > 0


NPZ = """model Arrays {
    input x: [B, 5]
    y = x -> Linear(3)
    output y
    train {
        data = npz("data.npz")
        loss = CrossEntropyLoss()
        epochs = 2
        batch_size = 8
    }
}
"""


def test_npz_data_checked_before_training(tmp_path, monkeypatch):
    import numpy as np

    script = build(tmp_path, NPZ, "arrays")
    monkeypatch.chdir(tmp_path)  # the path in the .model file is relative
    np.savez(tmp_path / "data.npz", x=np.random.rand(40, 5).astype("float32"), y=np.arange(40) % 3)
    proc = run_script(script, "--out", tmp_path / "ok")
    assert proc.returncode == 0, proc.stderr
    np.savez(tmp_path / "data.npz", x=np.random.rand(40, 6).astype("float32"), y=np.arange(40) % 3)
    proc = run_script(script, "--out", tmp_path / "bad")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "features have shape (32, 6), but the model's input is (N, 5)" in proc.stderr
    np.savez(tmp_path / "data.npz", x=np.random.rand(40, 5).astype("float32"), y=np.arange(40) % 7)
    proc = run_script(script, "--out", tmp_path / "bad2")
    assert proc.returncode == 2 and "labels range over [0, 6], but the model gives 3 class scores" in proc.stderr


def test_training_section_is_checked_statically():
    src = BINARY.replace("Linear(1)", "Linear(2)").replace("Adam(lr=0.01)", "Adma(lr=0.01)")
    comp = compile_source(src, "c.model")
    got = [(d.code, d.message) for d in comp.diagnostics]
    assert ("unknown-component", "unknown optimizer 'Adma'") in got
    comp = compile_source(BINARY.replace("Linear(1)", "Linear(2)"), "c.model")
    assert [d.code for d in comp.errors] == ["loss-mismatch"]
    assert "needs one score per sample" in comp.errors[0].message


def test_component_rules_are_checked_statically():
    """What torch would refuse when the script builds its parts is an error at check time."""
    cases = [
        ('optimizer = Adagrad(lr=0.01)\n        scheduler = OneCycleLR(max_lr=0.1)',
         "OneCycleLR cycles the momentum, but Adagrad has none"),
        ('optimizer = SGD(lr=0.1, momentum=0.9, dampening=0.1, nesterov=true)',
         "SGD with nesterov=true needs momentum > 0 and dampening = 0"),
        ('val_data = breast_cancer()',
         "val_data cannot be breast_cancer(), a scikit-learn data set with no part of its own for validation"),
    ]
    for line, message in cases:
        comp = compile_source(BINARY.replace("optimizer = Adam(lr=0.01)", line), "c.model")
        assert [(d.code, d.message) for d in comp.errors] == [("invalid-train", message)], line
    ok = BINARY.replace("optimizer = Adam(lr=0.01)",
                        "optimizer = Adagrad(lr=0.01)\n        scheduler = OneCycleLR(0.1, cycle_momentum=false)")
    assert not compile_source(ok, "c.model").errors


def test_the_last_layer_is_asked_what_its_values_can_be():
    """BCELoss after a layer whose values leave [0, 1] fails in torch: an error; NLLLoss on raw
    scores learns nothing: a warning; a Sigmoid or Hardsigmoid fits BCELoss."""
    bce = BINARY.replace("BCEWithLogitsLoss()", "BCELoss()")
    comp = compile_source(bce, "c.model")
    assert [(d.code, d.severity) for d in comp.diagnostics] == [("loss-mismatch", "error")]
    assert "ends with Linear, whose values are not confined to [0, 1]" in comp.diagnostics[0].message
    for ending in ("Sigmoid", "Hardsigmoid"):
        assert not compile_source(bce.replace("Linear(1)", f"Linear(1) -> {ending}"), "c.model").diagnostics
    nll = DIGITS_FLAT.replace("CrossEntropyLoss()", "NLLLoss()")
    comp = compile_source(nll, "c.model")
    assert [(d.code, d.severity) for d in comp.diagnostics] == [("activation-before-loss", "warning")]
    assert not compile_source(nll.replace("Linear(10)", "Linear(10) -> LogSoftmax(1)"), "c.model").diagnostics
    dense = DIGITS_FLAT.replace("[B, 64]", "[B, 1, 8, 8]").replace("digits(flatten=true)", "digits()") \
        .replace("Linear(32) -> ReLU -> Linear(10)", "Conv2d(10, 3, padding=1)")
    comp = compile_source(dense, "c.model")
    assert [d.code for d in comp.errors] == ["loss-mismatch"]
    assert "one label per sample, but output 'y' is (B, 10, 8, 8)" in comp.errors[0].message


def test_graphc_train_without_train_section_is_a_usage_error():
    proc = run_graphc("train", MODELS / "resnet18.model")  # a torchvision twin: no train section
    assert proc.returncode == 2 and "has no train section" in proc.stderr


def test_generated_train_script_is_deterministic_and_ruff_clean(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = build(tmp_path / "a", (MODELS / "digits.model").read_text(), "digits")
    b = build(tmp_path / "b", (MODELS / "digits.model").read_text(), "digits")
    assert a.read_bytes() == b.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select", "E,F,W,B",
                           "--line-length", "120", str(a)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


FILES = """model Files {{
    input x: [B, {shape}]
    y = x -> Flatten -> Linear(2)
    output y
    train {{
        data = {data}
        {val}
        loss = CrossEntropyLoss()
        epochs = 2
        batch_size = 4
    }}
}}
"""


def _run_files(tmp_path, monkeypatch, shape, data, val=""):
    script = build(tmp_path, FILES.format(shape=shape, data=data, val=val), "files")
    monkeypatch.chdir(tmp_path)
    proc = run_script(script, "--out", tmp_path / "run", "--quiet")
    assert proc.returncode == 0, proc.stderr
    return records(tmp_path / "run")


def test_csv_data(tmp_path, monkeypatch):
    rows = ["a,b,label"] + [f"{i % 5},{(i * 7) % 3},{i % 2}" for i in range(30)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    recs = _run_files(tmp_path, monkeypatch, "2", 'csv("d.csv", target="label")')
    assert len(recs) == 2 and recs[0]["val_accuracy"] is not None


def test_pt_data_with_probability_targets_and_val_file(tmp_path, monkeypatch):
    x = torch.randn(24, 3)
    probs = torch.softmax(torch.randn(24, 2), dim=1)
    torch.save({"x": x, "y": probs}, tmp_path / "train.pt")
    torch.save({"x": x[:8], "y": probs[:8]}, tmp_path / "val.pt")
    recs = _run_files(tmp_path, monkeypatch, "3", 'pt("train.pt")', 'val_data = pt("val.pt")')
    assert len(recs) == 2 and 0 <= recs[-1]["val_accuracy"] <= 1


def test_image_folder_data(tmp_path, monkeypatch):
    from PIL import Image

    for label, color in (("cats", 30), ("dogs", 220)):
        d = tmp_path / "images" / label
        d.mkdir(parents=True)
        for i in range(6):
            Image.new("L", (10, 12), color + i).save(d / f"{i}.png")
    recs = _run_files(tmp_path, monkeypatch, "1, 6, 5", 'image_folder("images", size=(6, 5), grayscale=true)')
    assert recs[-1]["val_accuracy"] is not None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16(tmp_path):
    script = build(tmp_path, (MODELS / "digits.model").read_text(), "digits")
    proc = run_script(script, "--epochs", "2", "--out", tmp_path / "run", "--device", "cuda", "--precision", "bf16")
    assert proc.returncode == 0, proc.stderr
    assert records(tmp_path / "run")[-1]["val_accuracy"] > 0.8
