"""The training section: ``train { data = ..., loss = ..., optimizer = ..., epochs = ... }``.

The components (losses, optimizers, schedulers, data sets) are records in
graphc/components/, each with its schema and its rules.  ``check_training``
binds the section's calls to them and validates the whole against the inferred
program: the data against the model's input, the loss against its output and the
targets, the scheduler against the optimizer and the settings.  The result, a
:class:`TrainSpec`, is what the training-script emitter reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from graphc import ast as A
from graphc import training_tasks as tasks
from graphc import training_terms as terms_mod
from graphc import training_weights as weights_mod
from graphc.components.base import Component, Pos, PosInt, registry
from graphc.components.datasets_stream import check_streaming
from graphc.errors import Diagnostic, diag
from graphc.layers.base import FLOAT_DTYPES
from graphc.params import Field, Params
from graphc.shapes import shape_str


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
    early_stopping_metric: str = "val_loss"  # val_loss, or val_<metric> the task measures (checked)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    nonfinite_loss: Literal["stop", "skip"] = "stop"  # a NaN or infinite training loss
    # streaming data (graphc/components/datasets.py): DataLoader worker processes and their prefetching
    num_workers: Annotated[int, Field(ge=0)] = 0
    prefetch_factor: PosInt | None = None  # batches each worker loads ahead (torch's default: 2)
    persistent_workers: bool = True  # workers kept from one epoch to the next (with num_workers > 0)
    strategy: Literal["ddp", "fsdp"] = "ddp"  # under torchrun: replicate, or shard (FSDP2)
    activation_checkpointing: bool = False  # recompute each block's activations in the backward pass
    unfreeze_at: PosInt | None = None  # the epoch from which the frozen parameters train (training_weights.py)


@dataclass(frozen=True)
class Choice:
    """A component as the training section chose it: its record and the checked arguments."""

    record: Component
    params: Params

    @property
    def name(self) -> str:
        return self.record.name


@dataclass
class TrainSpec:
    data: Choice
    val_data: Choice | None
    loss: Choice
    optimizer: Choice
    scheduler: Choice | None
    settings: Settings
    task: str                          # a key of TASK_METRICS
    classes: int | None
    input_name: str
    input_shape: tuple                 # without the batch
    output_shape: tuple                # without the batch
    metrics: list[str] = field(default_factory=list)
    input_dtype: str = "float32"       # the model input's declared dtype
    id_limit: int | None = None        # integer input: ids must be below it (the Embedding's num_embeddings)
    target_input: str | None = None    # reconstruction: the input the output is compared with
    #: tokens and dense: one target's shape (no batch): an int, "in:K" (the size of the input's
    #: dimension K, the same symbol), or None (any size)
    target_shape: tuple = ()
    #: several inputs: (name, array, one sample's shape, dtype, id limit) of each, in the model's order
    inputs: tuple = ()
    #: several outputs or a sum of losses (task "multi"): the training_terms.Term of each term, the
    #: target slots ((kind, index, task) each: "data" the data's targets or array y_<output>, "input"
    #: an input), the data's target arrays (none: the data's own), and (output, term) of each
    #: output whose metrics are measured
    terms: tuple = ()
    slots: tuple = ()
    target_keys: tuple = ()
    heads: tuple = ()
    #: the transforms of the data (graphc/components/transforms.py): Choice of each step, in order
    transform: tuple = ()
    augment: tuple = ()
    #: pretrained = weights(...): the weights to start from (training_weights.Pretrained), or None;
    #: groups=[...] of the optimizer: training_weights.Group each, the parameters with their own rate
    pretrained: Any = None
    groups: tuple = ()


#: the metrics each task records, besides the loss (``val_<name>`` in metrics.jsonl)
TASK_METRICS = {"class": ("accuracy", "top5_accuracy"), "binary": ("accuracy", "f1", "auc"),
                "regression": ("mae", "r2"), "tokens": ("accuracy", "perplexity"),
                "dense": ("pixel_accuracy", "mean_iou"), "reconstruction": ("mae", "mse"), "multi": ()}
TASK_NAMES = {"class": "classification", "binary": "binary classification", "regression": "regression",
              "tokens": "sequence labelling", "dense": "dense prediction", "reconstruction": "reconstruction",
              "multi": "several outputs"}


def bind_component(ev, env, value: A.Expr, table: dict, what: str, not_a_call: tuple[str, str | None],
                   out: list) -> Choice | None:
    """``value`` (a call, or a bare name: ``Adam``) bound to its record in ``table``, the
    components of kind ``what``; None with the problem added to ``out`` (``not_a_call``: the
    message and hint where ``value`` is no call).  The train section's settings and its lists
    of transforms (graphc/components/transforms_pipeline.py) both bind through it."""
    from graphc.binder import bind

    call = A.Call(value.id, value.span, (), value.span, bare=True) if isinstance(value, A.Name) else value
    if not isinstance(call, A.Call):
        out.append(diag(value.span, "invalid-train", *not_a_call))
        return None
    if call.kind not in table:
        out.append(diag(call.kind_span, "unknown-component", f"unknown {what} '{call.kind}'",
                        ev.suggest(call.kind, table) or f"one of: {', '.join(table)}"))
        return None
    record = table[call.kind]
    b = bind(ev, env, record.signature(), call.span, call.args)
    return Choice(record, b.params) if b.ok else None


#: the settings that take a component, and the kind of component
CALL_KEYS = {"data": "data set", "val_data": "data set", "loss": "loss", "optimizer": "optimizer",
             "scheduler": "scheduler"}


def check_training(prog) -> list[Diagnostic]:
    """Validate ``prog.train``; on success set ``prog.training`` to a TrainSpec."""
    from graphc.binder import _ERR, bind, check, signature
    from graphc.lower import Lowerer

    tb: A.TrainBlock = prog.train
    ev = Lowerer(A.File(prog.path, (), tb.span))
    out: list[Diagnostic] = []
    seen: dict[str, A.Setting] = {}
    comps: dict[str, Choice] = {}
    scalars: dict[str, Any] = {}
    exprs: dict[str, A.Expr] = {}
    target_input = None
    lists: dict[str, tuple] = {}  # transform, augment: (Choice, span) of each step
    ok = True
    tuning: dict[str, Any] = {}  # pretrained, groups: training_weights.py

    for st in tb.settings:
        key = st.name.id
        if key in seen:
            out.append(diag(st.name.span, "duplicate-name",
                            f"'{key}' is already set at line {seen[key].span.line}"))
            ok = False
            continue
        seen[key] = st
        if key == "loss":  # a loss expression: parsed below, with the model's outputs
            continue
        if key == "target":  # reconstruction: target = <an input>
            names = [n for n, _ in prog.root.inputs]
            if isinstance(st.value, A.Name) and st.value.id in names:
                target_input = st.value.id
            else:
                out.append(diag(st.value.span, "invalid-train",
                                "'target' names the input the output is compared with (an autoencoder: "
                                f"target = {names[0] if names else 'x'})", f"inputs: {', '.join(names)}"))
                ok = False
            continue
        if key == "pretrained":
            tuning["pretrained"], found = weights_mod.check_pretrained(ev, prog.train_env, st, prog)
            out += found
            ok = ok and tuning["pretrained"] is not None and not any(d.severity == "error" for d in found)
            continue
        if key in ("transform", "augment"):  # lists of transforms
            from graphc.components.transforms import bind_list

            steps = bind_list(ev, prog.train_env, st.value, key, out)
            ok = ok and steps is not None
            lists[key] = steps or ()
            continue
        if key in CALL_KEYS:
            what = CALL_KEYS[key]
            table = registry(what)
            call = st.value
            if key == "optimizer" and isinstance(call, A.Call):  # groups=[(path, lr)]: per-group rates
                call, groups = weights_mod.split_groups(call)
                if groups is not None:
                    tuning["groups"], found = weights_mod.check_groups(ev, prog.train_env, groups, prog)
                    out += found
                    ok = ok and tuning["groups"] is not None
            choice = bind_component(ev, prog.train_env, call, table, what,
                                    (f"'{key}' takes a {what}, e.g. {key} = {next(iter(table))}(...)", None), out)
            if choice is None:
                ok = False
                continue
            comps[key] = choice
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
                            ev.suggest(key, [*CALL_KEYS, "target", "transform", "augment", "pretrained", *Settings.model_fields])
                            or f"settings: {', '.join([*CALL_KEYS, 'target', 'transform', 'augment', 'pretrained', *Settings.model_fields])}"))
            ok = False
    raw, choices = None, []
    if "loss" in seen:
        losses = registry("loss")
        raw = terms_mod.parse(ev, prog.train_env, seen["loss"].value, losses, [n for n, _ in prog.outputs],
                              [n for n, _ in prog.root.inputs], out)
        for t in raw or ():
            b = bind(ev, prog.train_env, losses[t.call.kind].signature(), t.call.span, t.call.args)
            if b.ok:
                choices.append(Choice(losses[t.call.kind], b.params))
        ok = ok and raw is not None and len(choices) == len(raw)
    settings = check(ev, signature("train", Settings), scalars, exprs, tb.span)
    out += ev.diags
    ok = ok and settings is not None
    if settings is not None and settings.unfreeze_at is not None:
        found = weights_mod.check_unfreeze(prog, settings, seen["unfreeze_at"].value.span)
        out += found
        ok = ok and not found
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
    adam = registry("optimizer")["Adam"]
    comps.setdefault("optimizer", Choice(adam, adam.Params()))
    comps["loss"] = choices[0]
    single = len(prog.outputs) == 1 and len(raw) == 1 and raw[0].weight == 1 and choices[0].record.outputs == 1
    if single and raw[0].target is not None:
        if target_input is not None and target_input != raw[0].target:
            out.append(diag(seen["target"].span, "invalid-train",
                            f"target = {target_input}, but the loss names input '{raw[0].target}' as its target",
                            "drop the target setting"))
            return out
        target_input = raw[0].target
    if not single:
        out += _check_multi(prog, comps, settings, seen, target_input, raw, choices)
        out += check_streaming(prog, comps, settings, seen, lists)
        if prog.training is not None:
            prog.training.pretrained, prog.training.groups = tuning.get("pretrained"), tuning.get("groups") or ()
            prog.training.transform = tuple(c for c, _ in lists.get("transform", ()))
            prog.training.augment = tuple(c for c, _ in lists.get("augment", ()))
        return out
    out += _check_semantics(prog, comps, settings, seen, target_input)
    out += check_streaming(prog, comps, settings, seen, lists)
    if not any(d.severity == "error" for d in out):
        data = comps["data"]
        loss = comps["loss"].record
        (_, in_ref), *others = prog.root.inputs
        (_, out_ref), = prog.outputs
        xt, yt = prog.type_of(in_ref), prog.type_of(out_ref)
        fields = tasks.input_fields(data, [n for n, _ in prog.root.inputs])
        several = tuple((n, f, tuple(prog.type_of(r).shape[1:]), prog.type_of(r).dtype, prog.id_limit(r))
                        for (n, r), f in zip(prog.root.inputs, fields or (), strict=False)) if others else ()
        task = tasks.infer_task(loss, tuple(yt.shape), data, target_input)
        classes = tasks.classes_of(task, tuple(yt.shape), data.record.num_classes(data.params))
        prog.training = TrainSpec(
            data=data, val_data=comps.get("val_data"), loss=comps["loss"], optimizer=comps["optimizer"],
            scheduler=comps.get("scheduler"), settings=settings, task=task, classes=classes,
            input_name=prog.nodes[in_ref[0]].name,
            input_shape=tuple(xt.shape[1:]),
            output_shape=tuple(yt.shape[1:]),
            metrics=_metrics(task, classes),
            input_dtype=xt.dtype, id_limit=prog.id_limit(in_ref), target_input=target_input,
            target_shape=tasks.target_shape(task, tuple(yt.shape), tuple(xt.shape)), inputs=several,
            transform=tuple(c for c, _ in lists.get("transform", ())),
            augment=tuple(c for c, _ in lists.get("augment", ())),
            pretrained=tuning.get("pretrained"), groups=tuning.get("groups") or (),
        )
    return out


def _metrics(task: str, classes: int | None) -> list[str]:
    """The task's metrics: top-5 accuracy only with more than five classes."""
    return [m for m in TASK_METRICS[task] if m != "top5_accuracy" or (classes or 0) > 5]


