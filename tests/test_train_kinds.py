"""Tasks beyond one label per sample: sequence labelling and language models ((B, T, V) scores,
(B, T) labels, padding left out), dense prediction ((B, C, H, W) scores, (B, H, W) labels) and
reconstruction (target = the input).  Each trains a few steps through the generated script on
data the test writes; the recorded loss and metrics are checked against torch and scikit-learn
computing them from the checkpoint's outputs, never against graphc."""

import json
import subprocess
import sys

import pytest
from conftest import build_scripts as build
from conftest import import_generated

from graphc.api import compile_source

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
metrics = pytest.importorskip("sklearn.metrics")


def run(script, *args, cwd=None):
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def last_record(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][-1]


def val_split(n, seed=0, fraction=0.2):
    """The validation indices as docs/training.md says they are drawn: a seeded permutation."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:max(1, int(round(n * fraction)))]


def outputs(script, stem, cls, ckpt, x):
    model = getattr(import_generated(script.parent / f"{stem}.py", f"gen_{stem}_{id(x)}"), cls)()
    model.load_state_dict(torch.load(ckpt, weights_only=True)["model"])
    model.eval()
    with torch.no_grad():
        return model(x).double()


def errors(src, cwd=None, monkeypatch=None):
    if cwd is not None:
        monkeypatch.chdir(cwd)
    return [(d.code, d.message) for d in compile_source(src, "m.model").errors]


# ------------------------------------------------------------------ language model
LM = """model LM {{
    input text: long[B, T]
    logits = text -> Embedding(20, 16) -> GRU(24) -> Linear({vocab})
    output logits
    train {{
        data = npz("lm.npz")
        loss = CrossEntropyLoss(ignore_index=0)
        optimizer = Adam(lr=0.01)
        epochs = 2
        batch_size = 16
    }}
}}
"""


def lm_data(n=80, t=10, seed=0):
    """Next-token targets; 0 pads the end of every other sequence, in the ids and the targets."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 20, size=(n, t))
    y = np.roll(x, -1, axis=1)
    y[:, -1] = 0
    for i in range(0, n, 2):
        cut = 3 + i % (t - 4)
        x[i, cut:], y[i, cut - 1:] = 0, 0
    return x, y


