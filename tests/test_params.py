"""The parameter schemas' fast path against pydantic, the validator of record.

``graphc.params`` validates values in pure Python when it is certain, and passes
everything else to a pydantic model built from the same schema.  Its claim:
whenever the fast path accepts, pydantic accepts too, with the same values (same
types, all the way down).  These tests try to break that claim on every schema
graphc has, with a fixed set of awkward values for every field and with random
values from hypothesis; and they check that valid models never need pydantic.
"""

from __future__ import annotations

import math
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphc.components import KINDS, registry
from graphc.layers.base import load_all
from graphc.params import REJECT, UNSURE, Field, ParamError, Params, converter, validates
from graphc.training import Settings

ROOT = Path(__file__).resolve().parent.parent
REG = load_all()


def _schemas() -> dict[str, type[Params]]:
    out = {f"layer {k}": layer.Params for k, layer in REG.items()}
    for kind in KINDS:
        out.update({f"{kind} {k}": v.Params for k, v in registry(kind).items()})
    out["train settings"] = Settings
    out["synthetic overlapping unions"] = _Overlapping
    out["synthetic corners"] = _Corners
    return out


class _Overlapping(Params):
    """Forms graphc's schemas avoid but the fast path must still get right: unions whose
    members accept the same value, literals next to the types of their values."""

    a: int | float = 0
    b: float | int = 0.0
    c: tuple[float | int, ...] = ()
    d: typing.Literal[1, "a"] | bool | float = "a"
    e: typing.Annotated[int, Field(gt=0)] | typing.Literal[-1] | None = None
    f: bool | int = 0


class _Corners(Params):
    """Where pydantic's answer depends on its internals: a float bound that is no exact float, a
    bound given twice (the last wins), literals it looks up across types (0.0 and False are one
    key) or cannot hold (beyond int64), strings it cannot encode, a bound on an Optional."""

    a: typing.Annotated[float, Field(ge=2**53 + 1)] | None = None
    b: typing.Annotated[int, Field(gt=5), Field(gt=0)] | float = 1
    c: typing.Literal[0.0, False] | None = None
    d: typing.Literal[1, 2**64] = 1
    e: typing.Annotated[str, Field(min_length=0)] = "a"
    f: typing.Annotated[int | None, Field(gt=0)] = None


SCHEMAS = _schemas()


def same(a, b) -> bool:
    """Equal with equal types all the way down; nan equals nan."""
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def agree(schema: type[Params], data: dict) -> str:
    """Checks the claim for one dict; says which path answered (for coverage assertions)."""
    prepared = schema.prepare(data)
    fast = schema.fast_validate(prepared)
    if fast is None:
        return "pydantic"
    try:
        ref = schema.pydantic_validate(prepared)
    except ParamError as e:
        pytest.fail(f"{schema.__qualname__}: the fast path accepted {data!r}, pydantic rejects it: "
                    f"{e.errors()}")
    a, b = fast.model_dump(), ref.model_dump()
    assert list(a) == list(b)
    for k in a:
        assert same(a[k], b[k]), f"{schema.__qualname__}.{k}: fast {a[k]!r} != pydantic {b[k]!r} for {data!r}"
    return "fast"


# ------------------------------------------------------------ values
def valid_value(ann):
    """One value that fits ``ann`` (bounds included), for the fields a test is not about."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Annotated:
        base, bounds = args[0], [m for m in args[1:] if isinstance(m, Field)]
        if base in (int, float):
            lo = max([b.gt + (1 if base is int else 0.25) for b in bounds if b.gt is not None]
                     + [b.ge for b in bounds if b.ge is not None] + [1])
            hi = min([b.lt - (1 if base is int else 0.25) for b in bounds if b.lt is not None]
                     + [b.le for b in bounds if b.le is not None] + [lo])
            return base(min(lo, hi))
        return valid_value(base)
    if origin in (typing.Union, types.UnionType):
        return valid_value(args[0])
    if origin is typing.Literal:
        return args[0]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return (valid_value(args[0]),)
        return tuple(valid_value(a) for a in args)
    return {int: 1, float: 0.5, bool: True, str: "x", type(None): None}.get(ann, None)


def base_values(schema: type[Params]) -> dict:
    return {n: valid_value(f.full) for n, f in schema.model_fields.items() if f.is_required()}


def literal_strings() -> list[str]:
    found = set()

    def walk(ann):
        origin, args = typing.get_origin(ann), typing.get_args(ann)
        if origin is typing.Literal:
            found.update(a for a in args if isinstance(a, str))
        for a in args:
            if a is not Ellipsis and not isinstance(a, (str, int, float, Field)):
                walk(a)

    for schema in SCHEMAS.values():
        for f in schema.model_fields.values():
            walk(f.full)
    return sorted(found)


AWKWARD = [0, 1, -1, 2, 3, 7, 64, -2, 2 ** 40, 2 ** 53, 2 ** 53 + 1, 2 ** 63, -(2 ** 63), 2 ** 64, 10 ** 30,
           0.0, -0.0, 0.5, 1.0, -1.0, 2.0, 1e-5, 0.999, 1.5, float("nan"), float("inf"), -float("inf"), 1e300,
           True, False, None, "", "x", "mean", "same", "zeros", "fp32", "hidden", "ok\udfff",
           (), (1,), (2, 2), (1, -1), (1, 2, 3), (0, 1), (1.0, 2.0), (True, 1), (3, 3, 3, 3), ((1, 2),),
           ("a",), [1, 2], [], [3], (-1, -1)]


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_fast_path_agrees_on_awkward_values(name):
    """Every field of every schema, with each awkward value, the other fields valid."""
    schema = SCHEMAS[name]
    base = base_values(schema)
    answered = {"fast": 0, "pydantic": 0}
    for field in schema.model_fields:
        for v in AWKWARD + [f"{s}" for s in literal_strings()]:
            answered[agree(schema, {**base, field: v})] += 1
    answered[agree(schema, base)] += 1
    answered[agree(schema, {**base, "not_a_field": 1})] += 1
    assert answered["pydantic"] > 0  # the awkward values include invalid ones for every schema


def _anything():
    leaves = st.one_of(
        st.integers(-3, 70), st.sampled_from([2 ** 53, 2 ** 53 + 1, -(2 ** 63), 2 ** 64, 10 ** 20]),
        st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1.0, -1.0, 0.5, 2.0]),
        st.booleans(), st.none(), st.sampled_from(literal_strings()), st.text(max_size=3))
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(tuple), st.lists(inner, max_size=3)), max_leaves=6)


ANYTHING = _anything()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_path_agrees_on_random_values(data):
    name = data.draw(st.sampled_from(sorted(SCHEMAS)), label="schema")
    schema = SCHEMAS[name]
    values = dict(base_values(schema))
    fields = list(schema.model_fields)
    for field in data.draw(st.lists(st.sampled_from(fields), max_size=3), label="fields") if fields else []:
        values[field] = data.draw(ANYTHING, label=field)
    agree(schema, values)


def test_every_registry_sample_takes_the_fast_path():
    """Valid arguments never need pydantic: each layer's samples are all accepted in pure Python."""
    slow = []
    for kind, layer in REG.items():
        for s in layer.samples:
            if agree(layer.Params, s.params) != "fast":
                slow.append(f"{kind} {s.params}")
    assert not slow, "needs pydantic:\n" + "\n".join(slow)


