"""Emit the training script ``train_<stem>.py`` from a checked TrainSpec.

The script is assembled from the parts in ``templates/train/`` (``PARTS``, in
order), then this module fills in the configuration block, the data loader, the
loss, optimizer and scheduler.  Every value passes through ``pyfmt.literal``.
"""

from __future__ import annotations

import math
import os
from importlib import resources
from string import Template

from graphc import __version__, pyfmt
from graphc.components.base import registry
from graphc.components.datasets import helper_code
from graphc.training import TrainSpec
from graphc.training_terms import describe


def _with_fields(spec: TrainSpec, choice):
    """The data set's arguments, with ``x`` the arrays of the inputs when there are several."""
    if not spec.inputs or choice is None or choice.name not in ("npz", "pt"):
        return choice
    fields = tuple(field for _, field, _, _, _ in spec.inputs)
    return type(choice)(choice.record, type(choice.params)(**{**choice.params.model_dump(), "x": fields}))


def _inputs(spec: TrainSpec) -> str:
    if not spec.inputs:
        return "None"
    rows = [f"({pyfmt.literal(name)}, {pyfmt.literal(tuple(d if isinstance(d, int) else None for d in shape))}, "
            f"{TORCH_DTYPES.get(dtype, 'torch.float32')}, {pyfmt.literal(limit)})"
            for name, _, shape, dtype, limit in spec.inputs]
    return "(\n    " + ",\n    ".join(rows) + ",\n)"


def _load_data(spec: TrainSpec) -> str:
    d = _with_fields(spec, spec.data)
    load = d.record.load(d.params)
    if spec.target_keys and d.name == "npz":  # several outputs' targets: one array each
        keys = spec.target_keys
        first = type(d)(d.record, type(d.params)(**{**d.params.model_dump(), "y": keys[0]}))
        load = [f"    x, _ = {first.record.reader(first.params)}",
                f"    y = _read_targets({pyfmt.literal(d.params.path)}, {pyfmt.literal(tuple(keys))})",
                "    return _split_or_val(x, y, seed)"]
    lines = ['def load_data(seed):',
             f'    """(x_train, y_train, x_val, y_val) as CPU tensors: {pyfmt.text(d.record.describe(d.params))}."""',
             *load,
             "", "", "def _split_or_val(x, y, seed):"]
    v = _with_fields(spec, spec.val_data)
    if v is None:
        lines.append("    return split(x, y, VAL_SPLIT, seed)")
    else:  # check_training made sure it is read from a file; several outputs: y_<output> each
        from graphc.components.datasets_stream import val_reader

        lines += [f"    x_val, y_val = {val_reader(spec, spec.val_data)}", "    return x, y, x_val, y_val"]
    if getattr(d.record, "training_rows", False):  # text_csv: its vocabulary counts the rows that train
        lines += ["", "", "def _training_rows(n, seed):",
                  '    """The indices of the rows of the data that train, as _split_or_val splits them."""',
                  "    return split(torch.arange(n), torch.arange(n), VAL_SPLIT, seed)[0].tolist()" if v is None
                  else "    return range(n)  # validation data is given: every row trains"]
    files = [registry("data set")[name] for name in ("npz", "pt", "csv")]  # for --eval --data FILE
    helpers = helper_code([c.record for c in (spec.data, spec.val_data) if c is not None] + files, spec.task)
    if helpers != [""]:
        lines += ["", "", *helpers]
    if spec.target_keys:
        lines += ["", "", *READ_TARGETS.strip("\n").split("\n")]
    return "\n".join(lines)


READ_TARGETS = '''
def _read_targets(path, keys):
    """Several outputs: the targets of each, one array of the file each."""
    import numpy as np

    arrays = np.load(path)
    for key in keys:
        if key not in arrays:
            raise DataError(f'{path} has no array {key!r} for the targets of output {key[2:]!r} '
                            f'(it has {sorted(arrays.files)})')
    return Inputs(torch.as_tensor(arrays[key]) for key in keys)
'''


