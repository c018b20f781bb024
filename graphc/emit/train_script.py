"""Emit the training script ``train_<stem>.py`` from a checked TrainSpec.

The script is written from ``templates/train.py.tmpl``; this module fills in
the configuration block, the data loader, the loss, optimizer and scheduler.
Every value passes through ``pyfmt.literal``.
"""

from __future__ import annotations

import os
from importlib import resources
from string import Template

from graphc import __version__, pyfmt
from graphc.training import TrainSpec


def _kwargs(params, skip=()) -> str:
    """Keyword arguments that differ from the schema's defaults, as source text."""
    parts = []
    for name, f in type(params).model_fields.items():
        if name in skip:
            continue
        v = getattr(params, name)
        if f.is_required() or v != f.default:
            parts.append(f"{name}={pyfmt.literal(v)}")
    return ", ".join(parts)


_SKLEARN = {
    "digits": "load_digits", "iris": "load_iris", "wine": "load_wine",
    "breast_cancer": "load_breast_cancer", "diabetes": "load_diabetes",
}


def _load_data(spec: TrainSpec) -> str:
    d = spec.data
    target_dtype = "torch.long" if spec.task == "class" else "torch.float32"
    lines = ['def load_data(seed):',
             f'    """(x_train, y_train, x_val, y_val) as CPU tensors: {pyfmt.text(_describe(spec))}."""']
    if d.name in _SKLEARN:
        lines += [f"    from sklearn.datasets import {_SKLEARN[d.name]}  # shipped inside scikit-learn: no download",
                  "",
                  f"    ds = {_SKLEARN[d.name]}()",
                  "    x = torch.tensor(ds.data, dtype=torch.float32)"]
        if d.name == "digits":
            lines.append("    x = x / 16.0  # pixel values 0..16 -> 0..1")
            if not d.params.flatten:
                lines.append("    x = x.reshape(-1, 1, 8, 8)")
        lines.append(f"    y = torch.tensor(ds.target, dtype={target_dtype})")
    elif d.name in ("npz", "pt"):
        lines += [f"    return _split_or_val(*_read_{d.name}({pyfmt.literal(d.params.path)}, "
                  f"{pyfmt.literal(d.params.x)}, {pyfmt.literal(d.params.y)}), seed)"]
    elif d.name == "csv":
        lines += [f"    return _split_or_val(*_read_csv({pyfmt.literal(d.params.path)}, "
                  f"{pyfmt.literal(d.params.target)}), seed)"]
    elif d.name == "image_folder":
        lines += [f"    return _split_or_val(*_read_images({pyfmt.literal(d.params.path)}, "
                  f"{pyfmt.literal(tuple(d.params.size))}, {pyfmt.literal(d.params.grayscale)}), seed)"]
    if d.name in _SKLEARN:
        lines.append("    return _split_or_val(x, y, seed)")
    lines += ["", "", "def _split_or_val(x, y, seed):"]
    v = spec.val_data
    if v is None:
        lines.append("    return split(x, y, VAL_SPLIT, seed)")
    else:
        reader = {"npz": f"_read_npz({pyfmt.literal(getattr(v.params, 'path', ''))}, "
                         f"{pyfmt.literal(getattr(v.params, 'x', 'x'))}, {pyfmt.literal(getattr(v.params, 'y', 'y'))})",
                  "pt": f"_read_pt({pyfmt.literal(getattr(v.params, 'path', ''))}, "
                        f"{pyfmt.literal(getattr(v.params, 'x', 'x'))}, {pyfmt.literal(getattr(v.params, 'y', 'y'))})",
                  "csv": f"_read_csv({pyfmt.literal(getattr(v.params, 'path', ''))}, "
                         f"{pyfmt.literal(getattr(v.params, 'target', 'target'))})",
                  "image_folder": f"_read_images({pyfmt.literal(getattr(v.params, 'path', ''))}, "
                                  f"{pyfmt.literal(tuple(getattr(v.params, 'size', (32, 32))))}, "
                                  f"{pyfmt.literal(getattr(v.params, 'grayscale', False))})"}.get(v.name)
        if reader is None:
            lines.append("    raise DataError('val_data must be a file dataset (npz, pt, csv, image_folder)')")
        else:
            lines.append(f"    x_val, y_val = {reader}")
            lines.append("    return x, y, x_val, y_val")
    names = {spec.data.name} | ({spec.val_data.name} if spec.val_data else set())
    if names & {"npz", "pt", "csv", "image_folder"}:
        lines += ["", ""] + _READERS(spec, names)
    return "\n".join(lines)


