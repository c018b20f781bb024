"""Training beyond float features and accuracy: token ids, smoke runs (--max-steps), a resumed
run's schedule, the metrics of each task, and `graphc eval`.

Every number is checked against torch or scikit-learn computing the same thing from the
checkpoint's weights and the data, never against graphc itself."""

import json
import subprocess
import sys

import pytest
from conftest import build_scripts as build
from conftest import import_generated, run_graphc, run_scripts

from graphc.api import compile_source

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
metrics = pytest.importorskip("sklearn.metrics")
datasets = pytest.importorskip("sklearn.datasets")


def run(script, *args, cwd=None):
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def records(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def one_line(proc):
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def val_split(n, seed=0, fraction=0.2):
    """The validation indices, drawn the way docs/training.md says: a seeded permutation."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:max(1, int(round(n * fraction)))]


def outputs(script, stem, cls, ckpt_path, x):
    """The model's outputs on x with the checkpoint's weights (and normalization), in plain torch."""
    model = getattr(import_generated(script.parent / f"{stem}.py", f"gen_{stem}_{id(x)}"), cls)()
    ckpt = torch.load(ckpt_path, weights_only=True)
    model.load_state_dict(ckpt["model"])
    model.eval()
    if ckpt["normalization"] is not None:
        x = (x - ckpt["normalization"]["mean"]) / ckpt["normalization"]["std"]
    with torch.no_grad():
        return model(x).double()


# ------------------------------------------------------------------ token ids
TOKENS = """model Tokens {{
    input tokens: long[B, 12]
    y = tokens -> Embedding(30, 16) -> mean(dim=1) -> Linear(3)
    output y
    train {{
        data = {data}
        loss = CrossEntropyLoss()
        optimizer = Adam(lr=0.02)
        epochs = 2
        batch_size = 16
    }}
}}
"""


def token_data(n=200, seed=0, high=30):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, high, size=(n, 12))
    return x, (x < 10).sum(axis=1) % 3  # a class the ids decide


@pytest.mark.parametrize("fmt", ["npz", "pt", "csv"])
def test_token_ids_train_two_epochs(tmp_path, fmt):
    x, y = token_data()
    if fmt == "npz":
        np.savez(tmp_path / "ids.npz", x=x, y=y)
        data = 'npz("ids.npz")'
    elif fmt == "pt":  # int32 ids: the script converts them to int64
        torch.save({"x": torch.tensor(x, dtype=torch.int32), "y": torch.tensor(y)}, tmp_path / "ids.pt")
        data = 'pt("ids.pt")'
    else:
        rows = [",".join([*(f"t{i}" for i in range(12)), "target"])]
        rows += [",".join(map(str, [*xi, yi])) for xi, yi in zip(x, y)]
        (tmp_path / "ids.csv").write_text("\n".join(rows) + "\n")
        data = 'csv("ids.csv")'
    script = build(tmp_path, TOKENS.format(data=data), "tokens")
    proc = run(script, "--out", tmp_path / "run", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    recs = records(tmp_path / "run")
    assert [r["epoch"] for r in recs] == [1, 2]
    # the recorded accuracy is the checkpoint's, on the ids of the validation split
    val = val_split(len(x))
    out = outputs(script, "tokens", "Tokens", tmp_path / "run" / "last.pt", torch.tensor(x)[val])
    assert recs[-1]["val_accuracy"] == pytest.approx(metrics.accuracy_score(y[val.numpy()], out.argmax(1)))


def test_token_ids_are_checked_when_the_script_starts(tmp_path):
    script = build(tmp_path, TOKENS.format(data='npz("ids.npz")'), "tokens")
    x, y = token_data()
    np.savez(tmp_path / "ids.npz", x=x.astype("float32"), y=y)
    proc = run(script, "--out", tmp_path / "a", cwd=tmp_path)
    assert proc.returncode == 2
    assert one_line(proc) == ("error: training data features are torch.float32, but the model's input is "
                              "torch.int64: token ids must be stored as integers")
    x[3, 4] = 30
    np.savez(tmp_path / "ids.npz", x=x, y=y)
    proc = run(script, "--out", tmp_path / "b", cwd=tmp_path)
    assert proc.returncode == 2
    assert one_line(proc) == ("error: training data ids range over [0, 30], but the Embedding takes ids in "
                              "[0, 29] (num_embeddings=30)")


def test_normalize_is_an_error_for_integer_inputs():
    src = TOKENS.format(data='npz("ids.npz")').replace("epochs = 2", "epochs = 2\n        normalize = true")
    comp = compile_source(src, "t.model")
    assert [(d.code, d.message) for d in comp.errors] == [
        ("invalid-train", "normalize = true standardizes float features, but input 'tokens' is int64 "
                          "(integer ids are not scaled)")]


# ------------------------------------------------------------------ --max-steps
DIGITS = """model Digits {
    input x: [B, 64]
    y = x -> Linear(32) -> ReLU -> Linear(10)
    output y
    train {
        data = digits(flatten=true)
        loss = CrossEntropyLoss()
        optimizer = Adam(lr=0.01)
        epochs = 3
    }
}
"""


def adam_steps(path):
    state = torch.load(path, weights_only=True)["optimizer"]["state"]
    return {int(s["step"]) for s in state.values()}


def test_max_steps_counts_optimizer_steps_across_epochs(tmp_path):
    script = build(tmp_path, DIGITS, "digits")
    out = tmp_path / "run"
    proc = run(script, "--out", out, "--max-steps", 50)  # 1438 training samples: 45 steps an epoch
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "max steps: stopped after 50 optimizer steps"
    recs = records(out)
    assert [(r["epoch"], r["steps"]) for r in recs] == [(1, 45), (2, 5)]
    assert recs[-1]["val_accuracy"] is not None
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 2
    assert adam_steps(out / "last.pt") == {50}  # torch's own count of the steps taken


def test_graphc_train_passes_max_steps_through(tmp_path):
    f = tmp_path / "digits.model"
    f.write_text(DIGITS)
    proc = run_graphc("train", f, "--epochs", "1", "--max-steps", "3", "--out", tmp_path / "run", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert [(r["epoch"], r["steps"]) for r in records(tmp_path / "run")] == [(1, 3)]
    assert adam_steps(tmp_path / "run" / "last.pt") == {3}


# ------------------------------------------------------------------ resume and the schedule
IRIS = """model Iris {{
    input x: [B, 4]
    y = x -> Linear(8) -> ReLU -> Linear(3)
    output y
    train {{
        data = iris()
        loss = CrossEntropyLoss()
        optimizer = SGD(lr=0.1, momentum=0.9)
        scheduler = {scheduler}
        epochs = 3
    }}
}}
"""


def torch_lrs(make, epochs, steps_per_epoch, per_batch):
    """The rate of each epoch of a run planned for `epochs`, from torch's scheduler itself: the
    rate of the epoch's batches (stepped per epoch) or after its last batch (per batch)."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    sched = make(opt, epochs, steps_per_epoch)
    lrs = []
    for _ in range(epochs):
        for _ in range(steps_per_epoch if per_batch else 0):
            opt.step()
            sched.step()
        lrs.append(opt.param_groups[0]["lr"])
        if not per_batch:
            opt.step()
            sched.step()
    return lrs


SCHEDULERS = [  # the scheduler, stepped per batch, and torch's own
    ("CosineAnnealingLR()", False,
     lambda opt, epochs, spe: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)),
    ("OneCycleLR(max_lr=0.5)", True,
     lambda opt, epochs, spe: torch.optim.lr_scheduler.OneCycleLR(opt, 0.5, epochs=epochs, steps_per_epoch=spe)),
]