def _terms(spec: TrainSpec) -> dict[str, str]:
    """TERMS, TARGET_SLOTS, HEADS, the loss and its helpers, for a loss of several terms."""
    if not spec.terms:
        return {"TERMS": "None", "TARGET_SLOTS": "None", "HEADS": "None", "LOSS_HELPERS": "",
                "LOSS": spec.loss.record.code(spec.loss.params)}
    from graphc.training import _metrics

    rows = [f"({pyfmt.literal(float(t.weight))}, {pyfmt.literal(t.outputs)}, {pyfmt.literal(t.slot)}, "
            f"{pyfmt.literal(t.task)}),  # {pyfmt.comment(describe(t))}" for t in spec.terms]
    heads = []
    for name, i in spec.heads:
        t = spec.terms[i]
        dims = t.shape[1:]
        columns = math.prod(dims) if all(isinstance(d, int) for d in dims) else 1
        h = (t.task, t.classes, getattr(t.loss.params, "ignore_index", None), t.loss.record.threshold,
             tuple(_metrics(t.task, t.classes)), columns)
        unit = t.task == "reconstruction" and t.loss.record.target == "binary"
        heads.append(f"({pyfmt.literal(name)}, {t.outputs[0]}, {t.slot}, {pyfmt.literal(h)}, {pyfmt.literal(unit)}),")
    helpers = []
    for t in spec.terms:
        if t.loss.record.helper and t.loss.record.helper not in helpers:
            helpers.append(t.loss.record.helper)
    codes = [t.loss.record.code(t.loss.params) for t in spec.terms]
    return {
        "TERMS": "(\n    " + "\n    ".join(rows) + "\n)",
        "TARGET_SLOTS": pyfmt.literal(tuple(spec.slots)),
        "HEADS": "(\n    " + "\n    ".join(heads) + "\n)" if heads else "()",
        "LOSS_HELPERS": "".join(h.strip("\n") + "\n\n\n" for h in helpers),
        "LOSS": "TermsLoss([\n        " + ",\n        ".join(codes) + ",\n    ])",
    }


def _read_data_file(spec: TrainSpec) -> str:
    """``read_data_file(path)``: a file read by its suffix, with the training data's arguments
    (array keys, target column) when it is of the same format."""
    d = _with_fields(spec, spec.data)
    keys = (pyfmt.literal(d.params.x), pyfmt.literal(d.params.y)) if d.name in ("npz", "pt") else ("'x'", "'y'")
    if d.name == "dataset" and spec.inputs:  # a file's arrays named as its samples name the inputs
        keys = (pyfmt.literal(tuple(name for name, *_ in spec.inputs)), keys[1])
    target = pyfmt.literal(d.params.target) if d.name == "csv" else "'target'"
    lines = ["def read_data_file(path):",
             '    """(x, y) of --data FILE, read by its suffix like the training data."""',
             "    suffix = Path(path).suffix.lower()",
             f"    if suffix == '.npz':\n        return _read_npz(path, {keys[0]}, {keys[1]})" if not spec.target_keys else
             f"    if suffix == '.npz':  # the targets of several outputs: one array each\n"
             f"        return _read_npz(path, {keys[0]}, {pyfmt.literal(spec.target_keys[0])})[0], "
             f"_read_targets(path, {pyfmt.literal(tuple(spec.target_keys))})",
             f"    if suffix == '.pt':\n        return _read_pt(path, {keys[0]}, {keys[1]})",
             f"    if suffix == '.csv':\n        return _read_csv(path, {target})"]
    if d.name == "text_csv":  # its texts as ids of the vocabulary the checkpoint saved (DATA_INFO)
        lines[-1] = f"    if suffix == '.csv':\n        return {d.record.file_reader(d.params, 'path')}"
    formats = "a .npz, .pt or .csv file"
    if d.name == "image_folder":
        lines.append(f"    if Path(path).is_dir():\n        return _read_images(path, {pyfmt.literal(d.params.size and tuple(d.params.size))}, "
                     f"{pyfmt.literal(d.params.grayscale)})")
        formats += ", or a folder of class folders"
    lines.append(f'    raise DataError(f"--data {{path}}: give {formats}")')
    return "\n".join(lines)


