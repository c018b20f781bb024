"""The task a training section describes, inferred from the output, the targets and the loss.

| task | output | targets | losses |
|---|---|---|---|
| class | ``(B, C)`` scores | ``(B,)`` labels or ``(B, C)`` probabilities | CrossEntropyLoss, NLLLoss, ... |
| tokens | ``(B, T, V)`` scores, the class dimension last | ``(B, T)`` labels | CrossEntropyLoss, NLLLoss |
| dense | ``(B, C, H, W)`` scores, the class dimension second | ``(B, H, W)`` labels | CrossEntropyLoss, NLLLoss |
| binary | ``(B,)`` or ``(B, 1)`` | 0/1 | BCELoss, BCEWithLogitsLoss |
| regression | any | the output's shape | MSELoss, L1Loss, ... |
| reconstruction | the input's shape | the input itself (``target = <input>``) | regression losses, BCE |

Everything here is checked before any code runs; a data file graphc can read without
torch (``.npz``: its arrays' shapes and dtypes, from their headers) is checked too when
it is there, relative to the current directory as the script will read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc.errors import Diagnostic, diag
from graphc.layers.base import FLOAT_DTYPES
from graphc.shapes import shape_str


@dataclass
class Task:
    name: str
    classes: int | None = None      # class-like tasks: the number of class scores
    target_shape: tuple = ()         # tokens, dense: one target (see TrainSpec.target_shape)


def infer_task(loss, out: tuple, data, target_input: str | None) -> str:
    """The task's name (a key of training.TASK_METRICS)."""
    if target_input is not None:
        return "reconstruction"
    if loss.target == "class":
        return "class" if len(out) <= 2 else "tokens" if len(out) == 3 else "dense"
    return loss.target


def class_dim(task: str) -> int:
    """Where the class scores are in the output: last for a sequence (a Linear head), second otherwise."""
    return -1 if task == "tokens" else 1


def positions(task: str, out: tuple) -> tuple:
    """The shape of one target for tokens and dense (no batch): the output less its class dimension."""
    if task == "tokens":
        return tuple(out[1:-1])
    if task == "dense":
        return tuple(out[2:])
    return ()


def _same(a, b) -> bool:
    return str(a) == str(b)


def target_shape(task: str, out: tuple, x: tuple) -> tuple:
    """One target's shape for the script: ints, "in:K" for a symbolic size that is the input's
    dimension K (the same symbol), None otherwise."""
    dims = []
    for d in positions(task, out):
        if isinstance(d, int):
            dims.append(d)
        else:
            k = next((i for i, xd in enumerate(x[1:]) if not isinstance(xd, int) and _same(xd, d)), None)
            dims.append(None if k is None else f"in:{k}")
    return tuple(dims)


def classes_of(task: str, out: tuple, data_classes: int | None) -> int | None:
    if task not in ("class", "tokens", "dense"):
        return None
    if data_classes:
        return data_classes
    if len(out) < 2:
        return None
    c = out[class_dim(task)]
    return c if isinstance(c, int) else None


def check_reconstruction(loss, settings, in_name: str, xt, out_name: str, yt, span) -> list[Diagnostic]:
    """``target = <input>``: the output is compared with the input itself."""
    out: list[Diagnostic] = []
    if loss.target == "class":
        out.append(diag(span["loss"], "loss-mismatch",
                        f"target = {in_name} compares output '{out_name}' with input '{in_name}', but {loss.name} "
                        "takes class labels", "use MSELoss or L1Loss, or BCELoss for values in [0, 1]"))
    if xt.dtype not in FLOAT_DTYPES:
        out.append(diag(span["target"], "invalid-train",
                        f"target = {in_name}: input '{in_name}' is {xt.dtype}, and reconstruction compares "
                        "real values", "reconstruct a float input; for token ids use CrossEntropyLoss with "
                        "(B, T, V) scores and the ids as targets"))
    if shape_str(xt.shape) != shape_str(yt.shape):
        out.append(diag(span["target"], "loss-mismatch",
                        f"target = {in_name} compares output '{out_name}' {shape_str(yt.shape)} with input "
                        f"'{in_name}' {shape_str(xt.shape)}: they must have the same shape",
                        f"end the model with the input's shape {shape_str(xt.shape)} (e.g. Unflatten)"))
    if settings.normalize and loss.name == "BCELoss":
        out.append(diag(span.get("normalize", span["loss"]), "invalid-train",
                        "normalize = true with BCELoss and target = " + in_name + ": the standardized input "
                        "leaves [0, 1], which BCELoss's targets must not", "drop normalize, or use MSELoss"))
    return out


def check_positions(task: str, loss, data, out_name: str, yt) -> list[tuple[str, str | None]]:
    """A built-in data set (one label per sample) against scores per position."""
    if data.record.task == "file" or task not in ("tokens", "dense"):
        return []
    want = positions(task, tuple(yt.shape))
    if task == "tokens":
        return [(f"output '{out_name}' {shape_str(yt.shape)} gives (B, T, V) scores per position, which "
                 f"{loss.name} compares with targets {shape_str((yt.shape[0], *want))}, but "
                 f"{data.name}() has one label per sample (B,)",
                 "for one label per sample, give the LSTM (GRU, RNN) output=\"last\" (its last step), or "
                 "pool over the sequence (e.g. mean(dim=1)) before the last Linear; or give data with a "
                 "label per position (npz)")]
    return [(f"{data.name}() has one label per sample, but output '{out_name}' is {shape_str(yt.shape)}: "
             f"{loss.name} would need a label per position {shape_str((yt.shape[0], *want))}",
             "pool or flatten to (B, C) before the last Linear")]


