"""Data sets: ``data = digits()``, ``data = npz("train.npz")``, ``val_data = csv(...)``.

A data set says what its targets are (``task``: class labels, real values, or
whatever its file holds), how many classes it has and the shape of one sample where
graphc can know them before run time, and the code the training script loads it
with: ``load`` is the body of the script's ``load_data`` after its docstring, and a
file data set's ``reader`` is an expression giving ``(x, y)`` (so it can also be
``val_data``), with the functions it calls in ``helpers``.  Samples are loaded by
the registry test through that very code: the built-in sets from scikit-learn, the
file formats from files ``write_sample`` makes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from graphc import pyfmt
from graphc.components.base import Component, Params, PosInt, Sample, register
from graphc.components.csv_code import CSV_ROWS


class Dataset(Component):
    kind = "data set"
    task: ClassVar[Literal["class", "regression", "file"]]  # "file": whatever its file holds
    classes: ClassVar[int | None] = None

    def sample_shape(self, p: Params) -> tuple[int, ...] | None:
        """One sample's shape (no batch), or None when only the file knows it."""
        return None

    def num_classes(self, p: Params) -> int | None:
        """The number of classes its labels have (``classes``, unless an argument chooses it)."""
        return self.classes

    def fits_model(self, p: Params, inputs: list, out_name: str, out_shape: tuple,
                   task: str) -> list[tuple[str, str | None]]:
        """(message, hint) for each way the model does not fit this data set, beyond
        ``sample_shape`` (which training.py checks for every data set): ``inputs`` are
        (name, type) of the model's inputs, ``out_shape`` the output's, batch first."""
        return []

    def fits_ids(self, p: Params, name: str, limit: int | None) -> list[tuple[str, str | None]]:
        """(message, hint) where the ids it feeds input ``name`` reach ``limit`` (the smallest
        num_embeddings of the Embeddings reading it; None: no layer limits them)."""
        return []

    def shape_hint(self, p: Params) -> str | None:
        return None

    def describe(self, p: Params) -> str:
        return f"{self.name} {getattr(p, 'path', '')}"

    def reader(self, p: Params) -> str | None:
        """An expression giving ``(x, y)`` CPU tensors, for a data set read from a file; ``x`` keeps
        the file's dtype (integer ids stay integers): the script converts it to the model input's."""
        return None

    def load(self, p: Params) -> list[str]:
        return [f"    return _split_or_val(*{self.reader(p)}, seed)"]

    #: the functions ``reader`` calls, as source text (never with anything a file says); several
    #: blocks as a tuple, each written once into a script however many data sets use it
    code: ClassVar[str | tuple[str, ...]] = ""
    ids: ClassVar[bool] = False  # its features are integer ids (text), not float values
    #: read a sample at a time through a DataLoader (datasets_stream.py): ``items`` is an
    #: expression giving a torch Dataset of (x, y) samples, its classes in ``stream_code``
    streams: ClassVar[bool] = False

    def items(self, p: Params) -> str | None:
        return None

    def image_shape(self, p: Params) -> tuple | None:
        """One sample's shape for the transforms' check, None where unknown (an int or None each)."""
        return self.sample_shape(p)
    needs_targets: ClassVar[bool] = False  # its code calls ``_targets`` (TARGETS below)

    def write_sample(self, folder: Path, n: int, shape: tuple[int, ...], classes: int) -> dict[str, Any]:
        """Write ``n`` random samples of ``shape`` in this format under ``folder``; the arguments
        of a call that reads them.  For the registry test (numpy, torch or pillow needed)."""
        raise NotImplementedError


