"""Streamed data: image folders read a sample at a time, your own Dataset, transforms in the
train section, DataLoader workers, and the sampler's order against torch's DistributedSampler."""

import json
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("PIL")

from graphc.api import compile_source  # noqa: E402
from tests.conftest import build_scripts, import_generated  # noqa: E402

MODEL = """model Net {{
    input image: [B, {shape}]
    logits = image -> Flatten -> Linear(2)
    output logits
    train {{
        data = {data}
        {extra}
        loss = CrossEntropyLoss()
        epochs = 2
        batch_size = 4
    }}
}}
"""


def _src(data, shape="3, 8, 8", extra=""):
    return MODEL.format(data=data, shape=shape, extra=extra)


def _folder(root, n=6, sizes=((10, 12), (12, 10))):
    from PIL import Image

    for label, color in (("cats", 40), ("dogs", 200)):
        d = root / "imgs" / label
        d.mkdir(parents=True)
        for i in range(n):
            w, h = sizes[i % len(sizes)]
            Image.new("RGB", (w, h), (color, (i * 30) % 256, 90)).save(d / f"{i}.png")


def _records(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _diags(src):
    comp = compile_source(src, "net.model")
    return [d for d in comp.diagnostics if d.severity == "error"]


# ------------------------------------------------------------------ static checks
def test_resize_that_does_not_give_the_input_is_an_error_at_its_line():
    src = _src('image_folder("imgs", size=none)', "3, 256, 256", "transform = [Resize(224)]")
    errs = _diags(src)
    assert len(errs) == 1
    d = errs[0]
    assert d.span.line == 7 and src.splitlines()[6][d.span.col - 1:].startswith("Resize(224)")
    assert "Resize(224)" in d.message and "256" in d.message and d.hint and "CenterCrop(256)" in d.hint


def test_a_known_size_gives_the_numbers():
    errs = _diags(_src('image_folder("imgs", size=(300, 400))', "3, 256, 256", "transform = [Resize(224)]"))
    assert "(3, 224, 298)" in errs[0].message


def test_transforms_that_fit_pass_and_augment_is_checked_too():
    ok = _src('image_folder("imgs", size=none)', "3, 32, 32",
              "transform = [Resize(36), CenterCrop(32)]\n        augment = [RandomHorizontalFlip()]")
    assert _diags(ok) == []
    bad = _src('image_folder("imgs", size=(8, 8))', "3, 8, 8", "augment = [RandomCrop(12)]")
    errs = _diags(bad)
    assert errs and "RandomCrop(12, 12) cannot cut a 12x12 window from 8x8" in errs[0].message


@pytest.mark.parametrize("extra,words", [
    ("transform = [Normalize(mean=(0.5, 0.5, 0.5))]", "both mean and std"),
    ("transform = [Normalize(mean=(0.5, 0.5), std=(1.0, 1.0))]", "statistics for 2 channels"),
    ("transform = [Resize(8), Blur()]", "unknown transform 'Blur'"),
    ("augment = [ColorJitter(saturation=0.5)]", None),
    ("normalize = true\n        transform = [Resize(8)]", "normalize = true needs the whole data in memory"),
])
def test_transform_mistakes(extra, words):
    errs = _diags(_src('image_folder("imgs", size=(8, 8))', "3, 8, 8", extra))
    if words is None:
        assert errs == []
    else:
        assert errs and any(words in d.message for d in errs), [d.message for d in errs]


def test_saturation_of_grayscale_is_an_error():
    errs = _diags(_src('image_folder("imgs", size=(8, 8), grayscale=true)', "1, 8, 8",
                       "augment = [ColorJitter(saturation=0.5)]"))
    assert errs and "1 channel" in errs[0].message


def test_dataset_names_a_function():
    errs = _diags(_src('dataset("no function here")'))
    assert errs and "names no function" in errs[0].message


def _main(tmp_path, src, name, *args, monkeypatch):
    """The generated script's main(), in this process (no second start of torch)."""
    script = build_scripts(tmp_path, src, name)
    mod = import_generated(script, f"train_{name}_{tmp_path.name}")
    monkeypatch.chdir(tmp_path)
    mod.main(["--quiet", "--out", str(tmp_path / "run"), *map(str, args)])
    return mod


# ------------------------------------------------------------------ running
def test_image_folder_streams_with_workers_and_transforms(tmp_path, monkeypatch, capsys):
    _folder(tmp_path)
    mod = _main(tmp_path, _src('image_folder("imgs", size=none)', "3, 8, 8",
                               "transform = [Resize(8), CenterCrop(8), Normalize()]\n"
                               "        augment = [RandomCrop(8, padding=1), RandomHorizontalFlip()]\n"
                               "        num_workers = 2"), "folder", monkeypatch=monkeypatch)
    recs = _records(tmp_path / "run")
    assert [r["epoch"] for r in recs] == [1, 2] and recs[-1]["val_accuracy"] is not None
    ckpt = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    stats = ckpt["data_info"]["normalize"]
    assert len(stats["mean"]) == 3 and all(s > 0 for s in stats["std"])
    capsys.readouterr()
    mod.main(["--eval", str(tmp_path / "run" / "best.pt"), "--format", "json"])
    assert json.loads(capsys.readouterr().out)["samples"] == 2  # 20% of 12 images


def test_sampler_order_is_distributed_samplers(tmp_path):
    _folder(tmp_path)
    script = build_scripts(tmp_path, _src('image_folder("imgs", size=(8, 8))'), "net")
    mod = import_generated(script, "train_net_sampler")
    for world in (1, 3):
        for rank in range(world):
            for epoch in (1, 2):
                ours = mod.EpochSampler(10, True, 5, rank, world, True)
                ours.epoch = epoch
                theirs = torch.utils.data.DistributedSampler(range(10), num_replicas=world, rank=rank,
                                                             shuffle=True, seed=5)
                theirs.set_epoch(epoch)
                assert [i for e, i in ours] == list(theirs) and all(e == epoch for e, _ in ours)


def test_augmentation_is_the_same_with_any_number_of_workers(tmp_path):
    _folder(tmp_path)
    script = build_scripts(tmp_path, _src('image_folder("imgs", size=(10, 10))', "3, 8, 8",
                                          "augment = [RandomCrop(8), RandomHorizontalFlip(), "
                                          "ColorJitter(brightness=0.3)]\n        transform = [CenterCrop(8)]"),
                           "net")
    mod = import_generated(script, "train_net_workers")
    data = mod.ImageFiles(str(tmp_path / "imgs"), (10, 10), False)
    train_steps, _ = mod.make_transforms()
    batches = []
    for workers in (0, 2):
        loader = mod.Loader(mod.Samples(data, train_steps, 3), 4, True, 3, 0, 1, True, torch.device("cpu"), workers)
        batches.append([xb for xb, _ in loader.epoch(2)])
    assert all(torch.equal(a, b) for a, b in zip(*batches, strict=True))
    again = mod.Loader(mod.Samples(data, train_steps, 3), 4, True, 3, 0, 1, True, torch.device("cpu"), 0)
    other = [xb for xb, _ in again.epoch(3)]
    assert not all(torch.equal(a, b) for a, b in zip(batches[0], other, strict=True))  # a new epoch, new draws


def test_image_files_reads_lazily(tmp_path):
    """The data set holds file names: its pickled size does not grow with the images' size."""
    import pickle

    _folder(tmp_path, sizes=((10, 12),))
    script = build_scripts(tmp_path, _src('image_folder("imgs", size=(8, 8))'), "net")
    mod = import_generated(script, "train_net_lazy")
    small = len(pickle.dumps(vars(mod.ImageFiles(str(tmp_path / "imgs"), (8, 8), False))))
    from PIL import Image

    for f in (tmp_path / "imgs").rglob("*.png"):
        Image.new("RGB", (300, 300), (1, 2, 3)).save(f)
    big = mod.ImageFiles(str(tmp_path / "imgs"), (8, 8), False)
    assert len(pickle.dumps(vars(big))) == small
    x, y = big[0]
    assert x.shape == (3, 8, 8) and x.dtype == torch.float32 and int(y) == 0


USER = """import torch


class Pairs(torch.utils.data.Dataset):
    def __len__(self):
        return 20

    def __getitem__(self, i):
        return torch.full(SHAPE, float(i % 2)), i % 2


def make():
    return Pairs()
"""


def test_your_own_dataset_from_a_file_with_workers(tmp_path, monkeypatch):
    (tmp_path / "mydata.py").write_text(USER.replace("SHAPE", "(3, 8, 8)"))
    _main(tmp_path, _src('dataset("mydata.py:make")', extra="num_workers = 2"), "own", "--lr", "0.05",
          monkeypatch=monkeypatch)
    assert _records(tmp_path / "run")[-1]["val_accuracy"] == 1.0  # the constant image is the label


def test_your_own_dataset_by_module_name(tmp_path, monkeypatch):
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "data.py").write_text(USER.replace("SHAPE", "(3, 8, 8)"))
    monkeypatch.syspath_prepend(str(tmp_path))
    _main(tmp_path, _src('dataset("mypkg.data:make")'), "pkg", "--epochs", "1", monkeypatch=monkeypatch)
    assert len(_records(tmp_path / "run")) == 1


