"""Every model in models/ but the five torchvision twins trains from its own file (issue 17): each
train section's data ships in a package or is written by a script in models/data; CI smoke-trains
each model a few optimizer steps on it.  The generated data sets are checked to be the tasks their
scripts describe (computed again here with numpy), and a trained seq2seq checkpoint's reported loss
and accuracy against the same computed in torch."""

import json
import os
import re
import subprocess
import sys

import pytest
from conftest import MODELS, build_scripts, import_generated, run_scripts

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
pytest.importorskip("sklearn")
F = torch.nn.functional

TWINS = {"alexnet", "vgg16", "resnet18", "resnet50", "mobilenet_v2"}  # torchvision's, no train section

# model -> (the data script's make() and its arguments, small; the metric its task records)
SMOKE = {
    "digits": (None, "val_accuracy"),
    "mlp": (None, "val_accuracy"),
    "lenet": (("make_digits28", dict(out="digits32.npz", size=32)), "val_accuracy"),
    "lstm_classifier": (("make_topics", dict(out="topics2.npz", classes=2, n=64)), "val_accuracy"),
    "transformer_classifier": (("make_topics", dict(out="topics.npz", n=64)), "val_accuracy"),
    "seq2seq": (("make_reverse", dict(out="reverse.npz", n=64)), "val_perplexity"),
    "autoencoder": (("make_digits28", dict(out="digits28.npz")), "val_reconstruction_mse"),
    "unet": (("make_shapes", dict(out="shapes.npz", n=20)), "val_mean_iou"),
    "siamese": (("make_digit_pairs", dict(out="digit_pairs.npz", n=200)), "val_auc"),
}
# smoke-trained by tests that check more of them (gan.model: where the two-player training is merged)
ELSEWHERE = {"vae": "test_train_outputs.py", "char_rnn": "test_datasets_text.py", "gpt": "test_datasets_text.py",
             "gan": "test_gan.py"}


def _stems_with_train():
    return {p.stem for p in MODELS.glob("*.model") if re.search(r"^\s*train\s*\{", p.read_text(), re.M)}


def test_every_model_but_the_torchvision_twins_trains_and_is_smoke_trained():
    stems = {p.stem for p in MODELS.glob("*.model")}
    trained = _stems_with_train()
    assert stems - trained == TWINS
    assert trained == set(SMOKE) | (set(ELSEWHERE) & stems)
    here = MODELS.parent / "tests"
    for stem, test_file in ELSEWHERE.items():
        if stem in stems:
            text = (here / test_file).read_text()
            assert f"{stem}.model" in text or f'"{stem}"' in text, f"{test_file} does not train {stem}.model"