def _scheduler(spec: TrainSpec) -> str:
    s = spec.scheduler
    ind = "    "
    if s is None and not spec.settings.warmup_epochs:
        return f"{ind}return None, None"
    if s is None:
        main, when = "torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)", "epoch"
    else:
        main, when = s.record.code(s.params), s.record.step
        if spec.groups and s.name == "OneCycleLR":  # each parameter group's peak, in proportion to its rate
            peak = pyfmt.literal(s.params.max_lr)
            main = main.replace(f"max_lr={peak}", f"max_lr=per_group({peak}, optimizer)", 1)
    if not spec.settings.warmup_epochs:
        return f'{ind}return {main}, "{when}"'
    return "\n".join([
        f"{ind}main = {main}",
        f"{ind}warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=WARMUP_EPOCHS)",
        f"{ind}return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, main], "
        f'milestones=[WARMUP_EPOCHS]), "{when}"'])


def _streams(spec: TrainSpec) -> bool:
    from graphc.components.datasets_stream import streamed

    comps = {"data": spec.data, **({"val_data": spec.val_data} if spec.val_data is not None else {})}
    return streamed(comps, spec.settings, bool(spec.transform or spec.augment))


#: --eval of streamed data reads it batch by batch (the script's eval_batches)
_EVAL_STREAMED = """\
    if not isinstance(data, tuple):  # streamed: read batch by batch (eval_batches)
        device = pick_device(args.device, 0)
        batches = eval_batches(args, data, device)
        return eval_report(args, batches, checkpoint_model(ckpt, path, seed, device))
"""


def _stream_values(spec: TrainSpec) -> dict[str, str]:
    """The streaming code (graphc/components/datasets_stream.py), where the data is streamed."""
    from graphc.components.datasets_stream import script_code

    if not _streams(spec):
        return {"BATCHES": "memory_batches", "STREAM": "", "STREAM_FLAGS": "", "EVAL_STREAMED": "",
                "EVAL_DATA": "read_data_file(args.data) if args.data else load_data(seed)[2:]"}
    return {"BATCHES": "stream_batches", "STREAM": "\n\n\n" + script_code(spec),
            "EVAL_DATA": "stream_eval_data(args, seed, ckpt)", "EVAL_STREAMED": _EVAL_STREAMED,
            "STREAM_FLAGS": '    p.add_argument("--num-workers", type=int, default=NUM_WORKERS, metavar="N",\n'
                            '                   help="DataLoader worker processes reading the data")\n'}


def _tuning(spec: TrainSpec) -> dict[str, str]:
    """pretrained = weights(...) and the optimizer's groups=[...] (graphc/training_weights.py)."""
    pre = spec.pretrained
    return {"PRETRAINED": pyfmt.literal(pre.path if pre else None),
            "PRETRAINED_STRICT": pyfmt.literal(pre.strict if pre else True),
            "PRETRAINED_RENAME": pyfmt.literal(tuple(pre.rename) if pre else ()),
            "LR_GROUPS": pyfmt.literal(tuple((g.path, g.lr) for g in spec.groups))}


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
        ("STRATEGY", s.strategy, "under torchrun: ddp replicates the model, fsdp shards it"),
        ("ACTIVATION_CHECKPOINTING", s.activation_checkpointing, "recompute block activations in backward"),
        ("UNFREEZE_AT", s.unfreeze_at, "the epoch from which the frozen parameters train, or None"),
    ]
    if _streams(spec):  # the DataLoader of streamed data
        rows += [("NUM_WORKERS", s.num_workers, "DataLoader worker processes (0: read in the main process)"),
                 ("PREFETCH_FACTOR", s.prefetch_factor, "batches each worker loads ahead (None: torch's 2)"),
                 ("PERSISTENT_WORKERS", s.persistent_workers, "workers kept from one epoch to the next")]
    width = max(len(f"{k} = {pyfmt.literal(v)}") for k, v, _ in rows)
    out = []
    for k, v, note in rows:
        text = f"{k} = {pyfmt.literal(v)}"
        out.append(f"{text.ljust(width)}  # {note}" if note else text)
    return "\n".join(out)