def test_resume_with_more_epochs_follows_the_new_plan(tmp_path, subtests):
    """For each scheduler: 3 epochs, then --resume --epochs 6.  The four runs share one python
    process (conftest.run_scripts); each scheduler is its own subtest."""
    runs = []
    for k, (scheduler, _, _) in enumerate(SCHEDULERS):
        (tmp_path / str(k)).mkdir()
        script, out = build(tmp_path / str(k), IRIS.format(scheduler=scheduler), "iris"), tmp_path / str(k) / "run"
        runs += [(f"{k}-first", script, ["--out", out, "--quiet"], tmp_path / str(k)),
                 (f"{k}-resumed", script, ["--out", out, "--quiet", "--resume", "--epochs", 6], tmp_path / str(k))]
    results = run_scripts(runs)
    for k, (scheduler, per_batch, make) in enumerate(SCHEDULERS):
        with subtests.test(scheduler=scheduler):
            assert results[f"{k}-first"]["returncode"] == 0, results[f"{k}-first"]["stderr"]
            proc = results[f"{k}-resumed"]
            assert proc["returncode"] == 0, proc["stderr"]
            got = [r["lr"] for r in records(tmp_path / str(k) / "run")]
            # 120 training samples in batches of 32: 4 steps an epoch
            assert got[:3] == pytest.approx(torch_lrs(make, 3, 4, per_batch), rel=1e-9)
            assert got[3:] == pytest.approx(torch_lrs(make, 6, 4, per_batch)[3:], rel=1e-9)
            if not per_batch:
                assert got[3:] == sorted(got[3:], reverse=True) and min(got[3:]) > 0  # no fall to 0 and rise


