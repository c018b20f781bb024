"""Several outputs and loss expressions: a loss per output with weights, targets per output from
named .npz arrays, metrics per output, and the VAE's reconstruction plus KL term.  The numbers the
script reports are checked against the same loss computed in torch, and the metrics against
scikit-learn, on the checkpoint's outputs."""

import json
import subprocess
import sys

import pytest
from conftest import MODELS, build_scripts, import_generated, run_graphc

from graphc.api import compile_source

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
metrics = pytest.importorskip("sklearn.metrics")
F = torch.nn.functional

HEADS = """model Heads {{
    input image: [B, 1, 8, 8]
    h = image -> Flatten -> Linear(16) -> ReLU
    digit = h -> Linear(10)
    big = h -> Linear(1)
    output digit, big
    train {{
        data = {data}
        loss = {loss}
        optimizer = Adam(lr=0.01)
        epochs = 2
        {extra}
    }}
}}
"""


def _errors(src, name="m.model"):
    comp = compile_source(src, name)
    return [d for d in comp.diagnostics if d.severity == "error"]


def _write_heads(path, n=120):
    from sklearn.datasets import load_digits

    ds = load_digits()
    x = (ds.images[:n] / 16.0).astype("float32")[:, None]
    y = ds.target[:n].astype("int64")
    np.savez(path, x=x, y_digit=y, y_big=(y >= 5).astype("float32"))
    return x, y


