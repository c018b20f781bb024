"""Image folders and streamed data when the data is not as it should be: a corrupt file, PIL images
without ToTensor(), validation folders with other classes, too many classes for the model, a later
sample that does not fit, image suffixes, augmentation seeds of very large data sets, and --eval
reading batch by batch. Each expectation is checked against what PIL and torch do themselves."""

import json
import sys

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

from graphc.api import compile_source  # noqa: E402
from tests.conftest import build_scripts, import_generated, run_graphc  # noqa: E402

MODEL = """model Net {{
    input image: [B, 3, 8, 8]
    logits = image -> Flatten -> Linear({classes})
    output logits
    train {{
        data = {data}
        {extra}
        loss = CrossEntropyLoss()
        epochs = 1
        batch_size = 4
    }}
}}
"""


def _src(data, extra="", classes=2):
    return MODEL.format(data=data, extra=extra, classes=classes)


def _folder(root, classes=("cats", "dogs"), n=4, size=(8, 8)):
    for c, name in enumerate(classes):
        d = root / name
        d.mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", size, (40 + 60 * c, (i * 50) % 256, 90)).save(d / f"{i}.png")
    return root


def _script(tmp_path, src, name, monkeypatch):
    mod = import_generated(build_scripts(tmp_path, src, name), f"train_{name}_{tmp_path.name}")
    monkeypatch.setitem(sys.modules, mod.__name__, mod)  # a worker's DataError is unpickled by its module
    monkeypatch.chdir(tmp_path)
    return mod


def _fails(mod, *args, out="run"):
    with pytest.raises(mod.DataError) as e:
        mod.main(["--quiet", "--out", out, *map(str, args)])
    return str(e.value)


def _corrupt(path):
    """A PNG cut short: PIL opens its header but cannot read its pixels."""
    Image.frombytes("RGB", (8, 8), bytes((i * 97) % 251 for i in range(192))).save(path)
    path.write_bytes(path.read_bytes()[:80])
    with pytest.raises(OSError), Image.open(path) as img:
        img.convert("RGB")


# ------------------------------------------------------------------ 1: a corrupt image, PIL samples
@pytest.mark.parametrize("extra,workers", [("transform = [Normalize()]", 0), ("", 0), ("", 2)])
def test_a_corrupt_image_is_one_line_naming_it(tmp_path, monkeypatch, extra, workers):
    _folder(tmp_path / "imgs")
    _corrupt(tmp_path / "imgs" / "dogs" / "2.png")
    mod = _script(tmp_path, _src('image_folder("imgs", size=(8, 8))', extra), f"bad{workers}{bool(extra)}", monkeypatch)
    msg = _fails(mod, "--num-workers", workers)
    assert "imgs/dogs/2.png is not an image PIL can read" in msg and "\n" not in msg
    assert msg.startswith("measuring the statistics of Normalize()") == bool(extra)


