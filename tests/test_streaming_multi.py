"""Streamed data for a model of several inputs or outputs: a data set of your own whose samples are
tuples in the declared order or dicts keyed as an npz file's arrays, read by DataLoader workers.
The weights after an epoch are checked against a hand-written torch loop over the same order and
against the same model trained from an npz file in memory; the first sample is checked against
every input and target."""

import json

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
F = torch.nn.functional

from graphc.api import compile_source  # noqa: E402
from tests.conftest import build_scripts, import_generated  # noqa: E402

#: two inputs (an image and a vector) and two outputs; the loss names big first, digit second,
#: while the outputs are declared digit, big: a tuple of targets follows the declaration
TWO = """model Two {{
    input image: [B, 1, 4, 4]
    input feats: [B, 3]
    a = image -> Flatten -> Linear(8)
    b = feats -> Linear(8)
    h = a + b -> ReLU -> Dropout(0.3)  # random draws: as in memory, as by hand
    digit = h -> Linear(3)
    big = h -> Linear(1)
    output digit, big
    train {{
        data = {data}
        loss = 0.5 * BCEWithLogitsLoss(big) + CrossEntropyLoss(digit)
        optimizer = Adam(lr=0.01)
        epochs = 1
        batch_size = 8
        {extra}
    }}
}}
"""

DATA = '''import numpy as np
import torch


def arrays(n=40):
    rng = np.random.default_rng(0)
    image = rng.random((n, 1, 4, 4)).astype("float32")
    feats = rng.random((n, FEATS)).astype("float32")
    return {"image": image, "feats": feats, "y_digit": (image.mean((1, 2, 3)) * 9).astype("int64") % 3,
            "y_big": (feats[:, 0] > 0.5).astype("float32")}


class Pairs(torch.utils.data.Dataset):
    def __init__(self, form):
        self.a, self.form = arrays(), form

    def __len__(self):
        return len(self.a["image"])

    def __getitem__(self, i):
        a = {k: v[i] for k, v in self.a.items() if k not in DROP}
        if self.form == "dict":
            return a
        return (a["image"], a["feats"]), (int(a["y_digit"]), float(a["y_big"]))


def tuples():
    return Pairs("tuple")


def dicts():
    return Pairs("dict")
'''


def _own(tmp_path, function):
    """dataset("pairs_<test>.py:function"): a module name of its own in each test, as the script
    imports it by name in this process (sys.modules keeps the first "pairs")."""
    return f'dataset("pairs_{tmp_path.name}.py:{function}")'


def _data(tmp_path, feats=3, drop=()):
    path = tmp_path / f"pairs_{tmp_path.name}.py"
    path.write_text(DATA.replace("FEATS", str(feats)).replace("DROP", repr(tuple(drop))))
    a = import_generated(path, f"pairs_{tmp_path.name}").arrays()
    np.savez(tmp_path / "pairs.npz", **a)
    return {k: torch.from_numpy(v) for k, v in a.items()}


def _run(tmp_path, src, name, *args, monkeypatch):
    """The generated script's main() in this process: (module, the checkpoint of its last epoch). The
    model module's name is the test's own (the script imports it by name; sys.modules keeps the first)."""
    script = build_scripts(tmp_path, src, f"{name}_{tmp_path.name}")
    mod = import_generated(script, f"train_{name}_{tmp_path.name}")
    monkeypatch.chdir(tmp_path)
    mod.main(["--quiet", "--out", str(tmp_path / name), *map(str, args)])
    return mod, torch.load(tmp_path / name / "last.pt", weights_only=True)


