"""The training section: losses, optimizers, schedulers and datasets.

Each table maps a name to a parameter schema (PyTorch's argument names and
defaults) and what graphc needs to know statically.  ``check_training``
validates a model's ``train { ... }`` section against the inferred program:
the data against the model's input, the loss against its output and the
targets.  The result, a :class:`TrainSpec`, is what the training-script
emitter reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from graphc import ast as A
from graphc.errors import Diagnostic, diag
from graphc.params import Field, Params
from graphc.shapes import shape_str

Pos = Annotated[float, Field(gt=0)]
NonNeg = Annotated[float, Field(ge=0)]
Unit = Annotated[float, Field(ge=0, le=1)]
PosInt = Annotated[int, Field(gt=0)]


# ---------------------------------------------------------------- losses
class _Reduction(Params):
    reduction: Literal["mean", "sum"] = "mean"


class _Beta(_Reduction):
    beta: NonNeg = 1.0


class _Delta(_Reduction):
    delta: Pos = 1.0


class _CE(_Reduction):
    label_smoothing: Unit = 0.0
    ignore_index: int = -100


class _NLL(_Reduction):
    ignore_index: int = -100


@dataclass(frozen=True)
class LossInfo:
    schema: type[Params]
    target: Literal["class", "binary", "regression"]  # what the targets must be


LOSSES: dict[str, LossInfo] = {
    "MSELoss": LossInfo(_Reduction, "regression"),
    "L1Loss": LossInfo(_Reduction, "regression"),
    "SmoothL1Loss": LossInfo(_Beta, "regression"),
    "HuberLoss": LossInfo(_Delta, "regression"),
    "BCELoss": LossInfo(_Reduction, "binary"),
    "BCEWithLogitsLoss": LossInfo(_Reduction, "binary"),
    "CrossEntropyLoss": LossInfo(_CE, "class"),
    "NLLLoss": LossInfo(_NLL, "class"),
}


# ------------------------------------------------------------ optimizers
class SGD(Params):
    lr: Pos = 0.01
    momentum: NonNeg = 0.0
    dampening: NonNeg = 0.0
    weight_decay: NonNeg = 0.0
    nesterov: bool = False


class Adam(Params):
    lr: Pos = 1e-3
    betas: tuple[Unit, Unit] = (0.9, 0.999)
    eps: Pos = 1e-8
    weight_decay: NonNeg = 0.0
    amsgrad: bool = False


class AdamW(Adam):
    weight_decay: NonNeg = 0.01


class Adagrad(Params):
    lr: Pos = 0.01
    lr_decay: NonNeg = 0.0
    weight_decay: NonNeg = 0.0
    eps: Pos = 1e-10


class RMSprop(Params):
    lr: Pos = 0.01
    alpha: Unit = 0.99
    eps: Pos = 1e-8
    weight_decay: NonNeg = 0.0
    momentum: NonNeg = 0.0
    centered: bool = False


OPTIMIZERS: dict[str, type[Params]] = {c.__name__: c for c in (SGD, Adam, AdamW, Adagrad, RMSprop)}


# ------------------------------------------------------------ schedulers
class StepLR(Params):
    step_size: PosInt
    gamma: Pos = 0.1


class MultiStepLR(Params):
    milestones: tuple[PosInt, ...]
    gamma: Pos = 0.1


class ExponentialLR(Params):
    gamma: Pos


class CosineAnnealingLR(Params):
    T_max: PosInt | None = None  # default: the number of epochs
    eta_min: NonNeg = 0.0


class OneCycleLR(Params):
    max_lr: Pos
    pct_start: Annotated[float, Field(gt=0, lt=1)] = 0.3
    anneal_strategy: Literal["cos", "linear"] = "cos"
    div_factor: Pos = 25.0
    final_div_factor: Pos = 1e4


class ReduceLROnPlateau(Params):
    mode: Literal["min", "max"] = "min"
    factor: Annotated[float, Field(gt=0, lt=1)] = 0.1
    patience: Annotated[int, Field(ge=0)] = 10
    threshold: NonNeg = 1e-4
    min_lr: NonNeg = 0.0


SCHEDULERS: dict[str, type[Params]] = {c.__name__: c for c in (
    StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, OneCycleLR, ReduceLROnPlateau)}
PER_BATCH_SCHEDULERS = {"OneCycleLR"}


# -------------------------------------------------------------- datasets
class _Digits(Params):
    flatten: bool = False


class _NoArgs(Params):
    pass


class _Arrays(Params):
    path: str
    x: str = "x"
    y: str = "y"


class _Csv(Params):
    path: str
    target: str = "target"


class _Images(Params):
    path: str
    size: tuple[PosInt, PosInt] = (32, 32)
    grayscale: bool = False


@dataclass(frozen=True)
class DataInfo:
    schema: type[Params]
    task: Literal["class", "regression", "file"]
    classes: int | None = None
    sample_shape: Any = None  # callable(params) -> tuple, or None when known only at run time


DATASETS: dict[str, DataInfo] = {
    "digits": DataInfo(_Digits, "class", 10, lambda p: (64,) if p.flatten else (1, 8, 8)),
    "iris": DataInfo(_NoArgs, "class", 3, lambda p: (4,)),
    "wine": DataInfo(_NoArgs, "class", 3, lambda p: (13,)),
    "breast_cancer": DataInfo(_NoArgs, "class", 2, lambda p: (30,)),
    "diabetes": DataInfo(_NoArgs, "regression", None, lambda p: (10,)),
    "npz": DataInfo(_Arrays, "file"),
    "pt": DataInfo(_Arrays, "file"),
    "csv": DataInfo(_Csv, "file"),
    "image_folder": DataInfo(_Images, "file",
                             sample_shape=lambda p: (1 if p.grayscale else 3, *p.size)),
}


# -------------------------------------------------------------- settings
class Settings(Params):
    epochs: PosInt = 10
    batch_size: PosInt = 32
    seed: int = 0
    val_split: Annotated[float, Field(ge=0, lt=1)] = 0.2
    normalize: bool = False
    clip_grad_norm: Pos | None = None
    warmup_epochs: Annotated[int, Field(ge=0)] = 0
    early_stopping: PosInt | None = None  # patience in epochs
    early_stopping_metric: Literal["val_loss", "val_accuracy"] = "val_loss"
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    nonfinite_loss: Literal["stop", "skip"] = "stop"  # a NaN or infinite training loss


@dataclass(frozen=True)
class Component:
    name: str
    params: Params


@dataclass
class TrainSpec:
    data: Component
    val_data: Component | None
    loss: Component
    optimizer: Component
    scheduler: Component | None
    settings: Settings
    task: str                          # "class", "binary" or "regression"
    classes: int | None
    input_name: str
    input_shape: tuple                 # without the batch
    output_shape: tuple                # without the batch
    metrics: list[str] = field(default_factory=list)


CALL_KEYS = {"data": DATASETS, "val_data": DATASETS, "loss": LOSSES, "optimizer": OPTIMIZERS,
             "scheduler": SCHEDULERS}
WHAT = {"data": "dataset", "val_data": "dataset", "loss": "loss", "optimizer": "optimizer",
        "scheduler": "scheduler"}


def check_training(prog) -> list[Diagnostic]:
    """Validate ``prog.train``; on success set ``prog.training`` to a TrainSpec."""
    from graphc.binder import _ERR, bind, check, signature
    from graphc.lower import Lowerer

    tb: A.TrainBlock = prog.train
    ev = Lowerer(A.File(prog.path, (), tb.span))
    out: list[Diagnostic] = []
    seen: dict[str, A.Setting] = {}
    comps: dict[str, Component] = {}
    scalars: dict[str, Any] = {}
    exprs: dict[str, A.Expr] = {}
    ok = True

    for st in tb.settings:
        key = st.name.id
        if key in seen:
            out.append(diag(st.name.span, "duplicate-name",
                            f"'{key}' is already set at line {seen[key].span.line}"))
            ok = False
            continue
        seen[key] = st
        if key in CALL_KEYS:
            table = CALL_KEYS[key]
            call = st.value
            if isinstance(call, A.Name):
                call = A.Call(call.id, call.span, (), call.span, bare=True)
            if not isinstance(call, A.Call):
                out.append(diag(st.value.span, "invalid-train",
                                f"'{key}' takes a {WHAT[key]}, e.g. {key} = {next(iter(table))}(...)"))
                ok = False
                continue
            if call.kind not in table:
                out.append(diag(call.kind_span, "unknown-component", f"unknown {WHAT[key]} '{call.kind}'",
                                ev.suggest(call.kind, table) or f"one of: {', '.join(table)}"))
                ok = False
                continue
            entry = table[call.kind]
            schema = entry.schema if isinstance(entry, (LossInfo, DataInfo)) else entry
            b = bind(ev, prog.train_env, signature(call.kind, schema), call.span, call.args)
            if not b.ok:
                ok = False
                continue
            comps[key] = Component(call.kind, b.params)
        elif key in Settings.model_fields:
            if isinstance(st.value, A.Call):
                out.append(diag(st.value.span, "invalid-train", f"'{key}' takes a value, not a call"))
                ok = False
                continue
            v = ev.eval(st.value, prog.train_env)
            if v is _ERR:
                ok = False
                continue
            scalars[key], exprs[key] = v, st.value
        else:
            out.append(diag(st.name.span, "unknown-argument", f"the training section has no setting '{key}'",
                            ev.suggest(key, list(CALL_KEYS) + list(Settings.model_fields))
                            or f"settings: {', '.join(list(CALL_KEYS) + list(Settings.model_fields))}"))
            ok = False
    settings = check(ev, signature("train", Settings), scalars, exprs, tb.span)
    out += ev.diags
    ok = ok and settings is not None
    for key in ("data", "loss", "optimizer"):
        if key not in seen:
            example = {"data": "digits()", "loss": "CrossEntropyLoss()", "optimizer": "Adam(lr=1e-3)"}[key]
            if key == "optimizer":
                continue  # Adam with its defaults
            out.append(diag(tb.span, "invalid-train", f"the training section has no '{key}'",
                            f"add e.g. '{key} = {example}'"))
            ok = False
    if not ok:
        return out
    comps.setdefault("optimizer", Component("Adam", Adam()))
    out += _check_semantics(prog, comps, settings, seen)
    if not any(d.severity == "error" for d in out):
        data = comps["data"]
        info = DATASETS[data.name]
        loss = LOSSES[comps["loss"].name]
        (_, in_ref), = prog.root.inputs
        (_, out_ref), = prog.outputs
        prog.training = TrainSpec(
            data=data, val_data=comps.get("val_data"), loss=comps["loss"], optimizer=comps["optimizer"],
            scheduler=comps.get("scheduler"), settings=settings, task=loss.target, classes=info.classes,
            input_name=prog.nodes[in_ref[0]].name,
            input_shape=tuple(prog.type_of(in_ref).shape[1:]),
            output_shape=tuple(prog.type_of(out_ref).shape[1:]),
            metrics=["accuracy"] if loss.target in ("class", "binary") else [],
        )
    return out


def _check_semantics(prog, comps: dict[str, Component], s: Settings, seen) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    span = {k: st.value.span for k, st in seen.items()}
    tb_span = prog.train.span
    # one input, one output
    if len(prog.root.inputs) != 1 or len(prog.outputs) != 1:
        out.append(diag(tb_span, "invalid-train",
                        f"training needs a model with one input and one output; this one has "
                        f"{len(prog.root.inputs)} input(s) and {len(prog.outputs)} output(s)"))
        return out
    (in_name, in_ref), = prog.root.inputs
    (out_name, out_ref), = prog.outputs
    xt, yt = prog.type_of(in_ref), prog.type_of(out_ref)
    if xt is None or yt is None:
        return out
    sample = tuple(xt.shape[1:])
    data = comps["data"]
    info = DATASETS[data.name]
    if info.sample_shape is not None:
        want = info.sample_shape(data.params)
        if len(want) != len(sample) or any(isinstance(d, int) and d != w for d, w in zip(sample, want)):
            hint = None
            if data.name == "digits":
                hint = "digits(flatten=true) gives (64,); digits() gives (1, 8, 8)"
            out.append(diag(span["data"], "data-mismatch",
                            f"{data.name}() gives samples of shape {shape_str(want)}, but input '{in_name}' "
                            f"is {shape_str(xt.shape)}", hint or f"declare the input as [B, {', '.join(map(str, want))}]"))
        if xt.dtype not in ("float32", "float16", "bfloat16", "float64"):
            out.append(diag(span["data"], "data-mismatch",
                            f"{data.name}() gives float features, but input '{in_name}' is {xt.dtype}"))
    # loss against output and targets
    loss = comps["loss"]
    linfo = LOSSES[loss.name]
    oshape = tuple(yt.shape)
    if info.task == "class" and linfo.target == "regression":
        out.append(diag(span["loss"], "loss-mismatch",
                        f"{loss.name} is a regression loss, but {data.name}() has class labels",
                        "use CrossEntropyLoss (or BCEWithLogitsLoss for two classes)"))
    elif info.task == "regression" and linfo.target != "regression":
        out.append(diag(span["loss"], "loss-mismatch",
                        f"{loss.name} needs class labels, but {data.name}() has real-valued targets",
                        "use MSELoss, L1Loss, SmoothL1Loss or HuberLoss"))
    elif linfo.target == "class":
        if len(oshape) < 2:
            out.append(diag(span["loss"], "loss-mismatch",
                            f"{loss.name} needs (B, C) class scores, but output '{out_name}' is {shape_str(oshape)}"))
        elif info.classes is not None and isinstance(oshape[1], int) and oshape[1] != info.classes:
            out.append(diag(span["loss"], "loss-mismatch",
                            f"{data.name}() has {info.classes} classes, but output '{out_name}' gives "
                            f"{oshape[1]} scores {shape_str(oshape)}",
                            f"end the model with Linear({info.classes})"))
    elif linfo.target == "binary":
        if info.classes not in (None, 2):
            out.append(diag(span["loss"], "loss-mismatch",
                            f"{loss.name} is for two classes, but {data.name}() has {info.classes}",
                            "use CrossEntropyLoss"))
        elif oshape[1:] not in ((), (1,)):
            out.append(diag(span["loss"], "loss-mismatch",
                            f"{loss.name} needs one score per sample, (B,) or (B, 1), but output '{out_name}' "
                            f"is {shape_str(oshape)}", "end the model with Linear(1)"))
    elif linfo.target == "regression" and info.task == "regression" and oshape[1:] not in ((), (1,)):
        out.append(diag(span["loss"], "loss-mismatch",
                        f"{data.name}() has one target per sample, but output '{out_name}' is {shape_str(oshape)}",
                        "end the model with Linear(1)"))
    # the activation right before the loss
    last = prog.nodes[out_ref[0]]
    if loss.name == "CrossEntropyLoss" and last.kind == "Softmax":
        out.append(diag(last.call.span, "activation-before-loss",
                        "Softmax before CrossEntropyLoss: the loss applies log-softmax itself",
                        "remove the Softmax (apply it at inference time)"))
    if loss.name == "BCEWithLogitsLoss" and last.kind == "Sigmoid":
        out.append(diag(last.call.span, "activation-before-loss",
                        "Sigmoid before BCEWithLogitsLoss: the loss applies the sigmoid itself",
                        "remove the Sigmoid, or use BCELoss"))
    if loss.name == "BCELoss" and last.kind != "Sigmoid":
        out.append(diag(span["loss"], "activation-before-loss",
                        "BCELoss needs probabilities in [0, 1], but the output is not a Sigmoid",
                        "use BCEWithLogitsLoss, which takes raw scores"))
    # optimizer and scheduler rules torch enforces at construction
    opt = comps["optimizer"]
    if opt.name == "SGD" and opt.params.nesterov and (opt.params.momentum <= 0 or opt.params.dampening != 0):
        out.append(diag(span["optimizer"], "invalid-train",
                        "SGD with nesterov=true needs momentum > 0 and dampening = 0",
                        "set momentum=0.9, or nesterov=false"))
    sch = comps.get("scheduler")
    if sch is not None and s.warmup_epochs and sch.name in ("ReduceLROnPlateau", "OneCycleLR"):
        out.append(diag(span["scheduler"], "invalid-train",
                        f"{sch.name} cannot follow a linear warmup (warmup_epochs={s.warmup_epochs})",
                        "OneCycleLR has its own warmup (pct_start); drop warmup_epochs"))
    if s.warmup_epochs >= s.epochs:
        out.append(diag(span.get("warmup_epochs", tb_span), "invalid-train",
                        f"warmup_epochs={s.warmup_epochs} leaves no epoch after the warmup (epochs={s.epochs})"))
    if s.early_stopping_metric == "val_accuracy" and LOSSES[loss.name].target == "regression":
        out.append(diag(span.get("early_stopping_metric", tb_span), "invalid-train",
                        "val_accuracy is measured for classification only", "use early_stopping_metric=\"val_loss\""))
    if s.val_split == 0 and "val_data" not in comps and (s.early_stopping or (sch and sch.name == "ReduceLROnPlateau")):
        out.append(diag(tb_span, "invalid-train", "early stopping and ReduceLROnPlateau need validation data",
                        "set val_split > 0 or val_data = ..."))
    return out