def test_a_corrupt_image_exits_2_with_one_line(tmp_path):
    _folder(tmp_path / "imgs")
    _corrupt(tmp_path / "imgs" / "cats" / "1.png")
    (tmp_path / "img.model").write_text(_src('image_folder("imgs", size=(8, 8))', "transform = [Normalize()]"))
    r = run_graphc("train", "img.model", "--out", "run", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert errors == [line for line in r.stderr.splitlines() if "Traceback" in line or line.startswith("error:")]
    assert len(errors) == 1 and "imgs/cats/1.png" in errors[0]


PIL_DATA = """import numpy as np
import torch
from PIL import Image


class Pictures(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        a = np.random.default_rng(i).integers(0, 256, (8, 8, 3), dtype=np.uint8)
        return Image.fromarray(a), i % 2


def make():
    return Pictures()
"""


@pytest.mark.parametrize("transform", ["Normalize()", "CenterCrop(8)", "ToTensor(), Normalize()"])
def test_pil_images_need_to_tensor(tmp_path, monkeypatch, transform):
    (tmp_path / f"pics{len(transform)}.py").write_text(PIL_DATA)
    with pytest.raises((RuntimeError, TypeError)):  # what torch itself says of a PIL image
        torch.as_tensor(Image.new("RGB", (8, 8)))
    src = _src(f'dataset("pics{len(transform)}.py:make")', f"transform = [{transform}]")
    mod = _script(tmp_path, src, f"pil{len(transform)}", monkeypatch)
    if transform.startswith("ToTensor"):  # the fix the message gives: it trains
        mod.main(["--quiet", "--out", "run"])
        return
    msg = _fails(mod)
    assert "PIL images" in msg and "add ToTensor() at the start of transform" in msg and "\n" not in msg


# ------------------------------------------------------------------ 2: other class folders
def _pixels(path):
    with Image.open(path) as img:
        img = img.convert("RGB").resize((8, 8), Image.BILINEAR)
        return torch.tensor(np.asarray(img), dtype=torch.float32).permute(2, 0, 1) / 255


def test_val_folder_is_labelled_by_the_training_classes(tmp_path, monkeypatch, capsys):
    _folder(tmp_path / "train", ("ants", "cats", "dogs"))
    _folder(tmp_path / "val", ("cats", "dogs"), n=3)
    src = _src('image_folder("train", size=(8, 8))', 'val_data = image_folder("val", size=(8, 8))', classes=3)
    mod = _script(tmp_path, src, "vi", monkeypatch)
    train, val = mod.load_items(0)
    classes = sorted(p.name for p in (tmp_path / "train").iterdir())
    assert [int(val[i][1]) for i in range(len(val))] == [classes.index(f.split("/")[-2]) for f in val.files]
    # --eval --data FOLDER: the checkpoint's classes, and the metrics a torch loop gets
    mod.main(["--quiet", "--out", "run"])
    capsys.readouterr()
    mod.main(["--eval", "run/best.pt", "--data", "val", "--format", "json"])
    got = json.loads(capsys.readouterr().out)
    ckpt = torch.load("run/best.pt", weights_only=True)
    import importlib

    net = importlib.import_module("vi").Net()
    net.load_state_dict(ckpt["model"])
    files = sorted((tmp_path / "val").rglob("*.png"))
    x = torch.stack([_pixels(f) for f in files])
    y = torch.tensor([classes.index(f.parent.name) for f in files])
    with torch.no_grad():
        out = net(x)
    assert got["samples"] == 6
    assert got["accuracy"] == pytest.approx((out.argmax(1) == y).float().mean().item())
    assert got["loss"] == pytest.approx(torch.nn.functional.cross_entropy(out, y).item(), rel=1e-5)


def test_a_class_the_training_data_lacks_is_one_line(tmp_path, monkeypatch):
    _folder(tmp_path / "train", ("cats", "dogs"))
    _folder(tmp_path / "val", ("cats", "zebras"))
    src = _src('image_folder("train", size=(8, 8))', 'val_data = image_folder("val", size=(8, 8))')
    msg = _fails(_script(tmp_path, src, "vz", monkeypatch))
    assert msg.startswith("val has class folders the training data has not: ['zebras']") and "cats" in msg


# ------------------------------------------------------------------ 3: the class count
def test_class_folders_against_the_class_scores(tmp_path, monkeypatch):
    _folder(tmp_path / "imgs", ("a", "b", "c", "d"), n=3)
    src = _src('image_folder("imgs", size=(8, 8))')
    monkeypatch.chdir(tmp_path)  # the folder is there at check time
    errs = [d for d in compile_source(src, "net.model").diagnostics if d.severity == "error"]
    assert len(errs) == 1 and errs[0].span.line == 6
    assert "4 class folders (a, b, c, d)" in errs[0].message and "2 class scores" in errs[0].message
    assert errs[0].hint.startswith("end the model with Linear(4)")
    monkeypatch.chdir("/")
    mod = _script(tmp_path, src, "four", monkeypatch)  # built where the folder is not: checked at run time
    with pytest.raises(IndexError):  # what the loss does with label 3 of 2 classes, mid-epoch
        torch.nn.functional.cross_entropy(torch.zeros(1, 2), torch.tensor([3]))
    assert _fails(mod).startswith("imgs has 4 class folders (a, b, c, d), but the model gives 2 class scores")


# ------------------------------------------------------------------ 9: a later sample that does not fit
LATE_LABEL = """import torch


class Late(torch.utils.data.Dataset):
    def __len__(self):
        return 40

    def __getitem__(self, i):
        return torch.zeros(3, 8, 8), 7 if i == 30 else i % 3


def make():
    return Late()
"""


@pytest.mark.parametrize("workers", [0, 2])
def test_a_later_label_out_of_range_names_the_sample(tmp_path, monkeypatch, workers):
    (tmp_path / f"late_data{workers}.py").write_text(LATE_LABEL)
    mod = _script(tmp_path, _src(f'dataset("late_data{workers}.py:make")', classes=3), f"late{workers}", monkeypatch)
    with pytest.raises(IndexError):  # torch's own error for it
        torch.nn.functional.cross_entropy(torch.zeros(1, 3), torch.tensor([7]))
    msg = _fails(mod, "--num-workers", workers)
    assert msg.startswith("sample 30 (batch ") and msg.endswith(
        "has the label 7, but the model gives 3 class scores (labels 0 to 2)")


def test_a_later_image_of_another_size_names_both_samples(tmp_path, monkeypatch):
    _folder(tmp_path / "imgs")
    Image.new("RGB", (9, 8)).save(tmp_path / "imgs" / "dogs" / "2.png")  # sample 6: 8 high, 9 wide
    with pytest.raises(RuntimeError):
        torch.stack([torch.zeros(3, 8, 8), torch.zeros(3, 8, 9)])
    src = _src('image_folder("imgs", size=none)', "val_split = 0")
    msg = _fails(_script(tmp_path, src, "mixed", monkeypatch))
    assert "sample 6 has (3, 8, 9)" in msg and "shape (3, 8, 8)" in msg and "add CenterCrop" in msg


# ------------------------------------------------------------------ 16: suffixes
def test_every_suffix_pil_reads_and_one_note_for_the_rest(tmp_path, monkeypatch, capsys):
    _folder(tmp_path / "imgs", n=1)
    for i, suffix in enumerate((".tif", ".tiff", ".ppm", ".pgm", ".webp", ".bmp", ".JPG")):
        path = tmp_path / "imgs" / "cats" / f"more{i}{suffix}"
        Image.new("L" if suffix == ".pgm" else "RGB", (8, 8), 100).save(path, format=Image.registered_extensions()
                                                                        [suffix.lower()])
        with Image.open(path) as img:
            assert img.size == (8, 8)  # PIL reads it back
    (tmp_path / "imgs" / "dogs" / "notes.txt").write_text("not an image")
    (tmp_path / "imgs" / "dogs" / "labels.csv").write_text("a,b")
    mod = _script(tmp_path, _src('image_folder("imgs", size=(8, 8))'), "suffixes", monkeypatch)
    data = mod.ImageFiles("imgs", (8, 8), False)
    assert len(data) == 9 and all(data[i][0].shape == (3, 8, 8) for i in range(len(data)))
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "2 files ignored" in notes[0] and "labels.csv, notes.txt" in notes[0]


# ------------------------------------------------------------------ 17: augmentation seeds
def test_augmentation_seeds_do_not_repeat_on_very_large_data(tmp_path, monkeypatch):
    class Huge(torch.utils.data.Dataset):  # 2 million copies of one image
        image = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))

        def __len__(self):
            return 2_000_000

        def __getitem__(self, i):
            return self.image, 0

    src = _src('image_folder("imgs", size=(8, 8))',
               "augment = [RandomCrop(8, padding=3), RandomHorizontalFlip(), ColorJitter(brightness=0.8)]")
    mod = _script(tmp_path, src, "seeds", monkeypatch)
    steps, _ = mod.make_transforms()
    samples = mod.Samples(Huge(), steps, 1)
    # the old seed ((s % 1000003) * 1000033 + epoch) * 1000037 + i: equal for these two
    assert ((1 * 1000033 + 0) * 1000037 + 1000037) == ((1 * 1000033 + 1) * 1000037 + 0)
    a, b = samples[(0, 1000037)][0], samples[(1, 0)][0]
    assert not torch.equal(a, b)
    assert torch.equal(samples[(0, 1000037)][0], a)  # the same sample, the same draw (resumable)
    drawn = {samples[(e, i)][0].sum().item() for e in range(3) for i in (0, 1, 1000037, 1999999)}
    assert len(drawn) == 12


