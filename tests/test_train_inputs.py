"""Several inputs: a model with an image and a vector, trained from an .npz whose arrays are
mapped to the named inputs; the mapping is checked before anything runs.  The recorded numbers
are checked against torch and scikit-learn on the checkpoint's outputs."""

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

TWO = """model Two {{
    input image: [B, 1, 8, 8]
    input feats: [B, 5]
    a = image -> Flatten -> Linear(8)
    b = feats -> Linear(8)
    y = a + b -> ReLU -> Linear(3)
    output y
    train {{
        data = {data}
        loss = CrossEntropyLoss()
        optimizer = Adam(lr=0.01)
        epochs = 2
    }}
}}
"""


def write(path, n=100, **rename):
    rng = np.random.default_rng(0)
    img, tab = rng.random((n, 1, 8, 8)).astype("float32"), rng.random((n, 5)).astype("float32")
    y = ((img.mean((1, 2, 3)) + tab[:, 0]) * 3).astype("int64") % 3
    np.savez(path, **{rename.get("img", "img"): img, rename.get("tab", "tab"): tab, "y": y})
    return img, tab, y


def test_two_inputs_train_from_named_arrays(tmp_path):
    img, tab, y = write(tmp_path / "two.npz")
    script = build(tmp_path, TWO.format(data='npz("two.npz", x=("img", "tab"))'), "two")
    proc = subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "run"), "--quiet"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    val = torch.randperm(100, generator=torch.Generator().manual_seed(0))[:20]
    model = import_generated(script.parent / "two.py", "gen_two").Two()
    model.load_state_dict(torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"])
    model.eval()
    with torch.no_grad():  # the image first, the vector second: the order the model takes them
        scores = model(torch.tensor(img)[val], torch.tensor(tab)[val]).double()
    truth = torch.tensor(y)[val]
    assert rec["val_loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(scores, truth)), rel=1e-5)
    assert rec["val_accuracy"] == pytest.approx(metrics.accuracy_score(truth, scores.argmax(1)))


def test_inputs_read_the_arrays_of_their_names_by_default(tmp_path, monkeypatch):
    write(tmp_path / "two.npz", img="image", tab="feats")
    monkeypatch.chdir(tmp_path)
    comp = compile_source(TWO.format(data='npz("two.npz")'), "two.model")
    assert comp.ok, comp.diagnostics
    assert [row[:2] for row in comp.program.training.inputs] == [("image", "image"), ("feats", "feats")]


@pytest.mark.parametrize("data,message", [
    ('npz("two.npz", x=("img", "table"))', "two.npz has no array 'table' for input 'feats' (it has img, tab, y)"),
    ('npz("two.npz", x=("tab", "img"))', "array 'tab' of two.npz is (100, 5), but input 'image' is (B, 1, 8, 8)"),
    ('npz("two.npz", x="img")', "x names one array 'img', but the model has 2 inputs (image, feats)"),
    ("digits()", "the model has 2 inputs (image, feats), which read named arrays, but digits() gives one array "
                 "of features"),
])
def test_the_mapping_is_checked_before_running(tmp_path, monkeypatch, data, message):
    write(tmp_path / "two.npz")
    monkeypatch.chdir(tmp_path)
    comp = compile_source(TWO.format(data=data), "two.model")
    assert ("data-mismatch", message) in [(d.code, d.message) for d in comp.errors]
