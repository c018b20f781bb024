"""``graphc predict``: a checkpoint's outputs on new data, through the generated script's
``--predict`` mode (built into a temporary directory, as ``graphc eval`` does).

What can be checked without torch is checked first, with one line each: the checkpoint and
the data are there, the output's suffix is known, and the data's shape (from the headers of
a ``.npy``/``.npz`` file, or the columns of a ``.csv``) fits the model's declared input.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from graphc.api import Compilation
from graphc.cli import UsageError, build_outputs
from graphc.cli_train import _trainable, run_child

SUFFIXES = (".csv", ".npy", ".npz")


def _npy_shape(path: Path) -> tuple[int, ...] | None:
    """The shape in a ``.npy`` file's header (format 1.0 to 3.0), without numpy; None if unreadable."""
    from graphc.components.datasets import npy_header

    try:
        with open(path, "rb") as f:
            meta = npy_header(f)
        return None if meta is None else tuple(int(d) for d in meta["shape"])
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, MemoryError):
        return None


def _want(shape) -> str:
    return "(B, " + ", ".join(str(d) for d in shape) + ")" if shape else "(B,)"


def _fits(have: tuple, want: tuple) -> bool:
    return len(have) == len(want) + 1 and all(not isinstance(w, int) or w == h
                                              for w, h in zip(want, have[1:], strict=True))


def _feature_shapes(data: Path, spec) -> dict[str, tuple] | None:
    """The shape of each input's array in the data, where graphc can read it without numpy."""
    suffix = data.suffix.lower()
    if spec.inputs:  # several inputs: an .npz with one array each (the script says so otherwise)
        if suffix != ".npz":
            return None
        from graphc.components.datasets import npz_arrays

        arrays = npz_arrays(str(data)) or {}
        return {name: arrays[field][0] for name, field, _, _, _ in spec.inputs if field in arrays}
    if suffix == ".npy":
        shape = _npy_shape(data)
        return None if shape is None else {spec.input_name: shape}
    if suffix == ".npz":
        from graphc.components.datasets import npz_arrays

        arrays = npz_arrays(str(data)) or {}
        key = spec.data.params.x if spec.data.name in ("npz", "pt") else "x"
        if key not in arrays and len(arrays) == 1:
            key = next(iter(arrays))
        return {spec.input_name: arrays[key][0]} if key in arrays else None
    if suffix == ".csv" and len(spec.input_shape) == 1:
        try:
            with open(data, encoding="utf-8-sig", newline="") as f:
                import csv

                header = next(csv.reader(f), None)
        except (OSError, UnicodeDecodeError):
            return None
        if not header:
            return None
        target = spec.data.params.target if spec.data.name == "csv" else "target"
        return {spec.input_name: (None, sum(1 for h in header if h != target))}
    return None


def _check_data(data: Path, spec) -> None:
    if spec.data.name == "text_csv" and data.suffix.lower() == ".csv":  # texts, tokenized by the script
        from graphc.components.datasets_textcsv import file_columns

        column = spec.data.params.text
        found = file_columns(str(data), column, column)
        if found is not None and found[1] is None:
            raise UsageError(f"{data} has no column {column!r} (its columns: {', '.join(map(repr, found[0]))}): "
                             f"the model reads the texts of column {column!r}, as in training")
        return
    shapes = _feature_shapes(data, spec) or {}
    declared = {name: shape for name, _, shape, _, _ in spec.inputs} if spec.inputs else \
        {spec.input_name: spec.input_shape}
    for name, have in shapes.items():
        want = declared[name]
        if spec.transform and len(have) == 4:  # raw images: what the evaluation transforms make of them
            _check_transformed(data, have, want, name, spec)
            continue
        if not _fits(have, want):
            what = "columns" if data.suffix.lower() == ".csv" else "samples of shape"
            got = f"{have[1]} feature columns" if what == "columns" else f"{what} {tuple(have[1:])}"
            raise UsageError(f"{data} has {got}, but input {name!r} is {_want(want)}: give data of that "
                             "shape (one row per sample)")