# ------------------------------------------------------------------ 4: --eval batch by batch
EVAL_DATA = """import torch

EVENTS = []


class Counted(torch.utils.data.Dataset):
    def __len__(self):
        return 1200

    def __getitem__(self, i):
        EVENTS.append("read")
        g = torch.Generator().manual_seed(i)
        return torch.rand(3, 8, 8, generator=g) + (i % 2), i % 2


def make():
    return Counted()
"""


def test_eval_on_streamed_data_reads_batch_by_batch(tmp_path, monkeypatch, capsys):
    (tmp_path / "counted.py").write_text(EVAL_DATA)
    mod = _script(tmp_path, _src('dataset("counted.py:make")', "val_split = 0.5"), "evb", monkeypatch)
    monkeypatch.syspath_prepend(str(tmp_path))
    mod.main(["--quiet", "--out", "run"])
    import counted

    forward = mod.forward
    monkeypatch.setattr(mod, "forward", lambda *a: (counted.EVENTS.append("forward"), forward(*a))[1])
    counted.EVENTS.clear()
    capsys.readouterr()
    mod.main(["--eval", "run/best.pt", "--format", "json"])
    got = json.loads(capsys.readouterr().out)
    events = counted.EVENTS
    # 600 validation samples in batches of 256: a batch is evaluated before the next is read
    assert events.count("forward") == 3 and events.index("forward") < len(events) - events[::-1].index("read") - 1
    # the metrics of a torch loop over the same split (the run's seed, 0)
    import importlib

    net = importlib.import_module("evb").Net()
    net.load_state_dict(torch.load("run/best.pt", weights_only=True)["model"])
    order = torch.randperm(1200, generator=torch.Generator().manual_seed(0))[:600].tolist()
    data = counted.Counted()
    x = torch.stack([data[i][0] for i in order])
    y = torch.tensor([data[i][1] for i in order])
    with torch.no_grad():
        out = net(x)
    assert got["samples"] == 600
    assert got["loss"] == pytest.approx(torch.nn.functional.cross_entropy(out, y).item(), rel=1e-5)
    assert got["accuracy"] == pytest.approx((out.argmax(1) == y).float().mean().item())