class _Sklearn(Dataset):
    """A data set shipped inside scikit-learn (no download)."""

    loader: ClassVar[str]
    features: ClassVar[int]

    def sample_shape(self, p):
        return (self.features,)

    def describe(self, p):
        return f"scikit-learn's {self.name} data set"

    def load(self, p):
        dtype = "torch.long" if self.task == "class" else "torch.float32"
        return [f"    from sklearn.datasets import {self.loader}  # shipped inside scikit-learn: no download",
                "",
                f"    ds = {self.loader}()",
                "    x = torch.tensor(ds.data, dtype=torch.float32)",
                *self.transform(p),
                f"    y = torch.tensor(ds.target, dtype={dtype})",
                *(["    DATA_INFO['classes'] = [str(n) for n in ds.target_names]  # for --predict"]
                  if self.task == "class" else []),
                "    return _split_or_val(x, y, seed)"]

    def transform(self, p) -> list[str]:
        return []


@register
class digits(_Sklearn):  # noqa: N801 - the name a .model file writes
    """scikit-learn's 1,797 8×8 images of handwritten digits, 10 classes."""

    task, classes, loader, features = "class", 10, "load_digits", 64
    samples = (Sample({}), Sample({"flatten": True}))

    class Params(Params):
        flatten: bool = False

    def sample_shape(self, p):
        return (64,) if p.flatten else (1, 8, 8)

    def shape_hint(self, p):
        return "digits(flatten=true) gives (64,); digits() gives (1, 8, 8)"

    def describe(self, p):
        return "scikit-learn's digits, 1,797 8×8 images of 10 digits" + (", flattened" if p.flatten else "")

    def transform(self, p):
        return ["    x = x / 16.0  # pixel values 0..16 -> 0..1"] + ([] if p.flatten else
                                                                      ["    x = x.reshape(-1, 1, 8, 8)"])


@register
class iris(_Sklearn):  # noqa: N801
    """scikit-learn's iris flowers: 150 samples of 4 measurements, 3 classes."""

    task, classes, loader, features = "class", 3, "load_iris", 4
    samples = (Sample({}),)


@register
class wine(_Sklearn):  # noqa: N801
    """scikit-learn's wines: 178 samples of 13 measurements, 3 classes."""

    task, classes, loader, features = "class", 3, "load_wine", 13
    samples = (Sample({}),)


@register
class breast_cancer(_Sklearn):  # noqa: N801
    """scikit-learn's breast cancer data: 569 samples of 30 features, 2 classes."""

    task, classes, loader, features = "class", 2, "load_breast_cancer", 30
    samples = (Sample({}),)


@register
class diabetes(_Sklearn):  # noqa: N801
    """scikit-learn's diabetes progression: 442 samples of 10 features, one real target."""

    task, loader, features = "regression", "load_diabetes", 10
    samples = (Sample({}),)


class _Arrays(Params):
    path: str
    x: str | tuple[str, ...] = "x"  # several inputs: one array each, in the model's order
    y: str = "y"


class _File(Dataset):
    task = "file"
    samples = (Sample({}, (3, 4, 4)), Sample({}, (5,)))


@register
class npz(_File):  # noqa: N801
    """Arrays ``x`` and ``y`` (or the keys given) of a NumPy ``.npz`` file."""

    Params = _Arrays
    needs_targets = True
    code = """
def _read_npz(path, x_key, y_key):
    import numpy as np

    try:
        arrays = np.load(path)
    except OSError as e:
        raise DataError(f'cannot read {path}: {e}') from None
    keys = x_key if isinstance(x_key, tuple) else (x_key,)  # several inputs: one array each
    for key in (*keys, y_key):
        if key not in arrays and not (key == y_key and TASK == 'reconstruction'):
            raise DataError(f'{path} has no array {key!r} (it has {sorted(arrays.files)})')
    x = torch.as_tensor(arrays[x_key]) if len(keys) == 1 else Inputs(torch.as_tensor(arrays[k]) for k in keys)
    if y_key not in arrays:  # reconstruction: the target is the input
        return x, torch.zeros(len(x), 0)
    return x, _targets(torch.as_tensor(arrays[y_key]))
"""

    def reader(self, p):
        return f"_read_npz({pyfmt.literal(p.path)}, {pyfmt.literal(p.x)}, {pyfmt.literal(p.y)})"

    def arrays(self, p) -> dict[str, tuple[tuple[int, ...], str]] | None:
        """Each array's shape and dtype (``int64``, ``float32``, ...), read from the headers of
        the file's ``.npy`` members without numpy; None when the file is not there or not an npz
        (the script reports that when it runs)."""
        return npz_arrays(p.path)

    def write_sample(self, folder, n, shape, classes):
        import numpy as np

        rng = np.random.default_rng(0)
        path = folder / "sample.npz"
        np.savez(path, feats=rng.random((n, *shape), dtype=np.float32), labels=np.arange(n) % classes)
        return {"path": str(path), "x": "feats", "y": "labels"}