def _READERS(spec: TrainSpec, names) -> list[str]:  # noqa: N802
    target = "torch.long" if spec.task == "class" else "torch.float32"
    out: list[str] = []
    if names & {"npz", "pt", "csv"}:
        out += ["def _targets(y):",
                '    """Labels as the loss wants them (2-d float targets are class probabilities)."""',
                "    if TASK == 'class' and y.is_floating_point() and y.dim() == 2:",
                "        return y.float()",
                f"    return y.to({target})", "", ""]
    if "npz" in names:
        out += ["def _read_npz(path, x_key, y_key):",
                "    import numpy as np",
                "",
                "    try:",
                "        arrays = np.load(path)",
                "    except OSError as e:",
                "        raise DataError(f'cannot read {path}: {e}') from None",
                "    for key in (x_key, y_key):",
                "        if key not in arrays:",
                "            raise DataError(f'{path} has no array {key!r} (it has {sorted(arrays.files)})')",
                "    x = torch.as_tensor(arrays[x_key]).float()",
                "    return x, _targets(torch.as_tensor(arrays[y_key]))", "", ""]
    if "pt" in names:
        out += ["def _read_pt(path, x_key, y_key):",
                "    try:",
                "        data = torch.load(path, map_location='cpu', weights_only=True)",
                "    except Exception as e:",
                "        raise DataError(f'cannot read {path}: {e}') from None",
                "    for key in (x_key, y_key):",
                "        if not isinstance(data, dict) or key not in data:",
                "            raise DataError(f'{path} has no tensor {key!r}')",
                "    return data[x_key].float(), _targets(data[y_key])", "", ""]
    if "csv" in names:
        out += ["def _read_csv(path, target):",
                "    import csv",
                "",
                "    try:",
                "        with open(path, newline='') as f:",
                "            rows = list(csv.reader(f))",
                "    except OSError as e:",
                "        raise DataError(f'cannot read {path}: {e}') from None",
                "    header, rows = rows[0], [r for r in rows[1:] if r]",
                "    if target not in header:",
                "        raise DataError(f'{path} has no column {target!r} (columns: {header})')",
                "    t = header.index(target)",
                "    try:",
                "        x = torch.tensor([[float(v) for i, v in enumerate(r) if i != t] for r in rows])",
                "        y = torch.tensor([float(r[t]) for r in rows])",
                "    except ValueError as e:",
                "        raise DataError(f'{path}: every value must be a number ({e})') from None",
                "    return x, _targets(y)", "", ""]
    if "image_folder" in names:
        out += ["def _read_images(path, size, grayscale):",
                "    from PIL import Image",
                "",
                "    root = Path(path)",
                "    classes = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []",
                "    if not classes:",
                "        raise DataError(f'{path} must hold one folder of images per class')",
                "    xs, ys = [], []",
                "    for label, name in enumerate(classes):",
                "        for f in sorted((root / name).iterdir()):",
                "            if f.suffix.lower() not in ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp'):",
                "                continue",
                "            img = Image.open(f).convert('L' if grayscale else 'RGB').resize((size[1], size[0]))",
                "            t = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)",
                "            xs.append(t.reshape(size[0], size[1], -1).permute(2, 0, 1).float() / 255.0)",
                "            ys.append(label)",
                "    return torch.stack(xs), torch.tensor(ys, dtype=torch.long)", "", ""]
    while out and out[-1] == "":
        out.pop()
    return out


def _describe(spec: TrainSpec) -> str:
    d = spec.data
    if d.name == "digits":
        return "scikit-learn's digits, 1,797 8×8 images of 10 digits" + (", flattened" if d.params.flatten else "")
    if d.name in _SKLEARN:
        return f"scikit-learn's {d.name} data set"
    return f"{d.name} {getattr(d.params, 'path', '')}"