def _check_multi(prog, comps, s, seen, target_input, raw, choices) -> list[Diagnostic]:
    """Several outputs, or a sum of losses: each term checked against its output and target."""
    span = {k: st.value.span for k, st in seen.items()}
    span.setdefault("target", span["loss"])
    out = _check_common(prog, comps, s, span, target_input)
    found, terms, slots = terms_mod.check_terms(prog, raw, choices, comps["data"], s, span, target_input)
    out += found
    fields = tasks.input_fields(comps["data"], [n for n, _ in prog.root.inputs])
    if fields is not None and not found:  # an .npz file that is there: the inputs' arrays and the targets'
        types = [(n, prog.type_of(r)) for n, r in prog.root.inputs]
        out += tasks.check_arrays("reconstruction", choices[0].record, comps["data"],
                                  list(zip(fields, types, strict=True)), "", None, span["data"])
        out += terms_mod.check_target_arrays(comps["data"], terms_mod.data_keys(raw, target_input, True), fields,
                                             span["data"])
    heads = terms_mod.metric_heads(terms)
    measured = [f"{o}_{m}" for o, i in heads for m in _metrics(terms[i].task, terms[i].classes)]
    out += _check_metric(s, span, prog.train.span, measured, "several outputs")
    if any(d.severity == "error" for d in out) or not terms:
        return out
    (_, in_ref), *others = prog.root.inputs
    xt = prog.type_of(in_ref)
    data = comps["data"]
    fields = tasks.input_fields(data, [n for n, _ in prog.root.inputs])
    several = tuple((n, f, tuple(prog.type_of(r).shape[1:]), prog.type_of(r).dtype, prog.id_limit(r))
                    for (n, r), f in zip(prog.root.inputs, fields or (), strict=False)) if others else ()
    keys = terms_mod.data_keys(raw, target_input, True)
    prog.training = TrainSpec(
        data=data, val_data=comps.get("val_data"), loss=choices[0], optimizer=comps["optimizer"],
        scheduler=comps.get("scheduler"), settings=s, task="multi", classes=None,
        input_name=prog.nodes[in_ref[0]].name, input_shape=tuple(xt.shape[1:]), output_shape=(),
        metrics=measured, input_dtype=xt.dtype, id_limit=prog.id_limit(in_ref), target_input=None,
        inputs=several, terms=tuple(terms), slots=tuple(slots),
        target_keys=tuple(k for k in keys.values() if k is not None), heads=tuple(heads))
    return out