@register
class pt(_File):  # noqa: N801
    """Tensors ``x`` and ``y`` (or the keys given) of a dict saved with ``torch.save``."""

    Params = _Arrays
    needs_targets = True
    code = """
def _read_pt(path, x_key, y_key):
    import pickle

    try:
        data = torch.load(path, map_location='cpu', weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as e:
        raise DataError(f'cannot read {path}: {e}') from None
    keys = x_key if isinstance(x_key, tuple) else (x_key,)  # several inputs: one tensor each
    for key in (*keys, y_key):
        if not isinstance(data, dict) or key not in data and not (key == y_key and TASK == 'reconstruction'):
            raise DataError(f'{path} has no tensor {key!r}')
    x = data[x_key] if len(keys) == 1 else Inputs(data[k] for k in keys)
    if y_key not in data:  # reconstruction: the target is the input
        return x, torch.zeros(len(x), 0)
    return x, _targets(data[y_key])
"""

    def reader(self, p):
        return f"_read_pt({pyfmt.literal(p.path)}, {pyfmt.literal(p.x)}, {pyfmt.literal(p.y)})"

    def write_sample(self, folder, n, shape, classes):
        import torch

        path = folder / "sample.pt"
        torch.save({"inputs": torch.rand(n, *shape), "labels": torch.arange(n) % classes}, path)
        return {"path": str(path), "x": "inputs", "y": "labels"}


@register
class csv(_File):  # noqa: N801
    """A CSV file with a header: every column a feature but ``target``."""

    needs_targets = True
    code = (CSV_ROWS, """
def _read_csv(path, target):
    # every column but target the features, target the labels; a row of empty values only (a
    # spreadsheet's cleared cells) is skipped, any other empty or non-numeric value is an error
    # naming its row and column
    rows, lines = _csv_rows(path)
    header = rows[0]
    if target not in header:
        raise DataError(f'{path} has no column {target!r} (columns: {header})')
    t = header.index(target)
    kept = []
    for n in range(1, len(rows)):
        r = rows[n]
        if not any(v.strip() for v in r):
            continue  # a blank row
        where = _csv_row(n, lines)
        if len(r) != len(header):
            raise DataError(f'{path}: {where} has {len(r)} values, but the header has {len(header)}')
        for i, v in enumerate(r):
            try:
                float(v)
            except ValueError:
                raise DataError(f'{path}: {where}, column {header[i]!r}: {v!r} is not a number '
                                '(every value must be one)') from None
        kept.append(r)
    feats = [[v for i, v in enumerate(r) if i != t] for r in kept]
    try:  # integers (token ids) stay integers
        x = torch.tensor([[int(v) for v in r] for r in feats])
    except ValueError:
        x = torch.tensor([[float(v) for v in r] for r in feats])
    y = torch.tensor([float(r[t]) for r in kept])
    return x, _targets(y)
""")
    samples = (Sample({}, (4,)), Sample({}, (1,)))

    class Params(Params):
        path: str
        target: str = "target"

    def reader(self, p):
        return f"_read_csv({pyfmt.literal(p.path)}, {pyfmt.literal(p.target)})"

    def fits_model(self, p, inputs, out_name, out_shape, task):
        """When the file is there at check time: its header (read with the csv module, no torch)
        has the target column, and one feature column per value of a model's ``[B, F]`` input."""
        import difflib
        import json

        from graphc.shapes import shape_str

        header = csv_header(p.path)
        if header is None:
            return []
        if p.target not in header:
            near = difflib.get_close_matches(p.target, header, 1, 0.5)
            return [(f"{p.path} has no column {p.target!r} (its columns: {', '.join(map(repr, header))})",
                     f"pass target={json.dumps(near[0]) if near else 'NAME'}, naming its target column")]
        n = len(header) - 1
        if len(inputs) == 1 and len(inputs[0][1].shape) == 2 and isinstance(inputs[0][1].shape[1], int) \
                and inputs[0][1].shape[1] != n:
            name, t = inputs[0]
            return [(f"{p.path} has {n} feature columns (every column but {p.target!r}), but input '{name}' is "
                     f"{shape_str(t.shape)}", f"declare input {name}: [B, {n}], or give the file its columns")]
        return []

    def write_sample(self, folder, n, shape, classes):
        import random

        rng = random.Random(0)
        path = folder / "sample.csv"
        rows = [",".join([*(f"f{i}" for i in range(shape[0])), "label"])]
        rows += [",".join([*(f"{rng.random():.4f}" for _ in range(shape[0])), str(i % classes)])
                 for i in range(n)]
        path.write_text("\n".join(rows) + "\n")
        return {"path": str(path), "target": "label"}