def test_first_sample_that_does_not_fit_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "baddata.py").write_text(USER.replace("SHAPE", "(3, 5, 5)"))
    with pytest.raises(Exception) as e:
        _main(tmp_path, _src('dataset("baddata.py:make")'), "bad", monkeypatch=monkeypatch)
    assert type(e.value).__name__ == "DataError"
    assert str(e.value) == "training data: the first sample has shape (3, 5, 5), but the model takes one of (3, 8, 8)"


def test_missing_function_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "nodata.py").write_text(USER.replace("SHAPE", "(3, 8, 8)"))
    with pytest.raises(Exception) as e:
        _main(tmp_path, _src('dataset("nodata.py:nothing")'), "none", monkeypatch=monkeypatch)
    assert str(e.value) == "dataset('nodata.py:nothing'): nodata has no function nothing"


def test_cifar_with_augmentation(tmp_path, monkeypatch):
    from graphc.components import registry

    rec = registry("data set")["cifar10"]
    rec.write_sample(tmp_path, 16, (3, 32, 32), 10)
    src = MODEL.format(data='cifar10(root="' + str(tmp_path) + '")', shape="3, 32, 32",
                       extra="augment = [RandomCrop(32, padding=4), RandomHorizontalFlip()]\n"
                             "        transform = [Normalize(mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26))]")
    _main(tmp_path, src.replace("Linear(2)", "Linear(10)"), "cifar", "--epochs", "1", monkeypatch=monkeypatch)
    assert _records(tmp_path / "run")[0]["steps"] == 16  # 80% of 5 batches of 16 images, 4 a step