def _argparse_text(s: str, model_class: str) -> str:
    """The file name as the script's description shows it, ``Train M (s).``: argparse
    %-formats a description that holds "%(prog)" (and only then), so there a literal % must
    be written %%.  Judged on the whole description: ``m%(prog`` forms "%(prog)" with the
    bracket after it."""
    return s.replace("%", "%%") if "%(prog)" in f"Train {model_class} ({s})." else s


#: the model input's dtype in the script (graphc's dtype names; anything else is float32)
TORCH_DTYPES = {d: f"torch.{d}" for d in ("float16", "bfloat16", "float32", "float64", "int64", "int32")}


#: the parts of the script, in order: ``templates/train/<part>.py.tmpl``.  A part's leading
#: ``## `` lines describe it and are not emitted.  Parts are separated by two blank lines;
#: a part that begins indented continues the function of the part before it (main() is
#: main, resume, wrap and loop), after one blank line.
PARTS = ("head", "data", "steps", "metrics", "schedule", "eval", "predict", "checkpoints", "weights",
         "main", "resume", "wrap", "loop", "entry")


def script_template() -> str:
    """The whole script's template, its parts joined."""
    folder = resources.files("graphc.emit").joinpath("templates", "train")
    out = ""
    for name in PARTS:
        lines = folder.joinpath(f"{name}.py.tmpl").read_text(encoding="utf-8").split("\n")
        while lines and lines[0].startswith("##"):
            lines.pop(0)
        text = "\n".join(lines).strip("\n")
        if out:
            out += "\n" if text[:1].isspace() else "\n\n"
        out += text + "\n"
    return out


def emit_train_script(spec: TrainSpec, model_class: str, stem: str, path: str,
                      blocks: tuple[str, ...] = (), outputs: tuple[str, ...] = ("output",)) -> str:
    """The training script; ``blocks`` are the model module's block class names (FSDP's units),
    ``outputs`` the model's output names (--predict)."""
    from graphc.emit.predict_script import predict_values

    loss, opt = spec.loss, spec.optimizer
    values = {
        "BLOCKS": pyfmt.literal(tuple(blocks)),
        "MODEL": model_class,
        "STEM": stem,
        "FILE": pyfmt.text(os.path.basename(path)),
        "FILE_HELP": pyfmt.text(_argparse_text(os.path.basename(path), model_class)),
        "VERSION": __version__,
        "DATA_DESC": pyfmt.text(spec.data.record.describe(spec.data.params)),
        "CONFIG": _config(spec),
        "TASK": pyfmt.literal(spec.task),
        "NUM_CLASSES": pyfmt.literal(spec.classes),
        "IGNORE_INDEX": pyfmt.literal(getattr(loss.params, "ignore_index", None)),
        "TARGET_SHAPE": pyfmt.literal(tuple(spec.target_shape)),
        "TARGET_RANGE": pyfmt.literal((0.0, 1.0) if spec.task == "reconstruction" and loss.record.target == "binary"
                                      else None),
        "INPUT_SHAPE": pyfmt.literal(tuple(d if isinstance(d, int) else None for d in spec.input_shape)),
        "OUTPUT_SHAPE": pyfmt.literal(tuple(d if isinstance(d, int) else None for d in spec.output_shape)),
        "LOAD_DATA": _load_data(spec),
        **_terms(spec),
        "OPTIMIZER": opt.record.code(opt.params),
        "SCHEDULER": _scheduler(spec),
        "BINARY_THRESHOLD": pyfmt.literal(loss.record.threshold),
        "INPUT_DTYPE": TORCH_DTYPES.get(spec.input_dtype, "torch.float32"),
        "ID_LIMIT": pyfmt.literal(spec.id_limit),
        "INPUTS": _inputs(spec),
        "TARGET_INPUT": pyfmt.literal(next((i for i, row in enumerate(spec.inputs) if row[0] == spec.target_input), 0)),
        "METRICS": pyfmt.literal(tuple(spec.metrics)),
        "READ_DATA_FILE": _read_data_file(spec),
        **_stream_values(spec),
        **predict_values(spec, outputs),  # --predict
        **_tuning(spec),
    }
    return Template(script_template()).substitute(values)