@register
class image_folder(_File):  # noqa: N801
    """Images in one folder per class (the folder names, sorted, are the classes), resized."""

    code = """
def _read_images(path, size, grayscale):
    from PIL import Image

    root = Path(path)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not classes:
        raise DataError(f'{path} must hold one folder of images per class')
    DATA_INFO.setdefault('classes', classes)  # the training data's (val_data's are the same)
    xs, ys = [], []
    for label, name in enumerate(classes):
        for f in sorted((root / name).iterdir()):
            if f.suffix.lower() not in ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp'):
                continue
            img = Image.open(f).convert('L' if grayscale else 'RGB')
            img = img.resize((size[1], size[0])) if size is not None else img
            t = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
            xs.append(t.reshape(size[0], size[1], -1).permute(2, 0, 1).float() / 255.0)
            ys.append(label)
    return torch.stack(xs), torch.tensor(ys, dtype=torch.long)
"""
    samples = (Sample({"size": (6, 5)}), Sample({"size": (4, 4), "grayscale": True}))
    streams = True

    class Params(Params):
        path: str
        size: tuple[PosInt, PosInt] | None = (32, 32)  # none: as stored (transforms then give the size)
        grayscale: bool = False

    def sample_shape(self, p):
        return None if p.size is None else (1 if p.grayscale else 3, *p.size)

    def image_shape(self, p):
        return (1 if p.grayscale else 3, *(p.size or (None, None)))

    def fits_model(self, p, inputs, out_name, out_shape, task):
        """A folder there at check time: its class folders, as many as the output's class scores."""
        root = Path(p.path)
        if task != "class" or len(out_shape) != 2 or not isinstance(out_shape[1], int) or not root.is_dir():
            return []
        try:
            classes = sorted(d.name for d in root.iterdir() if d.is_dir())
        except OSError:
            return []
        if not classes or len(classes) == out_shape[1]:
            return []
        shown = ", ".join(classes[:6]) + (", ..." if len(classes) > 6 else "")
        return [(f"{p.path} has {len(classes)} class folders ({shown}), but output '{out_name}' gives "
                 f"{out_shape[1]} class scores", f"end the model with Linear({len(classes)}), or give "
                 f"{p.path} {out_shape[1]} class folders")]

    def items(self, p):
        return (f"ImageFiles({pyfmt.literal(p.path)}, {pyfmt.literal(None if p.size is None else tuple(p.size))}, "
                f"{pyfmt.literal(p.grayscale)})")

    def reader(self, p):
        return (f"_read_images({pyfmt.literal(p.path)}, {pyfmt.literal(None if p.size is None else tuple(p.size))}, "
                f"{pyfmt.literal(p.grayscale)})")

    def write_sample(self, folder, n, shape, classes):
        from PIL import Image

        for i in range(n):
            sub = folder / "images" / f"class{i % classes}"
            sub.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (7 + i, 9), (40 * i % 256, 90, 200)).save(sub / f"{i}.png")
        return {"path": str(folder / "images")}


