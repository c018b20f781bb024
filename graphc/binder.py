"""One argument binder for every call a ``.model`` file makes.

A layer, a block, an initializer (``weight_init=``, ``bias_init=``, the ``init`` section), a
loss, an optimizer, a scheduler and a data set are all called the same way: positional
arguments fill the callee's positional slots in order, keywords name the rest.  :func:`bind`
maps a call's arguments to names, evaluates each value, checks the values with the callee's
parameter schema (graphc.params) and reports each problem once, with the same code and the
same words wherever the call is:

- ``unknown-argument``: ``SGD has no argument 'momentun'`` at the keyword, with a did-you-mean;
- ``duplicate-argument``: ``SGD gets argument 'lr' twice (positional argument 1 at column 19
  is 'lr')`` at the second one;
- ``too-many-arguments``: ``Linear takes 1 positional argument (out_features), got 2``, once,
  under every extra one;
- ``missing-argument``: ``StepLR needs 'step_size'`` at the call (not for a name a misspelt
  keyword was evidently meant as: that one already says "did you mean");
- ``invalid-argument``: ``Dropout p=1.5: must be at most 1.0`` at the value, with the expected
  type and bounds.

Valid calls never import pydantic (see graphc.params).  This module also holds the pieces
those messages share: the failed-value marker ``_ERR`` and ``_fmt``, a value as the language
writes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from graphc import ast as A
from graphc.errors import shorten
from graphc.params import ParamError, Params
from graphc.source import Span


class _ErrType:
    def __repr__(self) -> str:
        return "<error>"


#: The value of an expression whose error is already reported.
_ERR = _ErrType()


@dataclass(frozen=True)
class Signature:
    """What a callee accepts, and how messages name it."""

    label: str                       # the callee in messages: "Conv2d", "block Stem", "SGD"
    kind: str                        # as a call writes it, for "e.g. Stem(c=...)"
    names: tuple[str, ...]           # every name it takes, in order
    positional: tuple[str, ...]      # the slots positional arguments fill; "*shape" takes the rest
    required: frozenset[str]
    schema: type[Params] | None = None
    noun: str = "argument"           # "parameter" for a block
    graphc_order: tuple[str, ...] | None = None  # with PyTorch's order in ``positional``: graphc's


_SIGNATURES: dict[tuple, Signature] = {}


def signature(kind: str, schema: type[Params], positional: tuple[str, ...] | None = None) -> Signature:
    """The signature of a schema-checked callee; ``positional`` defaults to every field, in order
    (torch's order for losses, optimizers, schedulers and initializers)."""
    key = (kind, schema, positional)
    sig = _SIGNATURES.get(key)
    if sig is None:
        fields = schema.model_fields
        sig = _SIGNATURES[key] = Signature(
            kind, kind, tuple(fields), tuple(fields) if positional is None else tuple(positional),
            frozenset(n for n, f in fields.items() if f.is_required()), schema)
    return sig


@dataclass
class Bound:
    """A bound call: ``params`` (the schema's instance; None after an error or without a
    schema), the values and the expressions that gave them, by name."""

    ok: bool
    values: dict[str, Any]
    exprs: dict[str, A.Expr]
    params: Params | None = None
    unsure: bool = False  # ``fast``: the schema's fast path could not vouch for the values


def bind(host, env, sig: Signature, span: Span, args, fast: bool = False) -> Bound:
    """Bind ``args`` (a call's A.Arg list) to ``sig``; evaluate each value with
    ``host.eval(expr, env)`` and report each problem with ``host.error`` (a Lowerer).
    ``span`` is the whole call's (a missing argument is reported there).  ``fast``: check the
    values with the schema's fast path only (never pydantic): values it cannot vouch for
    give a Bound that is not ok and ``unsure``."""
    values: dict[str, Any] = {}
    exprs: dict[str, A.Expr] = {}
    where: dict[str, tuple[Span, int | None]] = {}  # name -> (its argument's span, position)
    meant: set[str] = set()   # names an unknown keyword was evidently meant as
    ok = True
    n_positional = sum(a.name is None for a in args)
    star = next((i for i, p in enumerate(sig.positional) if p.startswith("*")), None)
    slots = sig.positional if star is None else sig.positional[:star]
    gathered: set[int] = set()
    if star is not None and n_positional > star:  # torch's *shape: the rest form one tuple
        key, rest = sig.positional[star][1:], [a for a in args if a.name is None][star:]
        gathered = {id(a) for a in rest}
        vals = [host.eval(a.value, env) for a in rest]
        if any(v is _ERR for v in vals):
            ok = False
        values[key] = vals[0] if len(vals) == 1 else tuple(vals)
        exprs[key] = rest[0].value if len(rest) == 1 else A.TupleLit(
            tuple(a.value for a in rest), rest[0].span.to(rest[-1].span))
        where[key] = (rest[0].span, star + 1)
    extra = []
    pos = 0
    for a in args:
        if a.name is None:
            if id(a) in gathered:
                continue
            if pos >= len(slots):
                extra.append(a)
                continue
            key, n = slots[pos], pos + 1
            pos += 1
        else:
            key, n = a.name, None
            if key not in sig.names:
                hint = host.suggest(key, sig.names)
                if hint:
                    meant.update(re.findall(r"'([^']*)'", hint))
                host.error(a.name_span or a.span, "unknown-argument",
                           f"{sig.label} has no {sig.noun} '{key}'",
                           hint or (f"its {sig.noun}s are: {', '.join(sig.names)}" if sig.names
                                    else f"{sig.label} takes no {sig.noun}s"))
                ok = False
                continue
        if key in where:
            first, first_n = where[key]
            at = f"column {first.col}" if first.line == a.span.line else f"line {first.line}"
            host.error(a.span, "duplicate-argument", f"{sig.label} gets {sig.noun} '{key}' twice "
                       + (f"(positional {sig.noun} {first_n} at {at} is '{key}')" if first_n
                          else f"(the first at {at})"), "remove one of them")
            ok = False
            continue
        where[key] = (a.span, n)
        v = host.eval(a.value, env)
        if v is _ERR:
            ok = False
        values[key], exprs[key] = v, a.value
    if extra:
        n = len(slots)
        takes = f"{n or 'no'} positional {sig.noun}{'s' if n != 1 else ''}{' (' + ', '.join(slots) + ')' if n else ''}"
        if sig.graphc_order is not None:
            g = sig.graphc_order
            takes = (f"{len(g) or 'no'} positional {sig.noun}{'s' if len(g) != 1 else ''}"
                     f"{' (' + ', '.join(g) + ')' if g else ''}, or {n} in PyTorch's order ({', '.join(slots)})")
        host.error(extra[0].span.to(extra[-1].span), "too-many-arguments",
                   f"{sig.label} takes {takes}, got {n_positional}",
                   "pass the others by keyword, e.g. name=value"
                   if star is None and len(slots) < len(sig.names) else None)
        ok = False
    missing = [k for k in sig.names if k in sig.required and k not in values]
    for key in missing:
        if key not in meant:
            host.error(span, "missing-argument", f"{sig.label} needs '{key}'", f"e.g. {sig.kind}({key}=...)")
    if not ok and sig.schema is not None and not fast:
        # an unknown or repeated argument does not hide a bad value in the same call: each value
        # that was read is still checked on its own (one run reports every mistake)
        known = {k: v for k, v in values.items() if v is not _ERR}
        check(host, sig, known, exprs, span, fields_only=True)
    if not ok or sig.schema is None:
        return Bound(ok and not missing, values, exprs)
    if fast:
        params = None if missing else sig.schema.fast_validate(sig.schema.prepare(values))
        return Bound(params is not None, values, exprs, params, unsure=params is None and not missing)
    params = check(host, sig, values, exprs, span)
    return Bound(params is not None and not missing, values, exprs, None if missing else params)


def check(host, sig: Signature, values: dict[str, Any], exprs: dict[str, A.Expr], span: Span,
          fields_only: bool = False) -> Params | None:
    """``sig.schema.model_validate(values)``; each value it rejects becomes an
    ``invalid-argument`` at its expression (``span`` where there is none).  Missing names are
    not reported here: :func:`bind` reports them, before the schema is asked.  ``fields_only``:
    report only the values rejected on their own, not rules across several (some are absent)."""
    try:
        return sig.schema.model_validate(values)
    except ParamError as e:
        by_key: dict = {}
        for err in e.errors():
            if err["type"] != "missing" and not (fields_only and not err["loc"]):
                by_key.setdefault(str(err["loc"][0]) if err["loc"] else None, []).append(err)
        for key, errs in by_key.items():
            what = _pydantic_msg(errs[0]) if len(errs) == 1 else "is not one of the accepted forms"
            hint = _type_hint(sig.schema, key)
            v = values.get(key)
            if isinstance(v, float) and v.is_integer() and errs[0]["type"] in ("int_type", "int_from_float"):
                hint = "'/' gives a float; use '//' for integer division" \
                    if isinstance(exprs.get(key), A.BinOp) else f"write {int(v)}"
            host.error(exprs[key].span if key in exprs else span, "invalid-argument",
                       f"{sig.label} {key}={_fmt(v)}: {what}", hint)
        return None


# ------------------------------------------------------------- messages
def _pydantic_msg(err) -> str:
    t = err["type"]
    ctx = err.get("ctx") or {}
    if t == "greater_than":
        return f"must be greater than {ctx.get('gt')}"
    if t == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if t == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    if t == "literal_error":
        return f"must be one of {ctx.get('expected')}".replace("'", '"')
    if t in ("int_type", "int_from_float"):
        return "must be an integer"
    if t == "float_type":
        return "must be a number"
    if t == "bool_type":
        return "must be true or false"
    if t == "string_type":
        return "must be a string"
    if t in ("tuple_type", "too_short", "too_long"):
        return "has the wrong form"
    return err["msg"][0].lower() + err["msg"][1:]


def _type_hint(schema: type[Params], key: str | None) -> str | None:
    if key is None or key not in schema.model_fields:
        return None
    f = schema.model_fields[key]
    return f"expected {describe_type(f.annotation)}{_constraints(f.metadata)}"


def _constraints(metadata) -> str:
    bounds = {}
    flat = []
    for m in metadata:
        flat += list(getattr(m, "metadata", None) or []) if hasattr(m, "metadata") else [m]
    for m in flat:
        for attr in ("gt", "ge", "lt", "le"):
            if getattr(m, attr, None) is not None:
                bounds[attr] = getattr(m, attr)
    if "ge" in bounds and "le" in bounds:
        return f" in [{bounds['ge']}, {bounds['le']}]"
    ops = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    return "".join(f" {ops[k]} {v}" for k, v in bounds.items())


def describe_type(ann) -> str:
    """A schema field's annotation in words: ``int > 0 or (int > 0, int > 0)``."""
    import types
    from typing import Annotated, Literal, Union, get_args, get_origin

    origin, args = get_origin(ann), get_args(ann)
    if origin is Annotated:
        return describe_type(args[0]) + _constraints(args[1:])
    if origin in (Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args)
    if origin is Literal:
        return " or ".join(f'"{a}"' if isinstance(a, str) else str(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"({describe_type(args[0])}, ...)"
        return "(" + ", ".join(describe_type(a) for a in args) + ")"
    if ann is type(None):
        return "none"
    return {"float": "number", "bool": "true or false", "str": "string"}.get(
        getattr(ann, "__name__", ""), getattr(ann, "__name__", str(ann)))


_FMT_ROOM = 1_000  # characters of a value written for a message, at most (see _fmt)


def _fmt(v) -> str:
    """A value as the language writes it, for messages: long ones shortened.  Never more than
    _FMT_ROOM characters are written: a string may be 1 MB and a tuple built from constants
    millions of items, and a message may be written once per use of a block."""
    parts: list[str] = []
    if _fmt_into(v, parts, [_FMT_ROOM]):
        return shorten("".join(parts))
    return f"{''.join(parts)[:60]}… (more than {_FMT_ROOM:,} characters)"


def _fmt_into(v, parts: list[str], room: list[int]) -> bool:
    """Append ``v``'s text to ``parts``; False, leaving the text incomplete, once it is longer
    than ``room[0]`` characters (``room[0]`` counts down)."""
    if isinstance(v, tuple):
        parts.append("(")
        room[0] -= 1
        for i, x in enumerate(v):
            if i:
                parts.append(", ")
                room[0] -= 2
            if room[0] < 0 or not _fmt_into(x, parts, room):
                return False
        tail = ",)" if len(v) == 1 else ")"
        parts.append(tail)
        room[0] -= len(tail)
        return room[0] >= 0
    if isinstance(v, bool):
        text = str(v).lower()
    elif v is None:
        text = "none"
    elif isinstance(v, str):
        head = v[:max(room[0], 0) + 1]  # a longer string does not fit: escape only what may show
        text = '"' + head.replace("\\", "\\\\").replace('"', '\\"') + ('"' if len(head) == len(v) else "")
    else:
        text = repr(v)
    parts.append(text)
    room[0] -= len(text)
    return room[0] >= 0


# ------------------------------------------------------------- PyTorch's order
# graphc infers the sizes that follow from the input (Conv2d's in_channels, Linear's
# in_features, BatchNorm2d's num_features...), so its positional slots skip them; PyTorch
# takes them first.  ``Conv2d(3, 16, 3)`` is out_channels=3, kernel_size=16, stride=3 in
# graphc's order and in_channels=3, out_channels=16, kernel_size=3 in PyTorch's.  A layer
# declares PyTorch's order (``Layer.torch_positional``) and the sizes it infers
# (``Layer.inferred``); graphc.lower.arguments binds a call both ways and keeps a Reading.
# The input decides, once its sizes are known (the layer's ``infer`` calls :func:`decide`):
#
# - only PyTorch's order fits the call (``Linear(32, 10)``, ``BatchNorm2d(32)``): PyTorch's
#   meaning; the inferred size written is checked against the input (base.check_given says
#   both readings when it differs), and a note says it may be left out;
# - both fit: PyTorch's meaning when the number written for the inferred size is the
#   input's (a warning names the other reading), graphc's otherwise.


@dataclass
class Reading:
    """How a call's positional arguments were read: ``torch`` is PyTorch's reading
    (name -> value), ``graphc`` graphc's (None: graphc's order does not fit the call)."""

    call: str                          # the call as written: "Conv2d(3, 16, 3)"
    span: Span
    inferred: dict[str, Any]           # inferred sizes written positionally -> their values
    torch: dict[str, Any]
    graphc: dict[str, Any] | None
    fix_torch: str                     # the call with PyTorch's meaning, inferred sizes left out
    fix_graphc: str | None             # the call with graphc's meaning, in a form PyTorch's order cannot read
    # while the input has not decided between two readings: each one's (values, expressions);
    # ``exprs`` is the node's expressions dict, rewritten in place with ``params`` (see decide)
    both: dict[str, tuple[dict, dict]] | None = None
    exprs: dict | None = None
    chosen: str | None = None          # "torch" or "graphc", once decided

    def torch_text(self) -> str:
        return ", ".join(f"{k}={_fmt(v)}" for k, v in self.torch.items())

    def graphc_text(self) -> str:
        return ", ".join(f"{k}={_fmt(v)}" for k, v in (self.graphc or {}).items())


_READINGS: dict[int, tuple[Any, Reading]] = {}  # id(params) -> (weak reference, Reading)


def keep_reading(params: Params, reading: Reading) -> None:
    """Remember ``reading`` for ``params`` (as long as ``params`` lives)."""
    import weakref

    key = id(params)
    _READINGS[key] = (weakref.ref(params, lambda _ref, key=key: _READINGS.pop(key, None)), reading)


def reading_of(params) -> Reading | None:
    entry = _READINGS.get(id(params))
    return entry[1] if entry is not None and entry[0]() is params else None


def decide(params, sizes: dict[str, Any]) -> None:
    """Choose the reading of ``params``' call, now that the input gives the inferred ``sizes``
    (name -> value).  PyTorch's reading is taken when it is the only one, or when every
    inferred size it writes is the input's; ``params`` (and the node's expressions) are
    rewritten in place to it, so the node and everything after it see one reading.
    ``graphc.layers.base.either_order`` takes graphc's reading back where PyTorch's then
    fails on the input and graphc's does not."""
    r = reading_of(params)
    if r is None or r.chosen is not None:
        return
    if r.both is None:
        r.chosen = "torch"
        return
    use(params, "graphc" if any(sizes.get(k) != v for k, v in r.inferred.items()) else "torch")


def use(params, which: str) -> None:
    """Rewrite ``params`` and its node's expressions to the reading ``which`` ("torch" or
    "graphc") of a call both orders fit.  Params are frozen for everyone else: this happens
    while the node's input types are inferred, before anything else reads them."""
    r = reading_of(params)
    values, exprs = r.both[which]
    params.__dict__.clear()
    params.__dict__.update(values)
    r.exprs.clear()
    r.exprs.update(exprs)
    r.chosen = which


def mismatch_message(params, field: str, given, inferred) -> tuple[str, str] | None:
    """(message, hint) for an inferred size written in PyTorch's order that the input
    contradicts; None when ``field`` was not written that way."""
    r = reading_of(params)
    if r is None or r.chosen != "torch" or field not in r.inferred:
        return None
    msg = (f"{r.call} is read in PyTorch's order, {r.torch_text()}, but the input has {field} "
           f"{inferred}, not {_fmt(given)}")
    if r.graphc is not None:
        msg += f" (graphc's order would read {r.graphc_text()})"
    hint = f"graphc infers {field} from the input: write {r.fix_torch}"
    if r.fix_graphc is not None:
        hint += f" for PyTorch's meaning, or {r.fix_graphc} for graphc's"
    return msg, hint


def reading_diagnostics(nodes) -> list:
    """A note for each call read in PyTorch's order (its inferred sizes may be left out), a
    warning for each one graphc's order would have read otherwise; once per call written."""
    from graphc.errors import diag

    out, seen = [], set()
    for node in nodes:
        r = reading_of(node.params) if node.params is not None else None
        if r is None or r.chosen != "torch" or node.outs is None or (r.span, r.call) in seen:
            continue
        seen.add((r.span, r.call))
        names = " and ".join(r.inferred)
        if r.graphc is None:
            out.append(diag(r.span, "torch-order",
                            f"{r.call} is read in PyTorch's order: {r.torch_text()}",
                            f"graphc infers {names} from the input; it may be left out: {r.fix_torch}"))
        else:
            out.append(diag(r.span, "ambiguous-arguments",
                            f"{r.call} is read in PyTorch's order, {r.torch_text()}, as its first "
                            f"number is the input's {names}; graphc's order would read {r.graphc_text()}",
                            f"write {r.fix_torch} for PyTorch's meaning ({names} is inferred), or "
                            f"{r.fix_graphc} for graphc's"))
    return out
