"""--predict, `graphc predict` and --eval --data apply the train section's evaluation transforms
(``transform = [...]``, never ``augment``), with the statistics of ``Normalize()`` the training
run measured and saved in the checkpoint.  Every expectation is computed here by hand: the
images read with PIL, resized with torch.nn.functional.interpolate, cropped by slicing,
normalised with statistics measured here, through the emitted model class with the
checkpoint's state_dict."""

import csv
import json
import shutil

import pytest
from conftest import build_scripts, import_generated, run_graphc

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
PILImage = pytest.importorskip("PIL.Image")

MEASURED = """model Pets {
    input image: [B, 3, 8, 8]
    logits = image -> Flatten -> Linear(2)
    output logits
    train {
        data = image_folder("train", size=none)
        transform = [Resize(8), CenterCrop(8), Normalize()]
        augment = [RandomHorizontalFlip()]
        loss = CrossEntropyLoss()
        optimizer = Adam(lr=0.05)
        epochs = 2
        batch_size = 4
        val_split = 0
    }
}
"""

SIZED = """model Sized {
    input image: [B, 3, 6, 6]
    logits = image -> Flatten -> Linear(3)
    output logits
    train {
        data = image_folder("train", size=(10, 12))
        transform = [CenterCrop(6), Normalize(mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))]
        loss = CrossEntropyLoss()
        epochs = 1
        val_split = 0
    }
}
"""

NEW_SIZES = [(9, 14), (21, 12), (8, 8), (30, 11)]  # (height, width) of the images to predict


def _image(rng, h, w):
    return PILImage.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _write_folders(tmp, classes):
    """Training images of random sizes in class folders, and new images of other sizes."""
    rng = np.random.default_rng(0)
    for c in classes:
        (tmp / "train" / c).mkdir(parents=True)
        for i in range(5):
            h, w = rng.integers(9, 20, 2)
            _image(rng, int(h), int(w)).save(tmp / "train" / c / f"{i}.png")
    (tmp / "new" / "sub").mkdir(parents=True)
    for i, (h, w) in enumerate(NEW_SIZES):
        _image(rng, h, w).save(tmp / "new" / ("sub" if i % 2 else "") / f"{i}.png")


def _in_process(script, *args):
    mod = import_generated(script, f"{script.stem}_main")
    mod.main([str(a) for a in args])
    return mod


def _pixels(path):
    """An image file as float (3, H, W) in [0, 1]."""
    with PILImage.open(path) as img:
        a = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(a.transpose(2, 0, 1).copy())


def _resize_crop(x, short, crop):
    """The shorter side to `short` (bilinear, antialiased), then the centre crop x crop."""
    h, w = x.shape[1:]
    size = (short, int(short * w / h)) if h <= w else (int(short * h / w), short)
    if size != (h, w):
        x = torch.nn.functional.interpolate(x[None], size=size, mode="bilinear", align_corners=False,
                                            antialias=True)[0]
    top, left = int(round((x.shape[1] - crop) / 2)), int(round((x.shape[2] - crop) / 2))
    return x[:, top:top + crop, left:left + crop]


def _model(script, cls, ckpt):
    model = getattr(import_generated(script.parent / f"{script.stem[6:]}.py", f"{cls}_hand"), cls)()
    model.load_state_dict(torch.load(ckpt, weights_only=True)["model"])
    return model.eval()


def _probs(path):
    with open(path, newline="") as f:
        header, *rows = list(csv.reader(f))
    cols = [i for i, h in enumerate(header) if h.startswith("p_")]
    return [r[1] for r in rows], np.array([[float(r[i]) for i in cols] for r in rows])


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """Pets trained on images of many sizes, Normalize() measuring its statistics; the statistics
    measured here by hand over the training images through Resize(8), CenterCrop(8)."""
    tmp = tmp_path_factory.mktemp("measured")
    _write_folders(tmp, ("cats", "dogs"))
    (tmp / "pets.model").write_text(MEASURED)
    script = build_scripts(tmp, MEASURED, "pets")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp)
        _in_process(script, "--out", "run", "--quiet")
    train = torch.stack([_resize_crop(_pixels(f), 8, 8) for f in sorted((tmp / "train").rglob("*.png"))]).double()
    mean = train.mean(dim=(0, 2, 3))
    std = ((train - mean[None, :, None, None]) ** 2).mean(dim=(0, 2, 3)).sqrt()
    return tmp, script, mean.float(), std.float()