def _check_metric(s, span, tb_span, measured, what) -> list[Diagnostic]:
    metric = s.early_stopping_metric.removeprefix("val_")
    if metric == "loss" or metric in measured:
        return []
    return [diag(span.get("early_stopping_metric", tb_span), "invalid-train",
                 f"{s.early_stopping_metric} is not measured for {what}",
                 "use one of: " + ", ".join(f'"val_{m}"' for m in ["loss", *measured]))]


def _check_common(prog, comps, s, span, target_input) -> list[Diagnostic]:
    """The data against the inputs, the optimizer, the scheduler and the settings (not the loss)."""
    out: list[Diagnostic] = []
    tb_span = prog.train.span
    (in_name, in_ref), *others = prog.root.inputs
    types = [(n, prog.type_of(r)) for n, r in prog.root.inputs]
    if any(t is None for _, t in types):
        return out
    xt = types[0][1]
    sample = tuple(xt.shape[1:])
    data = comps["data"]
    want = None if "transform" in span or "augment" in span else data.record.sample_shape(data.params)
    fields = tasks.input_fields(data, [n for n, _ in types])
    if others:
        out += tasks.check_several(data, types, fields, s, span, tb_span)
    elif want is not None:
        out += _sample_fits(data, want, sample, in_name, xt, span["data"])
    out += _check_components(prog, comps, s, span)
    if s.normalize and xt.dtype not in FLOAT_DTYPES:
        out.append(diag(span.get("normalize", tb_span), "invalid-train",
                        f"normalize = true standardizes float features, but input '{in_name}' is {xt.dtype} "
                        "(integer ids are not scaled)", "drop normalize"))
    return out