# ------------------------------------------------------------------ metrics of each task
@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """Two epochs of DIGITS: (the .model file, the script, the run directory)."""
    tmp = tmp_path_factory.mktemp("digits")
    (tmp / "digits.model").write_text(DIGITS.replace("epochs = 3", "epochs = 2"))
    script = build(tmp, DIGITS.replace("epochs = 3", "epochs = 2"), "digits")
    proc = run(script, "--out", tmp / "run", "--quiet")
    assert proc.returncode == 0, proc.stderr
    return tmp / "digits.model", script, tmp / "run"


def digits_scores(script, ckpt, idx):
    x, y = datasets.load_digits(return_X_y=True)
    return outputs(script, "digits", "Digits", ckpt, torch.tensor(x / 16.0, dtype=torch.float32)[idx]), y[idx]


def test_classification_metrics_match_sklearn(digits_run):
    _, script, out = digits_run
    rec = records(out)[-1]
    scores, truth = digits_scores(script, out / "last.pt", val_split(1797))
    assert rec["val_accuracy"] == pytest.approx(metrics.accuracy_score(truth, scores.argmax(1)))
    assert rec["val_top5_accuracy"] == pytest.approx(
        metrics.top_k_accuracy_score(truth, scores, k=5, labels=range(10)))
    assert rec["val_top5_accuracy"] > rec["val_accuracy"]