ODD_ONE = """import torch


class Odd(torch.utils.data.Dataset):
    def __len__(self):
        return 24

    def __getitem__(self, i):
        return torch.zeros((3, 5, 5) if i == 13 else (3, 8, 8)), i % 2


def make():
    return Odd()
"""


def test_a_later_sample_of_your_own_of_another_shape_names_it(tmp_path, monkeypatch):
    (tmp_path / "odd_data.py").write_text(ODD_ONE)
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        torch.utils.data.default_collate([torch.zeros(3, 8, 8), torch.zeros(3, 5, 5)])
    mod = _script(tmp_path, _src('dataset("odd_data.py:make")', "val_split = 0"), "odd", monkeypatch)
    msg = _fails(mod, "--num-workers", 1)
    assert ("sample 13 has (3, 5, 5)" in msg or "sample 13 (batch 1 of epoch 1) has shape (3, 5, 5)" in msg) \
        and msg.endswith("(give every sample one shape, or add Resize and "
                                                             "CenterCrop to transform)")


# ------------------------------------------------------------------ size=none without a crop
@pytest.mark.parametrize("extra,warned", [
    ("", True),
    ("transform = [Resize(8)]", True),  # the shorter side only: 8x10 and 8x8 stay apart
    ("augment = [RandomCrop(8)]", True),  # training samples fit, evaluation ones do not
    ("transform = [Resize(9), CenterCrop(8)]", False),
])
def test_size_none_without_a_crop_is_a_warning(extra, warned):
    src = _src('image_folder("imgs", size=none)', extra)
    found = [d for d in compile_source(src, "net.model").diagnostics if d.code == "unsized-images"]
    assert bool(found) == warned and all(d.severity == "warning" and d.span.line == 6 for d in found)
    if warned:
        assert "CenterCrop(H, W)" in found[0].hint
    a, b = (torch.from_numpy(np.array(Image.new("RGB", size).resize((8, 8 * size[1] // size[0]))))
            for size in ((8, 8), (8, 10)))
    with pytest.raises(RuntimeError):  # what torch does with two sizes in one batch
        torch.stack([a, b])