def _scheduler(spec: TrainSpec) -> str:
    s = spec.scheduler
    ind = "    "
    if s is None and not spec.settings.warmup_epochs:
        return f"{ind}return None, None"
    lines = []
    if s is None:
        main = "torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)"
        when = "epoch"
    elif s.name == "CosineAnnealingLR":
        t_max = s.params.T_max if s.params.T_max is not None else None
        t_src = pyfmt.literal(t_max) if t_max is not None else "max(1, epochs - WARMUP_EPOCHS)"
        extra = f", eta_min={pyfmt.literal(s.params.eta_min)}" if s.params.eta_min else ""
        main = f"torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max={t_src}{extra})"
        when = "epoch"
    elif s.name == "OneCycleLR":
        kw = _kwargs(s.params)
        main = (f"torch.optim.lr_scheduler.OneCycleLR(optimizer, {kw}, epochs=epochs, "
                f"steps_per_epoch=steps_per_epoch)")
        when = "batch"
    elif s.name == "ReduceLROnPlateau":
        kw = _kwargs(s.params)
        main = f"torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer{', ' + kw if kw else ''})"
        when = "plateau"
    else:
        kw = _kwargs(s.params)
        main = f"torch.optim.lr_scheduler.{s.name}(optimizer{', ' + kw if kw else ''})"
        when = "epoch"
    if spec.settings.warmup_epochs:
        lines += [f"{ind}main = {main}",
                  f"{ind}warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, "
                  f"total_iters=WARMUP_EPOCHS)",
                  f"{ind}return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, main], "
                  f'milestones=[WARMUP_EPOCHS]), "{when}"']
    else:
        lines.append(f'{ind}return {main}, "{when}"')
    return "\n".join(lines)


def _config(spec: TrainSpec) -> str:
    s = spec.settings
    rows = [
        ("EPOCHS", s.epochs, ""),
        ("BATCH_SIZE", s.batch_size, "per process"),
        ("LR", spec.optimizer.params.lr, f"{spec.optimizer.name}'s learning rate"),
        ("SEED", s.seed, "weights, shuffling and the validation split"),
        ("VAL_SPLIT", s.val_split, "fraction held out for validation" if spec.val_data is None
         else "unused: validation data is given"),
        ("NORMALIZE", s.normalize, "standardize features with training-set statistics"),
        ("CLIP_GRAD_NORM", s.clip_grad_norm, "max gradient norm, or None"),
        ("WARMUP_EPOCHS", s.warmup_epochs, "linear learning-rate warmup"),
        ("EARLY_STOPPING", s.early_stopping, "patience in epochs, or None"),
        ("EARLY_STOPPING_METRIC", s.early_stopping_metric, ""),
        ("DEVICE", s.device, "auto, cpu, cuda or mps"),
        ("PRECISION", s.precision, "fp32, or bf16/fp16 with autocast"),
        ("NONFINITE_LOSS", s.nonfinite_loss, "a NaN or infinite training loss: stop, or skip the step"),
    ]
    width = max(len(f"{k} = {pyfmt.literal(v)}") for k, v, _ in rows)
    out = []
    for k, v, note in rows:
        text = f"{k} = {pyfmt.literal(v)}"
        out.append(f"{text.ljust(width)}  # {note}" if note else text)
    return "\n".join(out)


def _argparse_text(s: str) -> str:
    """argparse %-formats a description that holds "%(prog)" (and only then): there, a
    literal % must be written %%."""
    return s.replace("%", "%%") if "%(prog)" in s else s


def emit_train_script(spec: TrainSpec, model_class: str, stem: str, path: str) -> str:
    template = resources.files("graphc.emit").joinpath("templates/train.py.tmpl").read_text(encoding="utf-8")
    loss = spec.loss
    loss_kw = _kwargs(loss.params)
    opt = spec.optimizer
    opt_kw = _kwargs(opt.params, skip=("lr",))
    values = {
        "MODEL": model_class,
        "STEM": stem,
        "FILE": pyfmt.text(os.path.basename(path)),
        "FILE_HELP": pyfmt.text(_argparse_text(os.path.basename(path))),
        "VERSION": __version__,
        "DATA_DESC": pyfmt.text(_describe(spec)),
        "CONFIG": _config(spec),
        "TASK": pyfmt.literal(spec.task),
        "NUM_CLASSES": pyfmt.literal(spec.classes if spec.task == "class" and spec.classes
                                     else (spec.output_shape[0] if spec.task == "class" and spec.output_shape
                                           and isinstance(spec.output_shape[0], int) else None)),
        "INPUT_SHAPE": pyfmt.literal(tuple(d if isinstance(d, int) else None for d in spec.input_shape)),
        "OUTPUT_SHAPE": pyfmt.literal(tuple(d if isinstance(d, int) else None for d in spec.output_shape)),
        "LOAD_DATA": _load_data(spec),
        "LOSS": f"nn.{loss.name}({loss_kw})",
        "OPTIMIZER": f"torch.optim.{opt.name}(params, lr=lr{', ' + opt_kw if opt_kw else ''})",
        "SCHEDULER": _scheduler(spec),
        "BINARY_THRESHOLD": "0.5" if loss.name == "BCELoss" else "0.0",
    }
    return Template(template).substitute(values)