def csv_header(path: str) -> list[str] | None:
    """A CSV file's header row as the script reads it (a byte-order mark dropped); None when the
    file cannot be read now (the script reports that when it runs)."""
    import csv as csv_module

    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return next(csv_module.reader(f), None)
    except (OSError, UnicodeDecodeError, ValueError, csv_module.Error):
        return None


_NPY_KINDS = {"i": "int", "u": "uint", "f": "float", "b": "bool", "c": "complex"}


def npy_header(f) -> dict | None:
    """The header of the ``.npy`` data that the binary file ``f`` starts with (format 1.0 to 3.0):
    its ``descr``, ``fortran_order`` and ``shape``, read without numpy; None if it is not one."""
    import ast

    head = f.read(10)
    if head[:6] != b"\x93NUMPY":
        return None
    size = int.from_bytes(head[8:10], "little")
    if head[6] >= 2:  # a 4-byte header length
        size = int.from_bytes(head[8:10] + f.read(2), "little")
    return ast.literal_eval(f.read(size).decode("latin1"))


def npz_arrays(path: str) -> dict[str, tuple[tuple[int, ...], str]] | None:
    """The arrays of a ``.npz`` file, from their ``.npy`` headers."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            out = {}
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with z.open(info) as f:
                    meta = npy_header(f)
                if meta is None:
                    return None
                descr = meta["descr"]
                if not isinstance(descr, str) or len(descr) < 3:
                    return None
                kind = _NPY_KINDS.get(descr[1], descr)
                dtype = "bool" if kind == "bool" else f"{kind}{8 * int(descr[2:])}" if descr[2:].isdigit() else kind
                out[info.filename[:-4]] = (tuple(int(d) for d in meta["shape"]), dtype)
            return out
    except (OSError, zipfile.BadZipFile, ValueError, SyntaxError, KeyError, TypeError, MemoryError):
        return None


#: Labels as a loss wants them, for the file readers: ``{dtype}`` is the task's label dtype.
TARGETS = '''
def _targets(y):
    """Labels as the loss wants them (2-d float targets are class probabilities; float labels per
    position are kept, for check_data to reject)."""
    if TASK == 'class' and y.is_floating_point() and y.dim() == 2:
        return y.float()
    if TASK in ('tokens', 'dense') and y.is_floating_point():
        return y
    return y.to({dtype})
'''


def helper_code(records, task: str) -> list[str]:
    """The helper functions the data sets ``records`` need, each once, in registry order."""
    from graphc.components.base import registry

    used = {r.name for r in records}
    chosen = [r for name, r in registry("data set").items() if name in used and r.code]
    blocks = []
    if any(r.needs_targets for r in chosen):
        blocks.append(TARGETS.format(dtype="torch.long" if task in ("class", "tokens", "dense") else "torch.float32"))
    for r in chosen:  # a block several data sets share (the download, the idx reader) once
        blocks += [b for b in ((r.code,) if isinstance(r.code, str) else r.code) if b not in blocks]
    return "\n\n\n".join(b.strip("\n") for b in blocks).split("\n")


# the standard image sets, then text, registered after the file formats (registry order)
from graphc.components import datasets_vision  # noqa: E402, F401, I001
from graphc.components import datasets_text  # noqa: E402, F401, I001
from graphc.components import datasets_textcsv  # noqa: E402, F401, I001
from graphc.components import datasets_stream  # noqa: E402, F401, I001
