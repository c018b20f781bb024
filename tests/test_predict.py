"""`graphc predict` and the script's --predict: a checkpoint's outputs on new data, compared with
the same checkpoint loaded in plain torch (the generated module, the saved weights and the saved
normalisation applied by hand); the errors graphc gives before torch runs; atomic writes."""

import csv
import subprocess
import sys

import pytest
from conftest import build_scripts, import_generated, run_graphc

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
pytest.importorskip("sklearn")

IRIS = """model Iris {
    input x: [B, 4]
    logits = x -> Linear(16) -> ReLU -> Linear(3)
    output logits
    train {
        data = iris()
        loss = CrossEntropyLoss()
        normalize = true
        epochs = 2
        batch_size = 16
    }
}
"""

HEADS = """model Heads {
    input image: [B, 1, 8, 8]
    input feats: [B, 3]
    h = image -> Flatten -> Linear(16) -> ReLU
    digit = h -> Linear(10)
    big = concat(h, feats, dim=1) -> Linear(1)
    output digit, big
    train {
        data = npz("heads.npz", x=("img", "tab"))
        loss = CrossEntropyLoss(digit) + 0.5 * BCEWithLogitsLoss(big)
        epochs = 1
    }
}
"""


def _script(tmp_path, script, *args):
    return subprocess.run([sys.executable, str(script), *map(str, args)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)


def _in_process(script, *args):
    """The generated script's main(), in this process (no second torch import: the suite stays fast);
    its errors are raised as its DataError."""
    mod = import_generated(script, f"{script.stem}_main")
    mod.main([str(a) for a in args])
    return mod


def _read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    """The iris classifier trained for two epochs (normalize = true), and its module."""
    tmp = tmp_path_factory.mktemp("iris")
    (tmp / "predict_iris.model").write_text(IRIS)
    script = build_scripts(tmp, IRIS, "predict_iris")
    _in_process(script, "--out", tmp / "run", "--quiet")
    model = import_generated(script.parent / "predict_iris.py", "iris_predict").Iris()
    ckpt = torch.load(tmp / "run" / "best.pt", weights_only=True)
    model.load_state_dict(ckpt["model"])
    model.eval()
    return tmp, script, model, ckpt


def _expected_logits(model, ckpt, x):
    norm = ckpt["normalization"]
    assert norm is not None  # normalize = true saved the training set's statistics
    with torch.no_grad():
        return model((torch.from_numpy(x) - norm["mean"]) / norm["std"])


def test_predict_csv_has_class_name_and_probabilities_of_torch(iris_run, capsys):
    """The csv: the class index, iris' class name, and the softmax of the logits torch computes from
    the checkpoint with the saved normalisation applied; graphc predict and the script agree."""
    from sklearn.datasets import load_iris

    tmp, _, model, ckpt = iris_run
    ds = load_iris()
    x = ds.data[::10].astype("float32")
    np.save(tmp / "new.npy", x)
    run = run_graphc("predict", tmp / "predict_iris.model", "--checkpoint", tmp / "run" / "best.pt",
                     "--data", tmp / "new.npy", "-o", tmp / "preds.csv")
    assert run.returncode == 0, run.stderr
    header, rows = _read_csv(tmp / "preds.csv")
    assert header == ["row", "class", "class_name", "p_0", "p_1", "p_2"]
    probs = torch.softmax(_expected_logits(model, ckpt, x), dim=1)
    assert [int(r[0]) for r in rows] == list(range(len(x)))
    assert [int(r[1]) for r in rows] == probs.argmax(1).tolist()
    assert [r[2] for r in rows] == [str(ds.target_names[c]) for c in probs.argmax(1).tolist()]
    got = np.array([[float(v) for v in r[3:]] for r in rows])
    np.testing.assert_allclose(got, probs.numpy(), rtol=1e-6, atol=1e-7)
    # the script without --output: the same csv on standard output
    _in_process(iris_run[1], "--predict", tmp / "run" / "best.pt", "--data", tmp / "new.npy")
    assert capsys.readouterr().out == (tmp / "preds.csv").read_text()


def test_predict_npy_and_csv_data_give_the_raw_outputs(iris_run):
    """-o preds.npy holds the raw logits; a .csv of features (with or without the target column)
    and an .npz with one array read the same."""
    tmp, script, model, ckpt = iris_run
    x = np.random.default_rng(0).normal(5, 2, (7, 4)).astype("float32")
    want = _expected_logits(model, ckpt, x).numpy()
    rows = ["a,b,c,d,target"] + [",".join(f"{v!r}" for v in r) + ",1" for r in x.tolist()]
    rows.insert(3, ",,,,")  # a spreadsheet's cleared row: skipped, as training skips it
    (tmp / "new.csv").write_text("\n".join(rows) + "\n")
    np.savez(tmp / "new.npz", features=x)
    for data in ("new.csv", "new.npz"):
        _in_process(script, "--predict", tmp / "run" / "best.pt", "--data", tmp / data, "--output", tmp / "out.npy")
        np.testing.assert_allclose(np.load(tmp / "out.npy"), want, rtol=1e-5, atol=1e-6)


def test_errors_before_torch_runs(iris_run, tmp_path, capsys):
    """One line each, exit code 2, before the script (and torch) runs: no checkpoint, data of another
    shape (an .npy header, a csv's columns), an unknown output suffix, a missing output folder."""
    from graphc.cli import main

    tmp = iris_run[0]
    model, ckpt = tmp / "predict_iris.model", tmp / "run" / "best.pt"
    np.save(tmp_path / "five.npy", np.zeros((3, 5), "float32"))
    (tmp_path / "two.csv").write_text("a,b\n1,2\n")
    np.save(tmp_path / "ok.npy", np.zeros((3, 4), "float32"))
    (tmp_path / "d.csv").mkdir()
    cases = [
        (("--checkpoint", tmp / "run" / "nope.pt", "--data", tmp_path / "ok.npy"), "no checkpoint"),
        (("--checkpoint", ckpt, "--data", tmp_path / "missing.npy"), "no data file"),
        (("--checkpoint", ckpt, "--data", tmp_path / "five.npy"),
         "five.npy has samples of shape (5,), but input 'x' is (B, 4)"),
        (("--checkpoint", ckpt, "--data", tmp_path / "two.csv"), "two.csv has 2 feature columns, but input 'x' is (B, 4)"),
        (("--checkpoint", ckpt, "--data", tmp_path / "ok.npy", "-o", tmp_path / "p.txt"),
         "unknown output suffix '.txt'"),
        (("--checkpoint", ckpt, "--data", tmp_path / "ok.npy", "-o", tmp_path / "no" / "p.csv"), "there is no folder"),
        (("--checkpoint", ckpt, "--data", tmp_path / "ok.npy", "-o", tmp_path / "d.csv"), "is a folder"),
        (("--checkpoint", ckpt, "--data", tmp_path / "ok.npy", "--model", "Other"), "--model Other"),
    ]
    for args, message in cases:
        code = main(["predict", str(model), *map(str, args)])
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert message in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1, err


def test_script_errors_keep_the_old_output_file(iris_run, tmp_path, capsys):
    """Data only the script can read (.pt) of another shape stops with one line; the existing
    output file is left as it was and no temporary file remains."""
    tmp, script = iris_run[:2]
    torch.save({"x": torch.zeros(2, 6)}, tmp_path / "bad.pt")
    (tmp_path / "preds.csv").write_text("old\n")
    run = _script(tmp_path, script, "--predict", tmp / "run" / "best.pt", "--data", "bad.pt", "--output", "preds.csv")
    assert run.returncode == 2
    assert run.stderr.strip() == "error: bad.pt features have shape (2, 6), but the model's input is (N, 4)"
    assert (tmp_path / "preds.csv").read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pt", "preds.csv"]
    with pytest.raises(SystemExit):
        _in_process(script, "--output", "p.csv")
    assert "--output goes with --predict" in capsys.readouterr().err


def test_several_inputs_and_outputs(tmp_path, capsys, monkeypatch):
    """Two inputs read from their arrays as training reads them, two outputs: an .npz with one array
    per output, the csv with each output's columns (a binary head: sigmoid probability)."""
    from sklearn.datasets import load_digits

    ds = load_digits()
    n = 80
    img = (ds.images[:n] / 16.0).astype("float32")[:, None]
    tab = np.random.default_rng(1).random((n, 3), dtype=np.float32)
    y = ds.target[:n].astype("int64")
    np.savez(tmp_path / "heads.npz", img=img, tab=tab, y_digit=y, y_big=(y >= 5).astype("float32"))
    (tmp_path / "predict_heads.model").write_text(HEADS)
    script = build_scripts(tmp_path, HEADS, "predict_heads")
    monkeypatch.chdir(tmp_path)
    _in_process(script, "--out", "run", "--quiet", "--max-steps", "2")
    np.savez(tmp_path / "new.npz", img=img[:9], tab=tab[:9])
    model = import_generated(script.parent / "predict_heads.py", "heads_predict").Heads()
    model.load_state_dict(torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"])
    model.eval()
    with torch.no_grad():
        digit, big = model(torch.from_numpy(img[:9]), torch.from_numpy(tab[:9]))
    run = run_graphc("predict", tmp_path / "predict_heads.model", "--checkpoint", tmp_path / "run" / "last.pt",
                     "--data", tmp_path / "new.npz", "-o", tmp_path / "out.npz")
    assert run.returncode == 0, run.stderr
    got = np.load(tmp_path / "out.npz")
    assert sorted(got.files) == ["big", "digit"]
    np.testing.assert_allclose(got["digit"], digit.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["big"], big.numpy(), rtol=1e-5, atol=1e-6)
    mod = _in_process(script, "--predict", "run/last.pt", "--data", "new.npz")
    header, *rows = list(csv.reader(capsys.readouterr().out.splitlines()))
    assert header == ["row", "digit_class", *(f"digit_p_{i}" for i in range(10)), "big_class", "big_probability"]
    assert [int(r[1]) for r in rows] == digit.argmax(1).tolist()
    assert [int(r[12]) for r in rows] == (big[:, 0] > 0).long().tolist()
    np.testing.assert_allclose([float(r[13]) for r in rows], torch.sigmoid(big[:, 0]).numpy(), rtol=1e-6)
    # one .npy cannot hold two outputs; an .npz without the second input's array
    from graphc.cli import main

    assert main(["predict", str(tmp_path / "predict_heads.model"), "--checkpoint", str(tmp_path / "run" / "last.pt"),
                 "--data", str(tmp_path / "new.npz"), "-o", str(tmp_path / "out.npy")]) == 2
    assert "has 2 outputs (digit, big); write a .npz" in capsys.readouterr().err
    np.savez(tmp_path / "half.npz", img=img[:3])
    with pytest.raises(mod.DataError, match="has no array 'tab'"):
        mod.main(["--predict", "run/last.pt", "--data", "half.npz"])


def test_image_folder_predictions_name_files_and_classes(tmp_path, monkeypatch):
    """A model trained on class folders predicts a folder of images: a `file` column, and the class
    names are the training folders' names."""
    from PIL import Image

    for name, colour in (("cats", (250, 10, 10)), ("dogs", (10, 10, 250))):
        (tmp_path / "train" / name).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (6, 6), colour).save(tmp_path / "train" / name / f"{i}.png")
    (tmp_path / "new" / "sub").mkdir(parents=True)
    Image.new("RGB", (9, 9), (250, 10, 10)).save(tmp_path / "new" / "b.png")
    Image.new("RGB", (9, 9), (10, 10, 250)).save(tmp_path / "new" / "sub" / "a.png")
    src = """model Pets {
    input image: [B, 3, 4, 4]
    logits = image -> Flatten -> Linear(2)
    output logits
    train {
        data = image_folder("train", size=(4, 4))
        loss = CrossEntropyLoss()
        optimizer = Adam(lr=0.1)
        epochs = 5
        val_split = 0
    }
}
"""
    script = build_scripts(tmp_path, src, "predict_pets")
    monkeypatch.chdir(tmp_path)
    _in_process(script, "--out", "run", "--quiet")
    _in_process(script, "--predict", "run/last.pt", "--data", "new", "--output", "p.csv")
    header, rows = _read_csv(tmp_path / "p.csv")
    assert header == ["row", "file", "class", "class_name", "p_0", "p_1"]
    model = import_generated(script.parent / "predict_pets.py", "pets_predict").Pets()
    model.load_state_dict(torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"])
    model.eval()
    x = torch.tensor([[[250 / 255] * 16, [10 / 255] * 16, [10 / 255] * 16],
                      [[10 / 255] * 16, [10 / 255] * 16, [250 / 255] * 16]]).reshape(2, 3, 4, 4)
    with torch.no_grad():
        probs = torch.softmax(model(x), dim=1)
    assert [r[1] for r in rows] == ["b.png", "sub/a.png"]
    assert [r[3] for r in rows] == ["cats", "dogs"]  # it learned the colours
    np.testing.assert_allclose([[float(v) for v in r[4:]] for r in rows], probs.numpy(), rtol=1e-5, atol=1e-6)


def test_array_names_reach_the_script_only_as_text():
    """Input array names from the .model file, in --predict's messages: string constants only."""
    import ast
    from pathlib import Path

    from conftest import MODELS

    from graphc.api import compile_source

    hostile = "r{__import__(chr(111)+chr(115)).system(chr(105)+chr(100))}'"
    src = (MODELS / "siamese.model").read_text()
    assert 'data = npz("digit_pairs.npz")' in src
    src = src.replace('data = npz("digit_pairs.npz")', f'data = npz("digit_pairs.npz", x=("left", "{hostile}"))')
    comp = compile_source(src, str(Path("siamese.model")))
    assert comp.ok, comp.diagnostics
    tree = ast.parse(comp.train_source())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert "__import__" not in names and "chr" not in names
    texts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert any(hostile in t for t in texts)
