"""Loss expressions: ``loss = CrossEntropyLoss(digit) + 0.5 * MSELoss(angle)``.

A loss is a sum of weighted terms.  Each term is a registered loss called with the
outputs it compares as its first positional arguments, then, optionally, the input that
is its target (``BCELoss(reconstruction, image)``); without one a term's target is the
data's.  ``KLDivNormal(mu, logvar)`` takes two outputs and no target.  Weights are
constant expressions (``pixels * BCELoss(...)``, ``MSELoss(a) / 2``, ``-`` subtracts).
``loss = CrossEntropyLoss()`` (no output named) is the one output of a one-output model.

The grammar's calls cannot be called again (``BCELoss()(recon, x)``), so the outputs and
the target are the loss's first positional arguments, in torch.nn.functional's (input,
target) order; the losses' own arguments are keywords (torch's first positional argument
of a loss is ``weight`` or a deprecated one), so nothing else is taken by position there.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc import ast as A
from graphc import training_tasks as tasks
from graphc.errors import Diagnostic, diag


@dataclass(frozen=True)
class RawTerm:
    """One term as written: its weight, the loss call with the names stripped, the outputs and the
    input it names."""

    weight: float
    call: A.Call
    outputs: tuple[str, ...]
    target: str | None
    span: object


@dataclass(frozen=True)
class Term:
    """One term as the script computes it."""

    weight: float
    loss: object                  # a training.Choice
    outputs: tuple[int, ...]      # indices into the model's outputs
    names: tuple[str, ...]
    slot: int | None              # the target's slot (TARGET_SLOTS), None for KLDivNormal
    task: str | None              # a key of training.TASK_METRICS; None: no target
    classes: int | None
    shape: tuple                  # the output's shape, batch first
    target: str | None = None     # the input that is the target


def _is_loss_expr(e, losses) -> bool:
    if isinstance(e, A.Call):
        return e.kind in losses
    if isinstance(e, A.Name):
        return e.id in losses
    if isinstance(e, A.BinOp):
        return _is_loss_expr(e.left, losses) or _is_loss_expr(e.right, losses)
    if isinstance(e, A.Neg):
        return _is_loss_expr(e.operand, losses)
    return False


def parse(ev, env, expr, losses, outputs, inputs, out: list[Diagnostic]) -> list[RawTerm] | None:
    """The terms of ``loss = ...``: each a loss call with a constant weight."""
    terms: list[RawTerm] = []

    def walk(e, weight) -> bool:
        if isinstance(e, A.Name) and e.id in losses:
            e = A.Call(e.id, e.span, (), e.span, bare=True)
        if isinstance(e, A.Call):
            if e.kind not in losses:
                out.append(diag(e.kind_span, "unknown-component", f"unknown loss '{e.kind}'",
                                ev.suggest(e.kind, losses) or f"one of: {', '.join(losses)}"))
                return False
            names, k = [], 0
            while k < len(e.args) and e.args[k].name is None and isinstance(e.args[k].value, A.Name) \
                    and e.args[k].value.id in (*outputs, *inputs):
                names.append(e.args[k].value)
                k += 1
            want = losses[e.kind].outputs
            if k < len(e.args) and e.args[k].name is None and isinstance(e.args[k].value, A.Name) \
                    and not losses[e.kind].signature().positional:
                bad = e.args[k].value
                out.append(diag(bad.span, "invalid-train", f"'{bad.id}' is neither an output nor an input of the model",
                                ev.suggest(bad.id, [*outputs, *inputs])
                                or f"outputs: {', '.join(outputs)}; inputs: {', '.join(inputs)}"))
                return False
            outs = [n.id for n in names if n.id in outputs]
            ins = [n for n in names if n.id in inputs]
            order_ok = [n.id for n in names[:len(outs)]] == outs
            if not order_ok or len(ins) > 1 or (ins and want > 1):
                out.append(diag(e.span, "invalid-train",
                                f"{e.kind} takes {'the output' if want == 1 else f'{want} outputs'} it compares, then "
                                f"{'the input that is its target' if want == 1 else 'no target'}: "
                                f"{e.kind}({', '.join(['OUTPUT'] * want)}{', INPUT' if want == 1 else ''}, ...)",
                                f"outputs: {', '.join(outputs)}; inputs: {', '.join(inputs)}"))
                return False
            if outs and len(outs) != want:
                out.append(diag(e.span, "invalid-train",
                                f"{e.kind} takes {want} output{'s' if want > 1 else ''}, but {len(outs)} "
                                f"{'is' if len(outs) == 1 else 'are'} named ({', '.join(outs)})",
                                f"e.g. {e.kind}({', '.join(outputs[:want])})" if len(outputs) >= want else
                                f"the model has {len(outputs)} output{'s' if len(outputs) > 1 else ''} "
                                f"({', '.join(outputs)})"))
                return False
            if not outs and (len(outputs) != want or want > 1):
                out.append(diag(e.span, "invalid-train",
                                f"the model has {len(outputs)} outputs ({', '.join(outputs)}): name the one "
                                f"{e.kind} compares", f"e.g. {e.kind}({outputs[0]})"))
                return False
            call = A.Call(e.kind, e.kind_span, e.args[k:], e.span, e.bare)
            terms.append(RawTerm(weight, call, tuple(outs or outputs), ins[0].id if ins else None, e.span))
            return True
        if isinstance(e, A.Neg):
            return walk(e.operand, -weight)
        if isinstance(e, A.BinOp) and e.op in ("+", "-"):
            return walk(e.left, weight) & walk(e.right, -weight if e.op == "-" else weight)
        if isinstance(e, A.BinOp) and e.op in ("*", "/"):
            lossy = [_is_loss_expr(s, losses) for s in (e.left, e.right)]
            if lossy == [True, False] or (lossy == [False, True] and e.op == "*"):
                term, const = (e.left, e.right) if lossy[0] else (e.right, e.left)
                w = ev.eval(const, env)
                if isinstance(w, bool) or not isinstance(w, int | float):
                    out.append(diag(const.span, "invalid-train",
                                    "a loss is weighted by a constant number", "e.g. 0.5 * MSELoss(angle)"))
                    return False
                if e.op == "/" and w == 0:
                    out.append(diag(const.span, "invalid-train", "a loss divided by 0"))
                    return False
                return walk(term, weight * w if e.op == "*" else weight / w)
        out.append(diag(e.span, "invalid-train",
                        "'loss' is a loss, or a sum of weighted losses of the outputs",
                        "e.g. loss = CrossEntropyLoss(), or loss = CrossEntropyLoss(digit) + 0.5 * MSELoss(angle)"))
        return False

    return terms if walk(expr, 1.0) else None


def data_keys(raw: list[RawTerm], target_input, several: bool) -> dict[str, str | None]:
    """The outputs whose targets come from the data, each with its array: None (the data's
    targets) when only one output takes them; ``y_<output>`` each when several do."""
    outs = []
    for t in raw:
        if t.target is None and target_input is None and t.outputs[0] not in outs and len(t.outputs) == 1:
            outs.append(t.outputs[0])
    return {o: (f"y_{o}" if len(outs) > 1 else None) for o in outs} if several or outs else {}


def check_terms(prog, raw, choices, data, settings, span, target_input) -> tuple[list[Diagnostic], list, list]:
    """Each term against its outputs and its target, as the one-output rules check a loss.
    Returns the diagnostics, the Terms and the target slots ((kind, index, task) each)."""
    out: list[Diagnostic] = []
    names = [n for n, _ in prog.outputs]
    refs = dict(prog.outputs)
    inputs = [n for n, _ in prog.root.inputs]
    in_types = {n: prog.type_of(r) for n, r in prog.root.inputs}
    keys = data_keys(raw, target_input, True)
    if len(keys) > 1 and data.name not in ("npz", "dataset"):
        out.append(diag(span["loss"], "invalid-train",
                        f"{len(keys)} outputs ({', '.join(keys)}) take targets from the data, which only an npz file "
                        f"(one array each: {', '.join(f'y_{k}' for k in keys)}) or a dataset(...) of your own gives; "
                        f"{data.name}() has one",
                        "give the other outputs their target (an input: MSELoss(out, image)), or use npz(...) or "
                        "dataset(...)"))
    slots: list[tuple] = []
    terms = []
    for t, choice in zip(raw, choices, strict=True):
        loss = choice.record
        types = [prog.type_of(refs[n]) for n in t.outputs]
        if any(ty is None for ty in types):
            return out, [], []
        shapes = [tuple(ty.shape) for ty in types]
        if loss.outputs > 1:
            for msg, hint in loss.fits_outputs(shapes, t.outputs):
                out.append(diag(t.span, "loss-mismatch", msg, hint))
            terms.append(Term(t.weight, choice, tuple(names.index(n) for n in t.outputs), t.outputs, None, None,
                              None, shapes[0]))
            continue
        (oname,), (yt,) = t.outputs, types
        tin = t.target or target_input
        sp = dict(span, loss=t.span, target=t.span if t.target else span.get("target", t.span))
        if tin is not None:
            task = "reconstruction"
            out.extend(tasks.check_reconstruction(loss, settings, tin, in_types[tin], oname, yt, sp))
            slot = ("input", inputs.index(tin), task)
        else:
            task = tasks.infer_task(loss, tuple(yt.shape), data, None)
            problems = tasks.check_positions(task, loss, data, oname, yt) or loss.fits(
                tuple(yt.shape), oname, data.name, data.record.task, data.record.classes)
            for msg, hint in problems:
                out.append(diag(t.span, "loss-mismatch", msg, hint))
            slot = ("data", list(keys).index(oname), task)
        node = prog.nodes[refs[oname][0]]
        problem = loss.last_layer(node.layer) if node.layer is not None else None
        if problem:
            code, msg, hint, at_layer = problem
            out.append(diag(node.call.span if at_layer else t.span, code, msg, hint))
        if slot not in slots:
            slots.append(slot)
        classes = tasks.classes_of(task, tuple(yt.shape), data.record.classes if slot[0] == "data" else None)
        terms.append(Term(t.weight, choice, (names.index(oname),), t.outputs, slots.index(slot), task, classes,
                          tuple(yt.shape), tin))
    return out, terms, slots


def metric_heads(terms) -> list[tuple[str, int]]:
    """(output, term) whose metrics are measured: the first term of each output that has a target."""
    heads: list[tuple[str, int]] = []
    for i, t in enumerate(terms):
        if t.task is not None and t.names[0] not in [h for h, _ in heads]:
            heads.append((t.names[0], i))
    return heads


def describe(t) -> str:
    """A term as the script's comment shows it: ``0.5 * MSELoss(angle)``."""
    w = "" if t.weight == 1 else f"{t.weight:g} * "
    return f"{w}{t.loss.name}({', '.join((*t.names, *([t.target] if t.target else [])))})"


def check_target_arrays(data, keys, fields, where) -> list[Diagnostic]:
    """Several outputs' target arrays ``y_<output>`` of an .npz file that is there: each present,
    with as many samples as the inputs'."""
    arrays_of = getattr(data.record, "arrays", None)
    arrays = arrays_of(data.params) if arrays_of else None
    wanted = [k for k in keys.values() if k is not None]
    if arrays is None or not wanted:
        return []
    out = []
    rows = arrays[fields[0]][0][0] if fields[0] in arrays and arrays[fields[0]][0] else None
    for key in wanted:
        if key not in arrays:
            out.append(diag(where, "data-mismatch",
                            f"{data.params.path} has no array {key!r} for the targets of output '{key[2:]}' "
                            f"(it has {', '.join(sorted(arrays)) or 'none'})",
                            f"several outputs take their targets from the data: one array each, named "
                            f"{', '.join(wanted)}"))
        elif rows is not None and (not arrays[key][0] or arrays[key][0][0] != rows):
            out.append(diag(where, "data-mismatch",
                            f"array {key!r} of {data.params.path} is {arrays[key][0]}, but the inputs have {rows} "
                            "samples"))
    return out