def input_fields(data, names: list[str]) -> tuple[str, ...] | None:
    """The array each input reads, in the model's order: ``x`` (one input), the tuple ``x`` gives,
    or, for several inputs and no ``x``, the inputs' own names; None when ``x`` does not fit."""
    x = getattr(data.params, "x", None)
    if x is None:  # a data set of your own: a sample names each input (datasets_stream.py)
        return tuple(names) if data.name == "dataset" and len(names) > 1 else None if len(names) > 1 else ("x",)
    if isinstance(x, tuple):
        return tuple(x) if len(x) == len(names) else None
    if len(names) == 1:
        return (x,)
    return tuple(names) if x == "x" else None


def check_several(data, types, fields, settings, span, tb_span) -> list[Diagnostic]:
    """A model with several inputs: each reads one array of a .npz or .pt file."""
    names = [n for n, _ in types]
    if data.name == "dataset":  # each input from its sample's tuple or dict: checked when the script starts
        return []
    if data.name not in ("npz", "pt"):
        return [diag(span["data"], "data-mismatch",
                     f"the model has {len(names)} inputs ({', '.join(names)}), which read named arrays, but "
                     f"{data.name}() gives one array of features",
                     f"use npz(\"FILE\") with one array per input, named {', '.join(names)}, or a "
                     "dataset(...) of your own whose samples give each input")]
    out = []
    if fields is None:
        x = data.params.x
        given = f"{len(x)} arrays {x}" if isinstance(x, tuple) else f"one array {x!r}"
        out.append(diag(span["data"], "data-mismatch",
                        f"x names {given}, but the model has {len(names)} inputs ({', '.join(names)})",
                        f"name one array per input, in their order: x=({', '.join(repr(n) for n in names)}) "
                        "(without x, each input reads the array of its own name)"))
    if settings.normalize:
        out.append(diag(span.get("normalize", tb_span), "invalid-train",
                        "normalize = true is not supported for a model with several inputs yet",
                        "store the features standardized, or drop normalize"))
    return out


def check_arrays(task: str, loss, data, inputs, out_name: str, yt, where) -> list[Diagnostic]:
    """A ``.npz`` data file that is there, against the inputs (``(array, (name, type))`` each) and
    the task's targets."""
    arrays_of = getattr(data.record, "arrays", None)
    arrays = arrays_of(data.params) if arrays_of else None
    if arrays is None:
        return []
    p, out = data.params, []
    need = [("x", f, f"input '{n}'") for f, (n, _) in inputs]
    if task != "reconstruction":
        need.append(("y", p.y, "the targets"))
    for arg, key, what in need:
        if key not in arrays:
            out.append(diag(where, "data-mismatch",
                            f"{p.path} has no array {key!r} for {what} (it has {', '.join(sorted(arrays)) or 'none'})",
                            f"pass {arg}=\"NAME\" naming one of its arrays"))
    if out:
        return out
    for field, (name, t) in inputs:
        xs, _ = arrays[field]
        sample = tuple(t.shape[1:])
        if len(xs) != len(sample) + 1 or any(isinstance(d, int) and d != s for d, s in zip(sample, xs[1:])):
            out.append(diag(where, "data-mismatch",
                            f"array {field!r} of {p.path} is {xs}, but input '{name}' is {shape_str(t.shape)}",
                            f"declare the input as [B, {', '.join(map(str, xs[1:]))}], or store the array so"))
    rows = {arrays[f][0][0] for f, _ in inputs if arrays[f][0]}
    if len(rows) > 1:
        out.append(diag(where, "data-mismatch", f"the arrays of {p.path} for the inputs have different numbers of "
                        f"samples: {', '.join(f'{f!r} {arrays[f][0][0]}' for f, _ in inputs)}"))
    if task not in ("tokens", "dense"):
        return out
    xs = arrays[inputs[0][0]][0]
    xt = inputs[0][1][1]
    ys, ydtype = arrays[p.y]
    want = positions(task, tuple(yt.shape))
    dims = list(zip(want, ys[1:]))
    if len(ys) != len(want) + 1 or any(isinstance(w, int) and w != s for w, s in dims) or any(
            not isinstance(w, int) and k is not None and xs[1 + k] != s
            for (w, s), k in zip(dims, _input_dims(want, xt))):
        kind = "(B, T, V) scores per position" if task == "tokens" else "(B, C, H, W) scores per pixel"
        out.append(diag(where, "data-mismatch",
                        f"output '{out_name}' {shape_str(yt.shape)} is {kind}, which {loss.name} compares with "
                        f"targets {shape_str((yt.shape[0], *want))}, but array {p.y!r} of {p.path} is {ys}",
                        "store one integer label per position, shaped like the output less its class "
                        "dimension"))
    elif not ydtype.startswith(("int", "uint")):
        out.append(diag(where, "data-mismatch",
                        f"array {p.y!r} of {p.path} holds {ydtype}, but {loss.name} per position takes "
                        "integer class labels", "store the labels as integers (np.int64)"))
    return out


def _input_dims(want, xt):
    """For each target dimension, the input dimension with the same symbol, or None."""
    return [next((i for i, xd in enumerate(xt.shape[1:]) if not isinstance(w, int) and _same(xd, w)), None)
            for w in want]