def test_check_of_valid_models_does_not_import_pydantic():
    code = ("import sys; from graphc.cli import main; rc = main(['check', 'models/']); "
            "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 []", out.stdout + out.stderr


def test_invalid_value_is_explained_by_pydantic():
    schema = REG["Conv2d"].Params
    with pytest.raises(ParamError) as e:
        schema.model_validate({"out_channels": 0, "kernel_size": 3})
    (err,) = e.value.errors()
    assert err["loc"] == ("out_channels",) and err["type"] == "greater_than"


# ------------------------------------------------------------ the machinery itself
class _Example(Params):
    n: typing.Annotated[int, Field(gt=0)]
    sizes: typing.Annotated[tuple[int, ...], Field(min_length=1)] = (1,)
    mode: typing.Literal["a", "b", 1] = "a"
    rate: float | None = None

    @validates("sizes")
    def _no_zero(v):
        if 0 in v:
            raise ValueError("no size may be 0")
        return v


def test_schema_instances_are_frozen_values():
    a = _Example.model_validate({"n": 2, "rate": 1})
    assert a.rate == 1.0 and type(a.rate) is float and a.sizes == (1,)
    assert a == _Example.model_validate({"n": 2, "rate": 1.0}) and hash(a) == hash(_Example(n=2, rate=1.0))
    assert a.model_dump() == {"n": 2, "sizes": (1,), "mode": "a", "rate": 1.0}
    with pytest.raises(AttributeError):
        a.n = 3


def test_field_checks_run_on_both_paths():
    assert _Example.fast_validate({"n": 1, "sizes": (2, 0)}) is None
    with pytest.raises(ParamError) as e:
        _Example.model_validate({"n": 1, "sizes": (2, 0)})
    assert e.value.errors()[0]["msg"] == "Value error, no size may be 0"


class _ZeroDefault(_Example):
    sizes: tuple[int, ...] = (0,)


def test_field_checks_skip_defaults_as_pydantic_does():
    assert _ZeroDefault.fast_validate({"n": 1}).sizes == (0,)
    assert _ZeroDefault.pydantic_validate({"n": 1}).sizes == (0,)


def test_schema_mistakes_are_caught_when_the_schema_is_first_used():
    class Typo(Params):
        n: int = 0

        @validates("m")
        def _check(v):
            return v

    class Base(Params):
        x: int = 1

    class Unannotated(Base):
        x = 5

    for schema in (Typo, Unannotated):
        with pytest.raises(TypeError):
            _ = schema.model_fields


@pytest.mark.parametrize("ann, value, expected", [
    (int, True, REJECT), (int, 2.0, UNSURE), (int, 5, 5), (float, 3, 3.0), (float, float("nan"), UNSURE),
    (bool, 1, REJECT), (typing.Literal[1], True, UNSURE), (typing.Literal[1], 2, REJECT),
    (typing.Literal["a"], 1, REJECT), (tuple[int, ...], [1], REJECT), (tuple[int, int], (1,), REJECT),
    (int | float, 1, 1), (float | int, 1, 1), (int | float, 1.5, 1.5), (int | tuple[int, int], (1, 2), (1, 2)),
    (typing.Annotated[int, Field(ge=0, le=3)], 4, REJECT), (typing.Annotated[int, Field(ge=0, le=3)], 3, 3),
])
def test_converter_outcomes(ann, value, expected):
    got = converter(ann)(value)
    assert got is expected if expected in (REJECT, UNSURE) else same(got, expected)