def _sample_fits(data, want, sample, in_name, xt, span) -> list[Diagnostic]:
    """The data set's samples (shape ``want``) against the input ``in_name`` (``sample``: its shape
    without the batch; ``xt`` its type): float features of that shape."""
    out = []
    if len(want) != len(sample) or any(isinstance(d, int) and d != w for d, w in zip(sample, want)):
        out.append(diag(span, "data-mismatch",
                        f"{data.name}() gives samples of shape {shape_str(want)}, but input '{in_name}' "
                        f"is {shape_str(xt.shape)}", data.record.shape_hint(data.params)
                        or f"declare the input as [B, {', '.join(map(str, want))}]"))
    if xt.dtype not in FLOAT_DTYPES:
        out.append(diag(span, "data-mismatch",
                        f"{data.name}() gives float features, but input '{in_name}' is {xt.dtype}"))
    return out


def _check_semantics(prog, comps: dict[str, Choice], s: Settings, seen, target_input) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    span = {k: st.value.span for k, st in seen.items()}
    span.setdefault("target", span["loss"])
    tb_span = prog.train.span
    (in_name, in_ref), *others = prog.root.inputs
    (out_name, out_ref), = prog.outputs
    xt, yt = prog.type_of(in_ref), prog.type_of(out_ref)
    types = [(n, prog.type_of(r)) for n, r in prog.root.inputs]
    if yt is None or any(t is None for _, t in types):
        return out
    sample = tuple(xt.shape[1:])
    data = comps["data"]
    want = None if "transform" in seen or "augment" in seen else data.record.sample_shape(data.params)
    fields = tasks.input_fields(data, [n for n, _ in types])
    if others:
        out += tasks.check_several(data, types, fields, s, span, tb_span)
    if target_input is not None:  # reconstruction compares the output with that input
        in_name, xt = target_input, dict(types)[target_input]
    if want is not None and not others:
        out += _sample_fits(data, want, sample, in_name, xt, span["data"])
    # the loss against the output and the targets, and the layer before it
    loss = comps["loss"].record
    task = tasks.infer_task(loss, tuple(yt.shape), data, target_input)
    if task == "reconstruction":
        out += tasks.check_reconstruction(loss, s, in_name, xt, out_name, yt, span)
    else:
        problems = tasks.check_positions(task, loss, data, out_name, yt) or loss.fits(
            tuple(yt.shape), out_name, data.name, data.record.task, data.record.num_classes(data.params))
        for msg, hint in problems:
            out.append(diag(span["loss"], "loss-mismatch", msg, hint))
    for msg, hint in data.record.fits_model(data.params, types, out_name, tuple(yt.shape), task):
        out.append(diag(span["data"], "data-mismatch", msg, hint))
    for msg, hint in data.record.fits_ids(data.params, prog.root.inputs[0][0], prog.id_limit(in_ref)):
        out.append(diag(span["data"], "data-mismatch", msg, hint))
    if fields is not None:
        out += tasks.check_arrays(task, loss, data, list(zip(fields, types, strict=True)), out_name, yt, span["data"])
    last = prog.nodes[out_ref[0]]
    problem = loss.last_layer(last.layer) if last.layer is not None else None
    if problem:
        code, msg, hint, at_layer = problem
        out.append(diag(last.call.span if at_layer else span["loss"], code, msg, hint))
    out += _check_components(prog, comps, s, span)
    metric = s.early_stopping_metric.removeprefix("val_")
    classes = tasks.classes_of(task, tuple(yt.shape), data.record.num_classes(data.params))
    measured = _metrics(task, classes)
    if metric != "loss" and metric not in measured:
        why = (f"val_top5_accuracy needs more than five classes, but the model gives "
               f"{classes or 'an unknown number of'}"
               if metric == "top5_accuracy" and task == "class"
               else f"{s.early_stopping_metric} is not measured for {TASK_NAMES[task]} ({loss.name})")
        out.append(diag(span.get("early_stopping_metric", tb_span), "invalid-train", why,
                        "use one of: " + ", ".join(f'"val_{m}"' for m in ["loss", *measured])))
    if s.normalize and xt.dtype not in FLOAT_DTYPES:
        out.append(diag(span.get("normalize", tb_span), "invalid-train",
                        f"normalize = true standardizes float features, but input '{in_name}' is {xt.dtype} "
                        "(integer ids are not scaled)", "drop normalize"))
    return out