def test_language_model_loss_accuracy_and_perplexity_leave_padding_out(tmp_path):
    x, y = lm_data()
    np.savez(tmp_path / "lm.npz", x=x, y=y)
    script = build(tmp_path, LM.format(vocab=20), "lm")
    proc = run(script, "--out", tmp_path / "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert " val_acc " in proc.stdout and " val_ppl " in proc.stdout
    rec = last_record(tmp_path / "run")
    val = val_split(len(x))
    scores = outputs(script, "lm", "LM", tmp_path / "run" / "last.pt", torch.tensor(x)[val])  # (16, T, V)
    truth = torch.tensor(y)[val]
    token_loss = torch.nn.functional.cross_entropy(scores.reshape(-1, 20), truth.reshape(-1), ignore_index=0)
    keep = (truth != 0).reshape(-1).numpy()
    assert 0.3 < keep.mean() < 0.95  # padding that would change every number below if it counted
    assert rec["val_loss"] == pytest.approx(float(token_loss), rel=1e-5)
    assert rec["val_perplexity"] == pytest.approx(float(token_loss.exp()), rel=1e-5)
    pred = scores.argmax(-1).reshape(-1).numpy()
    assert rec["val_accuracy"] == pytest.approx(metrics.accuracy_score(truth.reshape(-1).numpy()[keep], pred[keep]))


def test_sequence_scores_against_one_label_per_sample_is_a_check_error():
    src = LM.format(vocab=20).replace('npz("lm.npz")', "digits(flatten=true)").replace("long[B, T]", "long[B, 64]")
    assert ("loss-mismatch", "output 'logits' (B, 64, 20) gives (B, T, V) scores per position, which "
            "CrossEntropyLoss compares with targets (B, 64), but digits() has one label per sample (B,)") \
        in errors(src)


def test_npz_targets_are_checked_against_the_positions_before_running(tmp_path, monkeypatch):
    x, y = lm_data()
    np.savez(tmp_path / "lm.npz", x=x, y=y[:, 0])  # one label per sequence
    assert errors(LM.format(vocab=20), tmp_path, monkeypatch) == [
        ("data-mismatch", "output 'logits' (B, T, 20) is (B, T, V) scores per position, which CrossEntropyLoss "
                          "compares with targets (B, T), but array 'y' of lm.npz is (80,)")]
    np.savez(tmp_path / "lm.npz", x=x, y=y[:, :7])  # T of the targets is not T of the ids
    assert errors(LM.format(vocab=20))[0][1].endswith("but array 'y' of lm.npz is (80, 7)")
    np.savez(tmp_path / "lm.npz", x=x, y=y.astype("float32"))
    assert errors(LM.format(vocab=20)) == [
        ("data-mismatch", "array 'y' of lm.npz holds float32, but CrossEntropyLoss per position takes integer "
                          "class labels")]
    np.savez(tmp_path / "lm.npz", tokens=x, y=y)
    assert errors(LM.format(vocab=20)) == [
        ("data-mismatch", "lm.npz has no array 'x' for input 'text' (it has tokens, y)")]


def test_labels_beyond_the_vocabulary_stop_the_script_with_the_numbers(tmp_path):
    x, y = lm_data()
    np.savez(tmp_path / "lm.npz", x=x, y=y)
    script = build(tmp_path, LM.format(vocab=12), "lm")  # ids up to 19 as targets, 12 scores
    proc = run(script, "--out", tmp_path / "run", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == ("error: training data labels range over [1, 19] (ignore_index=0 left out), "
                                   "but the model gives 12 class scores per position")


# ------------------------------------------------------------------ dense prediction
SEG = """model Seg {
    input image: [B, 1, 8, 8]
    mask = image -> Conv2d(8, 3, padding=1) -> ReLU -> Conv2d(3, 1)
    output mask
    train {
        data = npz("seg.npz")
        loss = CrossEntropyLoss(ignore_index=255)
        optimizer = Adam(lr=0.02)
        epochs = 2
        early_stopping_metric = "val_mean_iou"
    }
}
"""


def test_segmentation_pixel_accuracy_and_mean_iou_match_sklearn(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((60, 1, 8, 8)).astype("float32")
    y = np.minimum(x[:, 0] * 3, 2).astype("int64")
    y[::3, :2] = 255  # unlabelled pixels
    np.savez(tmp_path / "seg.npz", x=x, y=y)
    script = build(tmp_path, SEG, "seg")
    proc = run(script, "--out", tmp_path / "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rec = last_record(tmp_path / "run")
    val = val_split(len(x))
    scores = outputs(script, "seg", "Seg", tmp_path / "run" / "last.pt", torch.tensor(x)[val])
    truth = torch.tensor(y)[val]
    assert rec["val_loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(scores, truth, ignore_index=255)),
                                            rel=1e-5)
    keep = (truth != 255).reshape(-1).numpy()
    t, p = truth.reshape(-1).numpy()[keep], scores.argmax(1).reshape(-1).numpy()[keep]
    assert rec["val_pixel_accuracy"] == pytest.approx(metrics.accuracy_score(t, p))
    assert rec["val_mean_iou"] == pytest.approx(metrics.jaccard_score(t, p, average="macro"))
    assert 0 < rec["val_mean_iou"] < rec["val_pixel_accuracy"] < 1


def test_segmentation_labels_must_be_integers_per_pixel(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "seg.npz", x=rng.random((20, 1, 8, 8)).astype("float32"),
             y=rng.integers(0, 3, (20, 8, 8)).astype("float32"))
    script = build(tmp_path, SEG, "seg")  # built where the file is not: the script checks it
    proc = run(script, "--out", tmp_path / "run", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: training data targets must be integer labels of shape (N, 8, 8), one "
                                   "per position of the output, got torch.float32 (16, 8, 8)")


# ------------------------------------------------------------------ reconstruction
AE = """model AE {{
    input image: [B, 1, 8, 8]
    rec = image -> Flatten -> Linear(12) -> ReLU -> Linear(64) -> Unflatten(1, (1, 8, 8)){last}
    output rec
    train {{
        data = {data}
        target = image
        loss = {loss}
        optimizer = Adam(lr=0.01)
        epochs = 2
    }}
}}
"""


@pytest.mark.parametrize("loss,last,fn", [
    ("MSELoss()", "", torch.nn.functional.mse_loss),
    ("BCELoss()", " -> Sigmoid", torch.nn.functional.binary_cross_entropy),
])
def test_autoencoder_is_trained_against_its_input(tmp_path, loss, last, fn):
    rng = np.random.default_rng(0)
    x = rng.random((50, 1, 8, 8)).astype("float32")
    np.savez(tmp_path / "images.npz", x=x)  # no targets: the input is the target
    script = build(tmp_path, AE.format(data='npz("images.npz")', loss=loss, last=last), "ae")
    proc = run(script, "--out", tmp_path / "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rec = last_record(tmp_path / "run")
    val = torch.tensor(x)[val_split(len(x))].double()
    out = outputs(script, "ae", "AE", tmp_path / "run" / "last.pt", val.float())
    assert rec["val_loss"] == pytest.approx(float(fn(out, val)), rel=1e-5)
    assert rec["val_mae"] == pytest.approx(metrics.mean_absolute_error(val.reshape(10, -1), out.reshape(10, -1)))
    assert rec["val_mse"] == pytest.approx(metrics.mean_squared_error(val.reshape(10, -1), out.reshape(10, -1)))


def test_reconstruction_with_a_binary_cross_entropy_needs_inputs_in_0_1(tmp_path):
    np.savez(tmp_path / "images.npz", x=np.random.default_rng(0).normal(size=(20, 1, 8, 8)).astype("float32"))
    script = build(tmp_path, AE.format(data='npz("images.npz")', loss="BCELoss()", last=" -> Sigmoid"), "ae")
    proc = run(script, "--out", tmp_path / "run", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: training data features range over [-")
    assert proc.stderr.strip().endswith("compares the output with them (target = input): they must lie in [0.0, 1.0]")


@pytest.mark.parametrize("change,expected", [
    ({"last": " -> Flatten"},
     ("loss-mismatch", "target = image compares output 'rec' (B, 64) with input 'image' (B, 1, 8, 8): they must "
                       "have the same shape")),
    ({"loss": "CrossEntropyLoss()"},
     ("loss-mismatch", "target = image compares output 'rec' with input 'image', but CrossEntropyLoss takes class "
                       "labels")),
    ({"target": "target = rec"},
     ("invalid-train", "'target' names the input the output is compared with (an autoencoder: target = image)")),
])
def test_reconstruction_mistakes_are_check_errors(change, expected):
    args = {"data": "digits()", "loss": "MSELoss()", "last": ""}
    args.update({k: v for k, v in change.items() if k in args})
    src = AE.format(**args)
    if "target" in change:
        src = src.replace("target = image", change["target"])
    assert expected in errors(src)


def test_reconstruction_of_a_built_in_data_set_ignores_its_labels():
    comp = compile_source(AE.format(data="digits()", loss="MSELoss()", last=""), "ae.model")
    assert comp.ok, comp.diagnostics
    assert comp.program.training.task == "reconstruction"
    assert comp.program.training.metrics == ["mae", "mse"]