def _expected(tmp, script, mean, std, files):
    model = _model(script, "Pets", tmp / "run" / "last.pt")
    x = torch.stack([(_resize_crop(_pixels(tmp / "new" / f), 8, 8) - mean[:, None, None]) / std[:, None, None]
                     for f in files])
    with torch.no_grad():
        return torch.softmax(model(x), dim=1).numpy()


def test_the_checkpoint_keeps_the_measured_statistics(measured):
    tmp, _, mean, std = measured
    stats = torch.load(tmp / "run" / "last.pt", weights_only=True)["data_info"]["normalize"]
    np.testing.assert_allclose(stats["mean"], mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(stats["std"], std.numpy(), rtol=1e-5)
    assert (std - 1).abs().min() > 0.5  # far from the identity: the test sees whether they are applied


def test_predict_on_images_of_any_size_is_the_evaluation_pipeline_of_torch(measured, monkeypatch):
    """A folder of images of four sizes: --predict resizes, crops and normalises each as validation
    does; its probabilities are those of the checkpoint's weights on the hand-made tensors."""
    tmp, script, mean, std = measured
    monkeypatch.chdir(tmp)
    _in_process(script, "--predict", "run/last.pt", "--data", "new", "--output", "p.csv")
    files, got = _probs(tmp / "p.csv")
    assert files == ["0.png", "2.png", "sub/1.png", "sub/3.png"]
    np.testing.assert_allclose(got, _expected(tmp, script, mean, std, files), atol=1e-5)


def test_predict_after_the_training_data_is_gone(measured, tmp_path):
    """graphc predict in a directory without the training images: the same predictions, from the
    statistics the checkpoint saved (no new measurement, no error)."""
    tmp, script, mean, std = measured
    for name in ("pets.model", "new", "run"):
        (shutil.copytree if (tmp / name).is_dir() else shutil.copy)(tmp / name, tmp_path / name)
    assert not (tmp_path / "train").exists()
    run = run_graphc("predict", "pets.model", "--checkpoint", "run/last.pt", "--data", "new", "-o", "q.csv",
                     cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    files, got = _probs(tmp_path / "q.csv")
    np.testing.assert_allclose(got, _expected(tmp, script, mean, std, files), atol=1e-5)


def test_predict_on_an_npy_of_raw_images(measured, monkeypatch):
    """An .npy of 12x10 images (not the model's 8x8) goes through the transforms too."""
    tmp, script, mean, std = measured
    x = torch.rand(3, 3, 12, 10, generator=torch.Generator().manual_seed(1))
    np.save(tmp / "raw.npy", x.numpy())
    monkeypatch.chdir(tmp)
    _in_process(script, "--predict", "run/last.pt", "--data", "raw.npy", "--output", "raw.npy.out.npy")
    model = _model(script, "Pets", tmp / "run" / "last.pt")
    hand = torch.stack([(_resize_crop(s, 8, 8) - mean[:, None, None]) / std[:, None, None] for s in x])
    with torch.no_grad():
        want = model(hand).numpy()
    np.testing.assert_allclose(np.load(tmp / "raw.npy.out.npy"), want, atol=1e-5)
    np.save(tmp / "four.npy", np.zeros((2, 4, 12, 10), np.float32))
    run = run_graphc("predict", tmp / "pets.model", "--checkpoint", tmp / "run" / "last.pt", "--data",
                     tmp / "four.npy")
    assert run.returncode == 2
    assert ("four.npy has samples of shape (4, 12, 10), which the evaluation transforms [Resize(8), CenterCrop(8), "
            "Normalize()] make (4, 8, 8), but input 'image' is (B, 3, 8, 8)") in run.stderr, run.stderr


def test_eval_data_folder_uses_the_evaluation_pipeline(measured, monkeypatch, capsys):
    """--eval --data FOLDER (class folders): its loss is torch's cross-entropy on the hand-made tensors."""
    tmp, script, mean, std = measured
    for c, f in (("cats", "0.png"), ("dogs", "sub/1.png"), ("cats", "2.png"), ("dogs", "sub/3.png")):
        (tmp / "labelled" / c).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp / "new" / f, tmp / "labelled" / c / f.replace("/", "_"))
    files = sorted((tmp / "labelled").rglob("*.png"))
    monkeypatch.chdir(tmp)
    capsys.readouterr()
    _in_process(script, "--eval", "run/last.pt", "--data", "labelled", "--format", "json")
    got = json.loads(capsys.readouterr().out)
    model = _model(script, "Pets", tmp / "run" / "last.pt")
    x = torch.stack([(_resize_crop(_pixels(f), 8, 8) - mean[:, None, None]) / std[:, None, None] for f in files])
    y = torch.tensor([0 if f.parent.name == "cats" else 1 for f in files])
    with torch.no_grad():
        loss = torch.nn.functional.cross_entropy(model(x), y)
    assert got["samples"] == 4
    assert got["loss"] == pytest.approx(float(loss), abs=1e-5)


def test_a_sized_folder_reads_new_images_as_training_did(tmp_path, monkeypatch):
    """image_folder(size=(10, 12)): new images are resized bilinearly to 10x12 as the training
    read them (not PIL's default bicubic), then cropped and normalised with the given statistics."""
    _write_folders(tmp_path, ("a", "b", "c"))
    script = build_scripts(tmp_path, SIZED, "sized")
    monkeypatch.chdir(tmp_path)
    _in_process(script, "--out", "run", "--quiet")
    _in_process(script, "--predict", "run/last.pt", "--data", "new", "--output", "p.csv")
    files, got = _probs(tmp_path / "p.csv")
    mean, std = torch.tensor([0.4, 0.5, 0.6])[:, None, None], torch.tensor([0.2, 0.25, 0.3])[:, None, None]
    xs = []
    for f in files:
        with PILImage.open(tmp_path / "new" / f) as img:
            a = np.asarray(img.convert("RGB").resize((12, 10), PILImage.BILINEAR), dtype=np.float32) / 255.0
        x = torch.from_numpy(a.transpose(2, 0, 1).copy())[:, 2:8, 3:9]  # the centre 6x6 of 10x12
        xs.append((x - mean) / std)
    model = _model(script, "Sized", tmp_path / "run" / "last.pt")
    with torch.no_grad():
        want = torch.softmax(model(torch.stack(xs)), dim=1).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_random_transform_in_transform_is_an_error_at_its_line():
    from graphc.api import compile_source

    src = MEASURED.replace("transform = [Resize(8), CenterCrop(8), Normalize()]",
                           "transform = [Resize(8), RandomCrop(8), Normalize()]")
    comp = compile_source(src, "pets.model")
    errs = [d for d in comp.diagnostics if d.severity == "error"]
    assert len(errs) == 1, errs
    assert (errs[0].span.line, errs[0].span.col) == (7, 33)
    assert "RandomCrop draws at random" in errs[0].message and "move RandomCrop to augment" in errs[0].hint


def test_a_checkpoint_without_the_statistics_is_an_error_not_unnormalised_data(measured, tmp_path):
    """A checkpoint whose data_info lacks Normalize()'s statistics: --predict and --eval stop with one
    line instead of feeding the model data left unnormalised."""
    tmp, script = measured[:2]
    ckpt = torch.load(tmp / "run" / "last.pt", weights_only=True)
    del ckpt["data_info"]["normalize"]
    torch.save(ckpt, tmp_path / "bare.pt")
    mod = import_generated(script, "pets_bare")
    for args in (("--predict", tmp_path / "bare.pt", "--data", tmp / "new"),
                 ("--eval", tmp_path / "bare.pt", "--data", tmp / "train")):
        with pytest.raises(mod.DataError, match=r"bare.pt has no statistics for Normalize\(\)"):
            mod.main([str(a) for a in args])


def test_predict_reads_the_image_formats_training_reads_and_names_a_corrupt_file(measured, tmp_path, monkeypatch):
    """A .tif and a .ppm among the new images are predicted as PIL reads them (as training would
    read them: one reader); a file PIL cannot decode is one line naming it, not a traceback."""
    tmp, script, mean, std = measured
    rng = np.random.default_rng(1)
    (tmp_path / "new").mkdir()
    _image(rng, 11, 13).save(tmp_path / "new" / "a.tif")
    _image(rng, 10, 9).save(tmp_path / "new" / "b.ppm")
    shutil.copytree(tmp / "run", tmp_path / "run")
    monkeypatch.chdir(tmp_path)
    _in_process(script, "--predict", "run/last.pt", "--data", "new", "--output", "p.csv")
    files, got = _probs(tmp_path / "p.csv")
    assert files == ["a.tif", "b.ppm"]
    model = _model(script, "Pets", tmp_path / "run" / "last.pt")
    x = torch.stack([(_resize_crop(_pixels(tmp_path / "new" / f), 8, 8) - mean[:, None, None]) / std[:, None, None]
                     for f in files])
    with torch.no_grad():
        np.testing.assert_allclose(got, torch.softmax(model(x), dim=1).numpy(), atol=1e-5)
    (tmp_path / "new" / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really")
    mod = import_generated(script, "pets_corrupt")
    with pytest.raises(mod.DataError, match=r"c\.png is not an image PIL can read .*: replace or remove it"):
        mod.main(["--predict", "run/last.pt", "--data", "new", "--output", "q.csv"])