def test_an_error_in_a_worker_is_one_line(tmp_path, monkeypatch):
    _folder(tmp_path, sizes=((6, 6),))
    script = build_scripts(tmp_path, _src('image_folder("imgs", size=none)', "3, 8, 8",
                                          "augment = [RandomCrop(8)]\n        transform = [CenterCrop(8)]"), "net")
    mod = import_generated(script, "train_net_worker_error")
    monkeypatch.setitem(sys.modules, mod.__name__, mod)  # the worker's DataError is unpickled by its module
    data = mod.ImageFiles(str(tmp_path / "imgs"), None, False)
    train_steps, _ = mod.make_transforms()
    loader = mod.Loader(mod.Samples(data, train_steps, 0), 4, True, 0, 0, 1, True, torch.device("cpu"), 1)
    with pytest.raises(mod.DataError) as e:
        list(loader.epoch(1))
    assert str(e.value) == ("RandomCrop(8, 8): a sample of 6x6 (after padding) is smaller than the crop; "
                            "pass pad_if_needed=true, or resize first")


DICTS = """import torch


class Named(torch.utils.data.Dataset):
    def __len__(self):
        return 20

    def __getitem__(self, i):
        return {"KEY": torch.full((3, 8, 8), float(i % 2)), "y": i % 2, "note": "ignored"}


def make():
    return Named()
"""


@pytest.mark.parametrize("key", ["image", "x"])
def test_a_sample_may_be_a_dict_keyed_as_an_npz_file(tmp_path, monkeypatch, key):
    """One input: its name or "x", and "y" (other keys are ignored), as npz(...) names its arrays."""
    (tmp_path / f"named_{key}.py").write_text(DICTS.replace("KEY", key))
    _main(tmp_path, _src(f'dataset("named_{key}.py:make")', extra="num_workers = 1"), f"m_{key}", "--lr", "0.05",
          monkeypatch=monkeypatch)
    assert _records(tmp_path / "run")[-1]["val_accuracy"] == 1.0