def _check_components(prog, comps, s, span) -> list[Diagnostic]:
    """Rules torch enforces when it builds the optimizer and the scheduler, and settings that
    cannot work together."""
    out: list[Diagnostic] = []
    tb_span = prog.train.span
    opt = comps["optimizer"]
    for msg, hint in opt.record.problems(opt.params):
        out.append(diag(span["optimizer"], "invalid-train", msg, hint))
    sch = comps.get("scheduler")
    if sch is not None:
        for msg, hint in sch.record.problems(sch.params) + sch.record.conflicts(sch.params, opt.record):
            out.append(diag(span["scheduler"], "invalid-train", msg, hint))
        if s.warmup_epochs and not sch.record.after_warmup:
            out.append(diag(span["scheduler"], "invalid-train",
                            f"{sch.name} cannot follow a linear warmup (warmup_epochs={s.warmup_epochs})",
                            "OneCycleLR has its own warmup (pct_start); drop warmup_epochs"))
    if s.warmup_epochs >= s.epochs:
        out.append(diag(span.get("warmup_epochs", tb_span), "invalid-train",
                        f"warmup_epochs={s.warmup_epochs} leaves no epoch after the warmup (epochs={s.epochs})"))
    if s.val_split == 0 and "val_data" not in comps and (
            s.early_stopping or (sch is not None and sch.record.needs_validation)):
        out.append(diag(tb_span, "invalid-train", "early stopping and ReduceLROnPlateau need validation data",
                        "set val_split > 0 or val_data = ..."))
    if "val_data" in comps and comps["val_data"].record.reader(comps["val_data"].params) is None \
            and not comps["val_data"].record.streams:
        out.append(diag(span["val_data"], "invalid-train",
                        f"val_data cannot be {comps['val_data'].name}(), a scikit-learn data set with no part of its own "
                        "for validation",
                        "drop val_data (val_split holds out a part of data), or give a file, a data set's "
                        "train=false part, or dataset(...)"))
    return out