def _make(cwd, args):
    made = subprocess.run([sys.executable, str(MODELS / "data" / args[0]), *args[1:]], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr


def _script(tmp_path, stem):
    return build_scripts(tmp_path, (MODELS / f"{stem}.model").read_text(), stem)


def _run(script, *args, cwd):
    # one torch thread: on a busy machine more threads than idle cores make each step many times slower
    return subprocess.run([sys.executable, str(script), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _load_script(name):
    sys.path.insert(0, str(MODELS / "data"))
    try:
        return __import__(name)
    finally:
        sys.path.pop(0)


def test_models_smoke_train_from_their_own_files(tmp_path, subtests):
    """Each model's data script writes the file its train section names; two optimizer steps on it
    record the task's metrics and a finite validation loss.  The nine runs share one python process
    (conftest.run_scripts: torch imported once, not nine times) and one test, so that pytest -n
    does not run them on several workers; each model is its own subtest."""
    runs = []
    for stem, (make, _) in sorted(SMOKE.items()):
        (tmp_path / stem).mkdir()
        if make:  # the scripts' command lines are run in the tests below
            module, kwargs = make
            _load_script(module).make(**{**kwargs, "out": str(tmp_path / stem / kwargs["out"])})
        runs.append((stem, _script(tmp_path / stem, stem), ["--out", "run", "--epochs", "1", "--max-steps", "2",
                                                            "--batch-size", "4", "--quiet", "--device", "cpu"],
                     tmp_path / stem))
    results = run_scripts(runs)
    assert set(results) == set(SMOKE)
    for stem, (_, metric) in sorted(SMOKE.items()):
        with subtests.test(model=stem):
            run = results[stem]
            assert run["returncode"] == 0, run["stdout"] + run["stderr"]
            row = json.loads((tmp_path / stem / "run" / "metrics.jsonl").read_text().splitlines()[-1])
            assert row["steps"] == 2 and metric in row
            assert row["val_loss"] is not None and np.isfinite(row["val_loss"])


# ------------------------------------------------------------------ the generated tasks
def test_topics_label_is_the_topic_with_the_most_keywords(tmp_path):
    make_topics = _load_script("make_topics")
    make_topics.make(str(tmp_path / "t.npz"), classes=4, n=300, length=16, vocab=1000, seed=3)
    d = np.load(tmp_path / "t.npz")
    x, y = d["x"], d["y"]
    assert x.shape == (300, 16) and x.dtype == np.int64 and y.dtype == np.int64
    assert x.min() >= 1 and x.max() < 1000 and np.bincount(y).tolist() == [75] * 4
    topic = np.where(x <= 80, (x - 1) // 20, -1)  # keywords 1..80: 20 per topic, the rest filler
    counts = np.stack([(topic == c).sum(axis=1) for c in range(4)], axis=1)
    assert (counts.argmax(axis=1) == y).all()
    assert (np.sort(counts, axis=1)[:, -1] > np.sort(counts, axis=1)[:, -2]).all()  # never a tie
    assert (counts.sum(axis=1) >= 4).all()


def test_reverse_targets_are_the_reversed_source_shifted_for_the_decoder(tmp_path):
    make_reverse = _load_script("make_reverse")
    for task, want in (("reverse", lambda s: s[:, ::-1]), ("sort", lambda s: np.sort(s, axis=1))):
        make_reverse.make(str(tmp_path / f"{task}.npz"), task=task, n=50, length=6, tokens=10, seed=1)
        d = np.load(tmp_path / f"{task}.npz")
        src, tgt, y = d["src"], d["tgt"], d["y"]
        assert src.shape == tgt.shape == y.shape == (50, 6) and src.min() >= 3 and src.max() <= 12
        assert (y == want(src)).all() and (tgt[:, 0] == 1).all() and (tgt[:, 1:] == y[:, :-1]).all()


def test_digits_at_32_are_the_digits_enlarged(tmp_path):
    from sklearn.datasets import load_digits

    _make(tmp_path, ["make_digits28.py", "--size", "32", "--out", "d32.npz"])  # the command line
    _load_script("make_digits28").make(str(tmp_path / "d28.npz"))
    d32, d28 = np.load(tmp_path / "d32.npz")["x"], np.load(tmp_path / "d28.npz")["x"]
    images = load_digits().images / 16.0
    assert d32.shape == (1797, 1, 32, 32) and d28.shape == (1797, 1, 28, 28)
    assert np.allclose(d32[:, 0, ::4, ::4], images) and (d28 == d32[:, :, 2:30, 2:30]).all()
    bad = subprocess.run([sys.executable, str(MODELS / "data" / "make_digits28.py"), "--size", "40"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "give a size from 1 to 32" in bad.stderr and "Traceback" not in bad.stderr


def test_seq2seq_reports_torchs_loss_and_accuracy_of_its_checkpoint(tmp_path):
    """models/seq2seq.model (two inputs, (B, T, V) scores): after a few steps, `--eval` on the data
    reports the token cross-entropy and accuracy computed in torch from the checkpoint's outputs."""
    _make(tmp_path, ["make_reverse.py", "--n", "96"])
    script = _script(tmp_path, "seq2seq")
    run = _run(script, "--out", "run", "--epochs", "1", "--max-steps", "3", "--batch-size", "16", "--quiet",
               "--device", "cpu", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    run = _run(script, "--eval", "run/last.pt", "--data", "reverse.npz", "--format", "json", "--device", "cpu",
               cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    got = json.loads(run.stdout)
    model = import_generated(script.parent / "seq2seq.py", "gen_seq2seq_eval").Seq2Seq()
    model.load_state_dict(torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"])
    model.eval()
    d = np.load(tmp_path / "reverse.npz")
    with torch.no_grad():
        logits = model(torch.from_numpy(d["src"]), torch.from_numpy(d["tgt"]))
    y = torch.from_numpy(d["y"])
    assert logits.shape == (96, 8, 1200)
    assert got["loss"] == pytest.approx(F.cross_entropy(logits.movedim(-1, 1), y).item(), rel=1e-5)
    assert got["accuracy"] == pytest.approx((logits.argmax(-1) == y).double().mean().item(), rel=1e-6)
    assert got["samples"] == 96