def _by_hand(tmp_path, a, epochs=1):
    """The epoch in plain torch: the generated model class, the seed's weights, the seeded split
    (20% held out) and the seeded order of each epoch, batches of 8, Adam(lr=0.01)."""
    model_cls = import_generated(build_scripts(tmp_path, TWO.format(data='npz("pairs.npz")', extra=""), "hand")
                                 .parent / "hand.py", f"hand_{tmp_path.name}").Two
    torch.manual_seed(0)
    model = model_cls()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    order = torch.randperm(40, generator=torch.Generator().manual_seed(0))
    train = order[8:]
    for epoch in range(1, epochs + 1):
        for batch in torch.randperm(len(train), generator=torch.Generator().manual_seed(epoch)).split(8):
            idx = train[batch]
            digit, big = model(a["image"][idx], a["feats"][idx])
            loss = 0.5 * F.binary_cross_entropy_with_logits(big, a["y_big"][idx][:, None]) + \
                F.cross_entropy(digit, a["y_digit"][idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model, order[:8]


def _close(got, want):
    assert got.keys() == want.keys()
    for k in want:
        assert torch.allclose(got[k], want[k], atol=1e-6, rtol=0), k


@pytest.mark.parametrize("form", ["tuples", "dicts"])
def test_two_inputs_two_outputs_with_workers_train_as_torch_does(tmp_path, monkeypatch, form, capsys):
    a = _data(tmp_path)
    mod, ckpt = _run(tmp_path, TWO.format(data=_own(tmp_path, form), extra="num_workers = 2"), "own",
                     monkeypatch=monkeypatch)
    model, val = _by_hand(tmp_path, a)
    _close(ckpt["model"], model.state_dict())
    # --eval: the validation split's loss (the weighted sum) and each output's accuracy, as torch has them
    capsys.readouterr()
    mod.main(["--eval", str(tmp_path / "own" / "last.pt"), "--format", "json"])
    got = json.loads(capsys.readouterr().out)
    model.eval()
    with torch.no_grad():
        digit, big = model(a["image"][val], a["feats"][val])
    want = 0.5 * F.binary_cross_entropy_with_logits(big, a["y_big"][val][:, None]) + \
        F.cross_entropy(digit, a["y_digit"][val])
    assert got["samples"] == 8 and got["loss"] == pytest.approx(want.item(), rel=1e-5)
    assert got["digit_accuracy"] == pytest.approx((digit.argmax(1) == a["y_digit"][val]).double().mean().item())
    assert got["big_accuracy"] == pytest.approx(((big[:, 0] > 0) == (a["y_big"][val] > 0.5)).double().mean().item())
    rec = json.loads((tmp_path / "own" / "metrics.jsonl").read_text())
    assert rec["val_loss"] == pytest.approx(got["loss"], rel=1e-6)


def test_streamed_equals_npz_in_memory_and_npz_with_workers(tmp_path, monkeypatch):
    """The same samples three ways: a data set of your own (dicts, two workers), the npz file in
    memory, and the npz file streamed through two workers: the same weights and validation numbers."""
    _data(tmp_path)
    runs = {}
    for name, data, extra in (("memory", 'npz("pairs.npz")', ""),
                              ("npzstream", 'npz("pairs.npz")', "num_workers = 2"),
                              ("own", _own(tmp_path, "dicts"), "num_workers = 2")):
        src = TWO.format(data=data, extra=extra).replace("epochs = 1", "epochs = 2")
        _, runs[name] = _run(tmp_path, src, name, monkeypatch=monkeypatch)
        runs[name]["metrics"] = [json.loads(r) for r in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    for name in ("npzstream", "own"):
        _close(runs[name]["model"], runs["memory"]["model"])
        for got, want in zip(runs[name]["metrics"], runs["memory"]["metrics"], strict=True):
            for k in ("train_loss", "val_loss", "val_digit_accuracy", "val_big_auc", "steps"):
                assert got[k] == pytest.approx(want[k], rel=1e-6), (name, k)


SIAMESE = """model Siamese {{
    input left: [B, 4]
    input right: [B, 4]
    a = left -> tower: Linear(6)
    b = right -> tower
    same = abs(a - b) -> Linear(1)
    output same
    train {{
        data = {data}
        val_data = npz("val.npz")
        loss = BCEWithLogitsLoss()
        optimizer = SGD(lr=0.1)
        epochs = 1
        batch_size = 5
        {extra}
    }}
}}
"""

SIAMESE_DATA = '''import numpy as np
import torch


def arrays(n, seed):
    rng = np.random.default_rng(seed)
    left = rng.random((n, 4)).astype("float32")
    right = rng.random((n, 4)).astype("float32")
    return {"left": left, "right": right, "y": (left.sum(1) > right.sum(1)).astype("float32")}


class Pairs(torch.utils.data.Dataset):
    a = arrays(23, 1)

    def __len__(self):
        return 23

    def __getitem__(self, i):
        return (self.a["left"][i], self.a["right"][i]), self.a["y"][i]


def make():
    return Pairs()
'''


def test_a_siamese_pair_with_validation_from_an_npz_file(tmp_path, monkeypatch):
    """Two inputs of one target, validation data from a file read as the inputs name its arrays:
    the weights after an epoch and the validation loss, against torch."""
    (tmp_path / f"siamdata_{tmp_path.name}.py").write_text(SIAMESE_DATA)
    gen = import_generated(tmp_path / f"siamdata_{tmp_path.name}.py", f"siamdata_{tmp_path.name}")
    train, val = gen.arrays(23, 1), gen.arrays(7, 2)
    np.savez(tmp_path / "val.npz", **val)
    src = SIAMESE.format(data=f'dataset("siamdata_{tmp_path.name}.py:make")', extra="num_workers = 2")
    _, ckpt = _run(tmp_path, src, "siam", monkeypatch=monkeypatch)
    stem = f"siam_{tmp_path.name}"
    model_cls = import_generated(tmp_path / f"gen_{stem}" / f"{stem}.py", f"siam_model_{tmp_path.name}").Siamese
    torch.manual_seed(0)
    model = model_cls()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    t = {k: torch.from_numpy(v) for k, v in train.items()}
    for idx in torch.randperm(23, generator=torch.Generator().manual_seed(1)).split(5):  # val_data: all train
        loss = F.binary_cross_entropy_with_logits(model(t["left"][idx], t["right"][idx]), t["y"][idx][:, None])
        opt.zero_grad()
        loss.backward()
        opt.step()
    _close(ckpt["model"], model.state_dict())
    with torch.no_grad():
        v = {k: torch.from_numpy(x) for k, x in val.items()}
        want = F.binary_cross_entropy_with_logits(model(v["left"], v["right"]), v["y"][:, None])
    rec = json.loads((tmp_path / "siam" / "metrics.jsonl").read_text())
    assert rec["val_loss"] == pytest.approx(want.item(), rel=1e-5)


@pytest.mark.parametrize("form,feats,drop,message", [
    ("tuples", 4, (), "training data: the first sample's input 'feats' has shape (4,), but the model takes one of (3,)"),
    ("dicts", 4, (), "training data: the first sample's input 'feats' has shape (4,), but the model takes one of (3,)"),
    ("dicts", 3, ("feats",), "training data: the first sample has no key 'feats' for input 'feats' (it has "
                             "'image', 'y_digit', 'y_big')"),
    ("dicts", 3, ("y_big",), "training data: the first sample has no key 'y_big' for the targets of output 'big' "
                             "(it has 'image', 'feats', 'y_digit')"),
])
def test_the_first_sample_is_checked_input_by_input(tmp_path, monkeypatch, form, feats, drop, message):
    _data(tmp_path, feats, drop)
    with pytest.raises(Exception) as e:
        _run(tmp_path, TWO.format(data=_own(tmp_path, form), extra=""), "bad", monkeypatch=monkeypatch)
    assert type(e.value).__name__ == "DataError"
    assert str(e.value) == message


def test_a_sample_of_the_wrong_form_is_one_line(tmp_path, monkeypatch):
    _data(tmp_path)
    path = tmp_path / f"pairs_{tmp_path.name}.py"
    path.write_text(path.read_text().replace('return (a["image"], a["feats"]), ', 'return a["image"], '))
    with pytest.raises(Exception) as e:
        _run(tmp_path, TWO.format(data=_own(tmp_path, "tuples"), extra=""), "form", monkeypatch=monkeypatch)
    assert str(e.value) == "training data: the first sample's inputs must be a tuple of 2 (image, feats), got ndarray"


def test_workers_shard_the_samples_as_torchrun_does(tmp_path):
    """Two processes' Loaders (rank 0 and 1 of 2) take every other sample of the seeded order, each
    input and target of the same samples."""
    a = _data(tmp_path)
    script = build_scripts(tmp_path, TWO.format(data=_own(tmp_path, "tuples"), extra=""), f"shard_{tmp_path.name}")
    mod = import_generated(script, f"train_shard_{tmp_path.name}")
    data = import_generated(tmp_path / f"pairs_{tmp_path.name}.py", f"pairs_shard_{tmp_path.name}").tuples()
    seen = []
    for rank in (0, 1):
        loader = mod.Loader(mod.Samples(data, [], 0), 8, True, 0, rank, 2, True, torch.device("cpu"), 1)
        order = torch.randperm(40, generator=torch.Generator().manual_seed(0 + 3))[rank::2]
        xs, ys = zip(*loader.epoch(3), strict=True)
        image = torch.cat([x.tensors[0] for x in xs])
        assert torch.equal(image, a["image"][order]) and torch.equal(torch.cat([x.tensors[1] for x in xs]),
                                                                     a["feats"][order])
        # the targets in TARGET_SLOTS' order (the loss names big first), labels as the losses take them
        assert torch.equal(torch.cat([y.tensors[0] for y in ys]), a["y_big"][order])
        assert torch.equal(torch.cat([y.tensors[1] for y in ys]), a["y_digit"][order])
        seen += order.tolist()
    assert sorted(seen) == list(range(40))


def _errors(src):
    comp = compile_source(src, "two.model")
    return [d for d in comp.diagnostics if d.severity == "error"]


def test_what_is_known_statically():
    ok = TWO.format(data='dataset("pairs.py:tuples")', extra="num_workers = 2")
    assert _errors(ok) == []
    assert _errors(TWO.format(data='npz("pairs.npz")', extra="num_workers = 2")) == []
    src = TWO.format(data='dataset("pairs.py:tuples")', extra="augment = [RandomHorizontalFlip()]")
    (err,) = _errors(src)
    line = next(i for i, s in enumerate(src.splitlines(), 1) if "augment" in s)
    assert err.span.line == line and err.message == (
        "'augment' transforms the samples of a model of one input, but this one has 2 (image, feats)")
    assert "__getitem__" in err.hint
    # one input and two outputs: the transforms know their input
    one = src.replace("    input feats: [B, 3]\n", "").replace("b = feats -> Linear(8)", "b = image -> Flatten -> Linear(8)")
    assert _errors(one) == []
    bad = one.replace('dataset("pairs.py:tuples")', 'image_folder("imgs", size=(4, 4), grayscale=true)')
    (err,) = _errors(bad)
    assert "or a dataset(...) of your own gives; image_folder() has one" in err.message


ONE_IN = """model Heads {{
    input image: [B, 1, 4, 4]
    h = image -> Flatten -> Linear(8) -> ReLU
    digit = h -> Linear(3)
    big = h -> Linear(1)
    output digit, big
    train {{
        data = {data}
        augment = [RandomHorizontalFlip()]
        loss = CrossEntropyLoss(digit) + BCEWithLogitsLoss(big)
        epochs = 1
        batch_size = 8
    }}
}}
"""


def test_one_input_two_outputs_with_augmentation(tmp_path, monkeypatch, capsys):
    """The transforms know their input when there is one, whatever the outputs: the training batches
    are the data's images flipped or not, each output's targets the sample's."""
    a = _data(tmp_path, drop=("feats",))
    mod, _ = _run(tmp_path, ONE_IN.format(data=_own(tmp_path, "dicts")), "heads", monkeypatch=monkeypatch)
    rec = json.loads((tmp_path / "heads" / "metrics.jsonl").read_text())
    assert {"val_digit_accuracy", "val_big_auc"} <= set(rec)
    data = import_generated(tmp_path / f"pairs_{tmp_path.name}.py", f"pairs_heads_{tmp_path.name}").dicts()
    train_steps, _ = mod.make_transforms()
    loader = mod.Loader(mod.Samples(data, train_steps, 0), 40, False, 0, 0, 1, True, torch.device("cpu"), 0)
    ((xb, yb),) = loader.epoch(1)
    flipped = (xb != a["image"]).flatten(1).any(1)
    assert torch.equal(xb[flipped], a["image"][flipped].flip(-1)) and 0 < int(flipped.sum()) < 40
    assert torch.equal(yb.tensors[0], a["y_digit"]) and torch.equal(yb.tensors[1], a["y_big"])


def test_a_file_that_is_there_is_read_for_its_function(tmp_path, monkeypatch):
    """dataset("file.py:function") with the file there at check time: the function is looked for in
    its source (never imported), as an npz file's arrays are read from its header."""
    _data(tmp_path)
    (tmp_path / "broken.py").write_text("def make(:\n")
    monkeypatch.chdir(tmp_path)
    assert _errors(TWO.format(data=_own(tmp_path, "tuples"), extra="")) == []
    (err,) = _errors(TWO.format(data=_own(tmp_path, "nothing"), extra=""))
    assert err.message == f"dataset('pairs_{tmp_path.name}.py:nothing'): pairs_{tmp_path.name}.py has no function nothing"
    assert err.hint == "its functions: arrays, tuples, dicts"
    (err,) = _errors(TWO.format(data='dataset("broken.py:make")', extra=""))
    assert err.message == "dataset('broken.py:make'): broken.py is not Python that parses (line 1): invalid syntax"
    assert _errors(TWO.format(data='dataset("later.py:make")', extra="")) == []  # written before the run


def test_targets_of_another_shape_are_one_line(tmp_path, monkeypatch):
    _data(tmp_path)
    path = tmp_path / f"pairs_{tmp_path.name}.py"
    path.write_text(path.read_text().replace('float(a["y_big"]))', '[float(a["y_big"])] * 2)'))
    with pytest.raises(Exception) as e:
        _run(tmp_path, TWO.format(data=_own(tmp_path, "tuples"), extra=""), "shape", monkeypatch=monkeypatch)
    assert str(e.value) == "training data: the first sample's target of output 'big' has 2 values (2,), but the output has 1"


def test_a_data_module_named_as_the_model_is_an_error():
    comp = compile_source(TWO.format(data='dataset("data/two.py:make")', extra=""), "models/two.model")
    (err,) = [d for d in comp.diagnostics if d.severity == "error"]
    assert err.message == ("dataset('data/two.py:make') is imported as two, the name of the module two.model "
                           "builds (two.py), which the script imports first")
    assert err.hint == "rename data/two.py (e.g. two_data.py)"


@pytest.mark.parametrize("model,data,words", [
    ("models/my-two.model", "data/my_two.py", "the name of the module my-two.model builds (my_two.py)"),
    ("models/two.model", "data/random.py", "which is the name of a module the script or torch imports first "
                                           "(random from the standard library)"),
    ("models/two.model", "data/numpy.py", "(numpy from its package)"),
])
def test_a_data_module_named_as_a_module_the_script_imports_is_an_error(model, data, words):
    """The script's import would find the model's module (its name made importable: my-two.model
    builds my_two.py) or the standard library's / an installed package's module instead."""
    comp = compile_source(TWO.format(data=f'dataset("{data}:make")', extra=""), model)
    errs = [d for d in comp.diagnostics if d.severity == "error"]
    assert len(errs) == 1 and words in errs[0].message, errs


def test_a_function_defined_under_a_top_level_if_or_try_is_found(tmp_path, monkeypatch):
    """graphc check reads the data file's source: a function defined in a top-level try/except or
    if block is defined when the module is imported (as Python runs it), so it is not an error."""
    import importlib.util

    monkeypatch.chdir(tmp_path)
    (tmp_path / "cond_data.py").write_text(
        "import torch\ntry:\n    from no_such_package_here import make\nexcept ImportError:\n"
        "    def make():\n        return [(torch.zeros(3), 0)]\nif True:\n    def other():\n        return []\n")
    spec = importlib.util.spec_from_file_location("cond_data", tmp_path / "cond_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert callable(mod.make) and callable(mod.other)  # what Python says
    for fn, ok in (("make", True), ("other", True), ("missing", False)):
        comp = compile_source(TWO.format(data=f'dataset("cond_data.py:{fn}")', extra=""), "two.model")
        errs = [d.message for d in comp.diagnostics if d.severity == "error" and "cond_data.py" in d.message]
        assert (errs == []) == ok, (fn, errs)


def test_a_resumed_run_has_the_weights_of_an_uninterrupted_one(tmp_path, monkeypatch):
    """Two epochs straight, and one epoch then --resume for the second: the same weights (the
    sampler's order and the dropout's draws of epoch 2 do not depend on the first run)."""
    _data(tmp_path)
    src = TWO.format(data=_own(tmp_path, "dicts"), extra="num_workers = 2")
    _, straight = _run(tmp_path, src.replace("epochs = 1", "epochs = 2"), "straight", monkeypatch=monkeypatch)
    mod, first = _run(tmp_path, src, "halves", monkeypatch=monkeypatch)
    assert first["epoch"] == 1
    mod.main(["--quiet", "--out", str(tmp_path / "halves"), "--epochs", "2", "--resume"])
    resumed = torch.load(tmp_path / "halves" / "last.pt", weights_only=True)
    assert resumed["epoch"] == 2
    _close(resumed["model"], straight["model"])


def test_validation_data_from_an_npz_file_with_several_outputs(tmp_path, monkeypatch):
    """val_data = npz(...) for two outputs reads y_<output> each, in memory as when streamed: the
    streamed run and the in-memory one have the same weights and validation numbers, and the
    validation loss is torch's on the whole file."""
    a = _data(tmp_path)
    runs = {}
    for name, data, extra in (("memory", 'npz("pairs.npz")', ""), ("own", _own(tmp_path, "tuples"), "num_workers = 2")):
        src = TWO.format(data=data, extra=f'val_data = npz("pairs.npz")\n        {extra}')
        mod, runs[name] = _run(tmp_path, src, name, monkeypatch=monkeypatch)
        runs[name]["record"] = json.loads((tmp_path / name / "metrics.jsonl").read_text())
    _close(runs["own"]["model"], runs["memory"]["model"])
    assert runs["own"]["record"]["val_loss"] == pytest.approx(runs["memory"]["record"]["val_loss"], rel=1e-6)
    model = import_generated(tmp_path / f"gen_own_{tmp_path.name}" / f"own_{tmp_path.name}.py", "own_val").Two()
    model.load_state_dict(runs["own"]["model"])
    model.eval()
    with torch.no_grad():
        digit, big = model(a["image"], a["feats"])
    want = 0.5 * F.binary_cross_entropy_with_logits(big, a["y_big"][:, None]) + F.cross_entropy(digit, a["y_digit"])
    assert runs["own"]["record"]["val_loss"] == pytest.approx(want.item(), rel=1e-5)