# ------------------------------------------------------------------ graphc eval
def test_graphc_eval_on_the_validation_split(digits_run):
    model, script, out = digits_run
    proc = run_graphc("eval", model, "--checkpoint", out / "best.pt", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert set(got) == {"loss", "accuracy", "top5_accuracy", "samples"}
    scores, truth = digits_scores(script, out / "best.pt", val_split(1797))
    assert got["samples"] == len(truth) == 359
    assert got["accuracy"] == pytest.approx(metrics.accuracy_score(truth, scores.argmax(1)))
    assert got["top5_accuracy"] == pytest.approx(metrics.top_k_accuracy_score(truth, scores, k=5, labels=range(10)))
    assert got["loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(scores, torch.tensor(truth))))
    text = run(script, "--eval", out / "best.pt")  # the standalone script does the same
    assert text.returncode == 0 and text.stdout.startswith("loss ") and "accuracy" in text.stdout


def test_graphc_eval_on_a_data_file(digits_run, tmp_path):
    model, script, out = digits_run
    x, y = datasets.load_digits(return_X_y=True)
    idx = np.arange(0, 1797, 7)
    np.savez(tmp_path / "some.npz", x=(x[idx] / 16.0).astype("float32"), y=y[idx])
    proc = run_graphc("eval", model, "--checkpoint", out / "last.pt", "--data", tmp_path / "some.npz",
                      "--format", "json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    scores, truth = digits_scores(script, out / "last.pt", torch.tensor(idx))
    assert got["samples"] == len(idx)
    assert got["accuracy"] == pytest.approx(metrics.accuracy_score(truth, scores.argmax(1)))


def test_graphc_eval_errors_are_one_line(digits_run, tmp_path):
    model, script, out = digits_run
    proc = run_graphc("eval", model, "--checkpoint", tmp_path / "missing.pt")
    assert proc.returncode == 2 and one_line(proc) == f"graphc: error: no checkpoint {tmp_path / 'missing.pt'}"
    other = tmp_path / "other.model"
    other.write_text(DIGITS.replace("Linear(32)", "Linear(16)"))
    proc = run_graphc("eval", other, "--checkpoint", out / "last.pt")
    assert proc.returncode == 2 and "holds another model's weights" in one_line(proc)
    proc = run(script, "--eval", tmp_path / "missing.pt")
    assert proc.returncode == 2 and one_line(proc) == f"error: no checkpoint {tmp_path / 'missing.pt'}"


BINARY = """model Cancer {
    input x: [B, 30]
    y = x -> Linear(8) -> ReLU -> Linear(1)
    output y
    train {
        data = breast_cancer()
        loss = BCEWithLogitsLoss()
        optimizer = Adam(lr=0.003)
        normalize = true
        epochs = 2
        early_stopping_metric = "val_auc"
    }
}
"""


def test_binary_metrics_match_sklearn(tmp_path):
    script = build(tmp_path, BINARY, "cancer")
    out = tmp_path / "run"
    proc = run(script, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert " val_f1 " in proc.stdout and " val_auc " in proc.stdout
    x, y = datasets.load_breast_cancer(return_X_y=True)
    val = val_split(len(x))
    scores = outputs(script, "cancer", "Cancer", out / "last.pt", torch.tensor(x, dtype=torch.float32)[val])
    scores, truth = scores.reshape(-1).numpy(), y[val.numpy()]
    rec = records(out)[-1]
    assert rec["val_accuracy"] == pytest.approx(metrics.accuracy_score(truth, scores > 0))
    assert rec["val_f1"] == pytest.approx(metrics.f1_score(truth, scores > 0))
    assert rec["val_auc"] == pytest.approx(metrics.roc_auc_score(truth, scores), rel=1e-9)
    best = max(records(out), key=lambda r: r["val_auc"])["epoch"]  # the largest AUC is the best
    assert torch.load(out / "best.pt", weights_only=True)["epoch"] == best


def test_auc_counts_tied_scores_one_half(tmp_path):
    """Scores with ties (a model that gives few distinct values): AUC from midranks, as sklearn."""
    script = build(tmp_path, BINARY, "cancer")
    ns = vars(import_generated(script, "train_cancer_for_auc"))
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 4, 300).astype("float64")
    truth = rng.random(300) < 0.3 + 0.1 * scores
    got = ns["auc"](torch.tensor(scores), torch.tensor(truth))
    assert got == pytest.approx(metrics.roc_auc_score(truth, scores), rel=1e-12)
    assert ns["auc"](torch.tensor(scores), torch.zeros(300, dtype=torch.bool)) is None


REGRESSION = """model Reg {{
    input x: [B, 10]
    y = x -> Linear(16) -> ReLU -> Linear({outputs})
    output y
    train {{
        data = {data}
        loss = MSELoss()
        optimizer = Adam(lr=0.01)
        normalize = true
        epochs = 4
        early_stopping_metric = "{metric}"
    }}
}}
"""


@pytest.mark.parametrize("outputs_,metric", [(1, "val_r2"), (3, "val_mae")])
def test_regression_metrics_match_sklearn(tmp_path, outputs_, metric):
    x, y = datasets.load_diabetes(return_X_y=True)
    x = x.astype("float32")
    if outputs_ == 1:
        data, y = "diabetes()", y.reshape(-1, 1)
    else:  # three targets: R² is the mean of each column's, as sklearn's uniform average
        y = np.stack([y, 2 * y + 40 * x[:, 0], x[:, 2] * 100], axis=1).astype("float32")
        np.savez(tmp_path / "reg.npz", x=x, y=y)
        data = 'npz("reg.npz")'
    script = build(tmp_path, REGRESSION.format(outputs=outputs_, data=data, metric=metric), "reg")
    out = tmp_path / "run"
    proc = run(script, "--out", out, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    val = val_split(len(x))
    pred = outputs(script, "reg", "Reg", out / "last.pt", torch.tensor(x)[val]).numpy()
    truth = y[val.numpy()]
    recs = records(out)
    assert recs[-1]["val_mae"] == pytest.approx(metrics.mean_absolute_error(truth, pred), rel=1e-6)
    assert recs[-1]["val_r2"] == pytest.approx(metrics.r2_score(truth, pred), rel=1e-6, abs=1e-9)
    pick = max if metric == "val_r2" else min
    best = pick(recs, key=lambda r: r[metric])["epoch"]
    assert torch.load(out / "best.pt", weights_only=True)["epoch"] == best


@pytest.mark.parametrize("src,metric,message", [
    (REGRESSION.format(outputs=1, data="diabetes()", metric="{m}"), "val_accuracy",
     "val_accuracy is not measured for regression (MSELoss)"),
    (DIGITS, "val_r2", "val_r2 is not measured for classification (CrossEntropyLoss)"),
    (BINARY.replace('"val_auc"', '"{m}"'), "val_top5_accuracy",
     "val_top5_accuracy is not measured for binary classification (BCEWithLogitsLoss)"),
    (IRIS.format(scheduler="StepLR(2)"), "val_top5_accuracy",
     "val_top5_accuracy needs more than five classes, but the model gives 3"),
])
def test_early_stopping_metric_is_checked_against_the_task(src, metric, message):
    if "{m}" in src:
        src = src.replace("{m}", metric)
    else:
        src = src.replace("epochs = ", f'early_stopping_metric = "{metric}"\n        epochs = ', 1)
    comp = compile_source(src, "m.model")
    assert [(d.code, d.message) for d in comp.errors] == [("invalid-train", message)]
    for ok in ("val_loss", "val_f1", "val_auc", "val_accuracy"):
        good = compile_source(BINARY.replace('"val_auc"', f'"{ok}"'), "b.model")
        assert not good.errors, ok


@pytest.mark.serial
def test_binary_metrics_under_torchrun_gather_every_score(tmp_path):
    """Two processes with validation shards of 60 and 59 samples: AUC over all 119 scores."""
    script = build(tmp_path, BINARY.replace("epochs = 2", "epochs = 1\n        val_split = 0.21"), "cancer")
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           str(script), "--out", str(out), "--device", "cpu", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    x, y = datasets.load_breast_cancer(return_X_y=True)
    val = val_split(len(x), fraction=0.21)
    assert len(val) == 119
    scores = outputs(script, "cancer", "Cancer", out / "last.pt", torch.tensor(x, dtype=torch.float32)[val])
    scores, truth = scores.reshape(-1).numpy(), y[val.numpy()]
    rec = records(out)[-1]
    assert rec["world_size"] == 2
    assert rec["val_auc"] == pytest.approx(metrics.roc_auc_score(truth, scores), rel=1e-9)
    assert rec["val_f1"] == pytest.approx(metrics.f1_score(truth, scores > 0))