def _check_transformed(data: Path, have: tuple, want: tuple, name: str, spec) -> None:
    """Samples of shape have[1:] through the train section's evaluation transforms, as the script
    sends them, must give input ``name``'s shape."""
    from graphc.components.transforms import Image, describe, pipeline

    steps = [(c.record, c.params) for c in spec.transform]
    img, problems = pipeline(Image(tuple(have[1:])), steps)
    what = f"{data} has samples of shape {tuple(have[1:])}, which the evaluation transforms [{describe(steps)}]"
    if problems:
        _, message, hint = problems[0]
        raise UsageError(f"{what} cannot take: {message}" + (f" ({hint})" if hint else ""))
    if img.shape is not None and not _fits((None, *img.shape), want):
        raise UsageError(f"{what} make {img.show()}, but input {name!r} is {_want(want)}: give samples "
                         "that they make into that shape")


def _predict_gan(args, comp, ckpt: Path, data: Path, out: Path | None) -> int:
    """A GAN: the generator's samples from noise (default), or --model the discriminator's logits."""
    spec = comp.trained.training
    players = {comp.trained.name: spec.noise_shape, spec.discriminator: spec.sample_shape}
    name = args.model or comp.trained.name
    if name not in players:
        raise UsageError(f"--model {name}: a GAN's players are {' and '.join(players)}")
    shape = _npy_shape(data) if data.suffix.lower() == ".npy" else None
    if shape is not None and not _fits(shape, players[name]):
        raise UsageError(f"{data} has samples of shape {tuple(shape[1:])}, but {name} takes "
                         f"{_want(players[name])}")
    with tempfile.TemporaryDirectory(prefix="graphc-predict-") as tmp:
        build_outputs(comp, Path(tmp))
        script = Path(tmp) / f"train_{comp.module_stem}.py"
        cmd = [sys.executable, str(script), f"--predict={ckpt.resolve()}", f"--data={data.resolve()}",
               f"--model={name}"]
        if out is not None:
            cmd.append(f"--output={out.resolve()}")
        if args.device is not None:
            cmd.append(f"--device={args.device}")
        return run_child(cmd)


def predict(args) -> int:
    """graphc predict: the outputs of a checkpoint on new data, through the script's --predict."""
    ckpt, data = Path(args.checkpoint), Path(args.data)
    if not ckpt.is_file():
        raise UsageError(f"no checkpoint {ckpt}" + (": it is a directory" if ckpt.is_dir() else ""))
    if not data.exists():
        raise UsageError(f"no data file {data}")
    out = Path(args.output) if args.output else None
    if out is not None and out.suffix.lower() not in SUFFIXES:
        raise UsageError(f"-o {out}: unknown output suffix {out.suffix or '(none)'!r}: "
                         "write a .csv, .npy or .npz file")
    if out is not None and not out.parent.is_dir():
        raise UsageError(f"-o {out}: there is no folder {out.parent}")
    if out is not None and out.is_dir():
        raise UsageError(f"-o {out} is a folder: name a file in it, e.g. {out / 'preds.csv'}")
    comp = _trainable(args.file, "graphc predict")
    if not isinstance(comp, Compilation):
        return comp
    prog = comp.trained
    if prog.training.task == "gan":
        return _predict_gan(args, comp, ckpt, data, out)
    if args.model is not None and args.model != prog.name:
        names = ", ".join(p.name for p in comp.programs)
        raise UsageError(f"--model {args.model}: predictions come from the model with the train section, "
                         f"{prog.name} (the file has {names})")
    outputs = [name for name, _ in prog.outputs]
    if out is not None and out.suffix.lower() == ".npy" and len(outputs) > 1:
        raise UsageError(f"-o {out}: {prog.name} has {len(outputs)} outputs ({', '.join(outputs)}); "
                         "write a .npz (one array each) or a .csv")
    _check_data(data, prog.training)
    with tempfile.TemporaryDirectory(prefix="graphc-predict-") as tmp:
        build_outputs(comp, Path(tmp))
        script = Path(tmp) / f"train_{comp.module_stem}.py"
        cmd = [sys.executable, str(script), f"--predict={ckpt.resolve()}", f"--data={data.resolve()}"]
        if out is not None:
            cmd.append(f"--output={out.resolve()}")
        for flag in ("device", "batch_size"):
            v = getattr(args, flag)
            if v is not None:
                cmd.append(f"--{flag.replace('_', '-')}={v}")
        return run_child(cmd)