def test_two_outputs_each_with_its_loss_weight_targets_and_metrics(tmp_path):
    """CrossEntropyLoss on one output and a weighted BCEWithLogitsLoss on the other, each against its
    own array of the .npz: the reported loss is the weighted sum torch computes on the checkpoint's
    outputs, and each output's metrics are scikit-learn's."""
    x, y = _write_heads(tmp_path / "heads.npz")
    src = HEADS.format(data='npz("heads.npz")', loss="CrossEntropyLoss(digit) + 0.5 * BCEWithLogitsLoss(big)",
                       extra="")
    script = build_scripts(tmp_path, src, "heads")
    text = script.read_text()
    assert "0.5 * BCEWithLogitsLoss(big)" in text and "_read_targets('heads.npz', ('y_digit', 'y_big'))" in text
    run = subprocess.run([sys.executable, str(script), "--out", "run", "--quiet"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert {"val_digit_accuracy", "val_digit_top5_accuracy", "val_big_accuracy", "val_big_f1",
            "val_big_auc"} <= set(rows[-1])
    run = subprocess.run([sys.executable, str(script), "--eval", "run/last.pt", "--data", "heads.npz",
                          "--format", "json"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    got = json.loads(run.stdout)
    model = import_generated(script.parent / "heads.py", "heads_gen").Heads()
    model.load_state_dict(torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"])
    model.eval()
    with torch.no_grad():
        digit, big = model(torch.from_numpy(x))
    yd, yb = torch.from_numpy(y), torch.from_numpy((y >= 5).astype("float32"))
    want = F.cross_entropy(digit, yd) + 0.5 * F.binary_cross_entropy_with_logits(big, yb[:, None])
    assert got["loss"] == pytest.approx(want.item(), rel=1e-5)
    assert got["digit_accuracy"] == pytest.approx(metrics.accuracy_score(y, digit.argmax(1).numpy()))
    assert got["digit_top5_accuracy"] == pytest.approx(
        metrics.top_k_accuracy_score(y, digit.numpy(), k=5, labels=range(10)))
    pred = (big[:, 0] > 0).numpy()
    assert got["big_accuracy"] == pytest.approx(metrics.accuracy_score(y >= 5, pred))
    assert got["big_f1"] == pytest.approx(metrics.f1_score(y >= 5, pred))
    assert got["big_auc"] == pytest.approx(metrics.roc_auc_score(y >= 5, big[:, 0].numpy()))
    assert got["samples"] == len(x)


def test_vae_trains_from_its_own_file_and_reports_torchs_elbo(tmp_path):
    """models/vae.model trains with `graphc train` on the digits; the loss `graphc eval` reports is
    64 times the pixels' binary cross-entropy plus the KL of mu and logvar from N(0, 1), computed in
    torch on the checkpoint's outputs (the same seed, so the same noise in z)."""
    run = run_graphc("train", MODELS / "vae.model", "--out", tmp_path / "run", "--epochs", "1",
                     "--max-steps", "3", "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["steps"] == 3 and {"val_reconstruction_mae", "val_reconstruction_mse"} <= set(row)
    from sklearn.datasets import load_digits

    x = (load_digits().data[:200] / 16.0).astype("float32")
    np.savez(tmp_path / "val.npz", x=x, y=load_digits().target[:200])
    ckpt_path = tmp_path / "run" / "last.pt"
    run = run_graphc("eval", MODELS / "vae.model", "--checkpoint", ckpt_path, "--data", tmp_path / "val.npz",
                     "--format", "json", "--device", "cpu", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    got = json.loads(run.stdout)
    ckpt = torch.load(ckpt_path, weights_only=True)
    comp = compile_source((MODELS / "vae.model").read_text(), "vae.model")
    (tmp_path / "vae_gen.py").write_text(comp.python_source())
    torch.manual_seed(ckpt["seed"])  # as --eval does: the weights' init, then the noise of z
    model = import_generated(tmp_path / "vae_gen.py", "vae_gen").VAE()
    model.load_state_dict(ckpt["model"])
    model.eval()
    xt = torch.from_numpy(x)
    with torch.no_grad():
        rec, mu, logvar = model(xt)
    kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(dim=1).mean()
    want = 64 * F.binary_cross_entropy(rec, xt) + kl
    assert got["loss"] == pytest.approx(want.item(), rel=1e-5)
    assert got["reconstruction_mae"] == pytest.approx(metrics.mean_absolute_error(x, rec.numpy()), rel=1e-5)
    assert got["reconstruction_mse"] == pytest.approx(metrics.mean_squared_error(x, rec.numpy()), rel=1e-5)


def test_shapes_data_masks_match_the_images(tmp_path):
    """The generated segmentation set: masks are the bright shape, 0/1 per pixel."""
    sys.path.insert(0, str(MODELS / "data"))
    try:
        import make_shapes
    finally:
        sys.path.pop(0)
    make_shapes.make(str(tmp_path / "s.npz"), n=50, seed=1)
    d = np.load(tmp_path / "s.npz")
    x, y = d["x"], d["y"]
    assert x.shape == (50, 1, 32, 32) and y.shape == (50, 32, 32) and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    assert x[:, 0][y == 1].mean() > x[:, 0][y == 0].mean() + 0.3


# ------------------------------------------------------------------ checked before anything runs
def test_each_loss_is_checked_against_its_output():
    """The single-output rules apply per term: class scores for CrossEntropyLoss, one score for a
    binary loss."""
    src = HEADS.format(data='npz("nowhere.npz")', loss="CrossEntropyLoss(big) + BCEWithLogitsLoss(digit)",
                       extra="")
    errs = _errors(src)
    assert any("BCEWithLogitsLoss needs one score per sample" in e.message and "'digit'" in e.message
               for e in errs), errs


def test_a_model_with_several_outputs_must_name_them():
    errs = _errors(HEADS.format(data="digits()", loss="CrossEntropyLoss()", extra=""))
    assert any("name the one CrossEntropyLoss compares" in e.message for e in errs), errs
    assert errs[0].span.line == 9


def test_several_data_targets_need_an_npz():
    errs = _errors(HEADS.format(data="digits()", loss="CrossEntropyLoss(digit) + BCEWithLogitsLoss(big)",
                                extra=""))
    assert any("y_digit, y_big" in e.message for e in errs), errs


def test_weights_must_be_constants():
    errs = _errors(HEADS.format(data='npz("h.npz")', loss="image * CrossEntropyLoss(digit)", extra=""))
    assert errs, "a weight that is not a constant is accepted"


def test_metric_of_an_output_for_early_stopping():
    ok = HEADS.format(data='npz("h.npz")', loss="CrossEntropyLoss(digit) + BCEWithLogitsLoss(big)",
                      extra='early_stopping_metric = "val_big_auc"')
    assert not _errors(ok)
    bad = ok.replace("val_big_auc", "val_digit_auc")
    errs = _errors(bad)
    assert any("val_digit_auc is not measured" in e.message and '"val_big_auc"' in (e.hint or "")
               for e in errs), errs


VAE = """model V {{
    input x: [B, 8]
    h = x -> Linear(4) -> ReLU
    mu = h -> Linear({mu})
    logvar = h -> Linear(2)
    rec = mu -> Linear(8) -> Sigmoid
    output rec, mu, logvar
    train {{
        data = npz("v.npz")
        loss = BCELoss(rec, x) + {kl}
    }}
}}
"""


def test_kl_term_takes_two_outputs_of_one_shape():
    assert not _errors(VAE.format(mu=2, kl="KLDivNormal(mu, logvar)"))
    errs = _errors(VAE.format(mu=3, kl="KLDivNormal(mu, logvar)"))
    assert any("must have the same shape" in e.message for e in errs), errs
    errs = _errors(VAE.format(mu=2, kl="KLDivNormal(mu)"))
    assert any("KLDivNormal takes 2 outputs, but 1 is named" in e.message for e in errs), errs


def test_reconstruction_term_checks_its_input():
    errs = _errors(VAE.format(mu=2, kl="KLDivNormal(mu, logvar)").replace("BCELoss(rec, x)", "BCELoss(mu, x)"))
    assert any("they must have the same shape" in e.message for e in errs), errs


ONE = """model One {{
    input image: [B, 64]
    rec = image -> Linear(8) -> ReLU -> Linear(64) -> Sigmoid
    output rec
    train {{
        data = digits(flatten=true)
        {lines}
    }}
}}
"""


def test_one_output_named_or_not_is_the_same_training():
    """`BCELoss(rec, image)` on a one-output model is `target = image` with `BCELoss()`: the same
    script, the reconstruction task and its metrics."""
    def script(lines):
        comp = compile_source(ONE.format(lines=lines), "one.model")
        assert comp.ok, comp.diagnostics
        return comp.train_source()

    named = script("loss = BCELoss(rec, image)")
    assert named == script("target = image\n        loss = BCELoss()")
    assert "TASK = 'reconstruction'" in named and "TERMS = None" in named
    assert "TERMS = None" not in script("loss = 2 * BCELoss(rec, image)")
    errs = _errors(ONE.format(lines="target = image\n        loss = BCELoss(rec, other)"))
    assert any("'other' is neither an output nor an input" in e.message for e in errs), errs


def test_target_arrays_of_a_file_that_is_there_are_checked(tmp_path, monkeypatch):
    """An .npz there at check time: a missing y_<output> array, or one of another length, is an error."""
    monkeypatch.chdir(tmp_path)
    src = HEADS.format(data='npz("h.npz")', loss="CrossEntropyLoss(digit) + BCEWithLogitsLoss(big)", extra="")
    x = np.zeros((10, 1, 8, 8), "float32")
    np.savez(tmp_path / "h.npz", x=x, y_digit=np.zeros(10, "int64"), y_big=np.zeros(10, "float32"))
    assert not _errors(src)
    np.savez(tmp_path / "h.npz", x=x, y_digit=np.zeros(10, "int64"), y=np.zeros(10, "float32"))
    errs = _errors(src)
    assert any("has no array 'y_big' for the targets of output 'big'" in e.message for e in errs), errs
    np.savez(tmp_path / "h.npz", x=x, y_digit=np.zeros(9, "int64"), y_big=np.zeros(10, "float32"))
    errs = _errors(src)
    assert any("'y_digit'" in e.message and "10 samples" in e.message for e in errs), errs
