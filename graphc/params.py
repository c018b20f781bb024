"""Parameter schemas: typed classes with a fast path for valid values and pydantic for the rest.

Every layer, loss, optimizer, scheduler, data set and initializer declares its
arguments as a class body of annotated fields, in pydantic's style::

    class ConvParams(Params):
        out_channels: PosInt                      # PosInt = Annotated[int, Field(gt=0)]
        stride: PosInt | tuple[PosInt, PosInt] = 1
        padding_mode: Literal["zeros", "reflect"] = "zeros"

``Params.model_validate(values)`` checks a dict of values against it in two steps:

1. **The fast path** (this module, pure Python): exact types as pydantic's strict
   mode has them, ``Literal``, tuples, unions and ``gt/ge/lt/le/min_length``
   bounds.  It *accepts only what pydantic certainly accepts, with the same
   value*; for anything else, an invalid value or a case it is unsure of (a
   float for an int, ``True`` for ``Literal[1]``), it answers "not sure".
2. **pydantic**, with a model built from the same class on first need
   (``pydantic_model()``, strict, unknown keys forbidden).  It decides every
   value the fast path passed on, and writes the error messages.

Why two: importing pydantic and building its schemas is about 40 % of a cold
``graphc check``, and a model that checks clean never needs them.  The claim of
step 1 is tested (``tests/test_params.py``): random values through both paths,
over every schema graphc has, must agree wherever the fast path answers.

The class surface matches pydantic's where graphc uses it (``model_fields`` with
``annotation``/``metadata``/``default``/``is_required()``, ``model_validate``,
``model_dump``), and instances are frozen, compared and hashed by value.
"""

from __future__ import annotations

import math
import sys
import types
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

__all__ = ["Field", "FieldSpec", "ParamError", "Params", "same_value", "validates"]


class Field:
    """Bounds of a value inside ``Annotated[...]``: ``Annotated[int, Field(gt=0)]``.
    The subset of ``pydantic.Field`` that parameter schemas use."""

    __slots__ = ("gt", "ge", "lt", "le", "min_length", "allow_inf_nan")

    def __init__(self, *, gt=None, ge=None, lt=None, le=None, min_length: int | None = None,
                 allow_inf_nan: bool | None = None):
        self.gt, self.ge, self.lt, self.le = gt, ge, lt, le
        self.min_length, self.allow_inf_nan = min_length, allow_inf_nan

    def items(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}

    def __repr__(self) -> str:
        return f"Field({', '.join(f'{k}={v!r}' for k, v in self.items().items())})"


class ParamError(ValueError):
    """Values a schema rejects; ``errors()`` is pydantic's list of error dicts."""

    def __init__(self, schema: str, errors: list[dict]):
        super().__init__(f"{len(errors)} invalid value(s) for {schema}")
        self._errors = errors

    def errors(self) -> list[dict]:
        return self._errors


def validates(*fields: str):
    """Marks a ``(value) -> value`` function of a schema class as a check of those fields, run
    after their type is validated; a ``ValueError`` it raises is the field's error message."""

    def mark(fn):
        fn.__graphc_validates__ = fields
        return staticmethod(fn)

    return mark


# ------------------------------------------------------------------ the fast path
class _Outcome:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


REJECT = _Outcome("REJECT")  # pydantic rejects this value for certain
UNSURE = _Outcome("UNSURE")  # only pydantic can say

_SIMPLE = (str, bool, type(None), tuple, list)  # types the numeric checks reject for certain
_INT_RANGE = 2 ** 63  # pydantic takes larger ints too; no schema needs them on the fast path


def _int(v):
    t = type(v)
    if t is int:
        return v if -_INT_RANGE < v < _INT_RANGE else UNSURE
    if t is float and not v.is_integer():
        return REJECT  # 1.5 is no int, strict or not
    return REJECT if t in _SIMPLE else UNSURE


def _float(v):
    t = type(v)
    if t is float:
        return v if math.isfinite(v) else UNSURE
    if t is int:
        return float(v) if -2 ** 53 <= v <= 2 ** 53 else UNSURE  # exact as a float
    return REJECT if t in _SIMPLE else UNSURE


def _bool(v):
    if type(v) is bool:
        return v
    return REJECT if type(v) in _SIMPLE + (int, float) else UNSURE  # strict: not 0 or 1


def _str(v):
    if type(v) is str:
        return v if v.isascii() or _encodes(v) else UNSURE  # pydantic rejects lone surrogates
    return REJECT if type(v) in _SIMPLE + (int, float) else UNSURE


def _encodes(v: str) -> bool:
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _none(v):
    return None if v is None else REJECT


def _literal(choices: tuple):
    if any(type(c) is float or (type(c) is int and not -_INT_RANGE < c < _INT_RANGE) for c in choices):
        return _unsure  # 0.0 and False are one key to pydantic; nan; ints beyond int64
    def check(v):
        for c in choices:
            if type(v) is type(c) and v == c:
                return c
        t = type(v)
        if t in (int, float, bool) and any(v == c for c in choices):
            return UNSURE  # pydantic matches across these types: True fits Literal[1], -1.0 Literal[-1]
        return REJECT if t in _SIMPLE or t in (int, float) else UNSURE

    return check


def same_value(a, b) -> bool:
    """Equal, with equal types all the way down (1 and 1.0 are not the same value here)."""
    if type(a) is not type(b):
        return False
    if type(a) is tuple:
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return a == b


def _union(options: list):
    def check(v):
        accepted = []
        for opt in options:
            r = opt(v)
            if r is UNSURE:
                return UNSURE
            if r is not REJECT:
                accepted.append(r)
        if not accepted:
            return REJECT
        first = accepted[0]
        # several forms fit: pydantic's smart union picks one; only equal answers are certain,
        # and a number of exactly a member's type, which smart mode keeps (1 for int | float)
        if all(same_value(first, r) for r in accepted[1:]):
            return first
        return v if type(v) in (int, float) and any(same_value(v, r) for r in accepted) else UNSURE

    return check


def _tuple(items: list | None, each=None):
    def check(v):
        t = type(v)
        if t is not tuple:
            return REJECT if t in _SIMPLE + (int, float) else UNSURE
        if items is not None and len(v) != len(items):
            return REJECT
        out = []
        for i, x in enumerate(v):
            r = (each if items is None else items[i])(x)
            if r is REJECT or r is UNSURE:
                return r
            out.append(r)
        return tuple(out)

    return check


def _bounded(base, b: Field):
    def check(v):
        r = base(v)
        if r is REJECT or r is UNSURE:
            return r
        try:
            if ((b.gt is not None and not r > b.gt) or (b.ge is not None and not r >= b.ge)
                    or (b.lt is not None and not r < b.lt) or (b.le is not None and not r <= b.le)
                    or (b.min_length is not None and len(r) < b.min_length)):
                return REJECT
        except TypeError:  # a bound on a value it does not apply to (None in an Optional)
            return UNSURE
        return r

    return check


def _exact_float(v) -> bool:
    try:
        return float(v) == v
    except (OverflowError, TypeError, ValueError):
        return False


def _unsure(v):
    return UNSURE


def converter(ann):
    """The fast-path check of one annotation: ``value -> value | REJECT | UNSURE``."""
    if ann is int:
        return _int
    if ann is float:
        return _float
    if ann is bool:
        return _bool
    if ann is str:
        return _str
    if ann is None or ann is type(None):
        return _none
    origin, args = get_origin(ann), get_args(ann)
    if origin is Annotated:
        if not all(isinstance(b, Field) for b in args[1:]):
            return _unsure
        merged = Field()
        for b in args[1:]:  # pydantic keeps the last value given for each bound
            for k, v in b.items().items():
                setattr(merged, k, v)
        numbers = [v for k, v in merged.items().items() if k in ("gt", "ge", "lt", "le")]
        if args[0] is float and not all(type(v) is float or _exact_float(v) for v in numbers):
            return _unsure  # pydantic compares with the bound rounded to a float
        return _bounded(converter(args[0]), merged)
    if origin is Literal:
        return _literal(args)
    if origin is Union or origin is types.UnionType:
        return _union([converter(a) for a in args])
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _tuple(None, converter(args[0]))
        return _tuple([converter(a) for a in args])
    return _unsure


# ------------------------------------------------------------------ pydantic, on demand
def _pydantic_annotation(ann):
    """The same annotation with graphc's ``Field`` bounds as ``pydantic.Field``."""
    import pydantic

    origin, args = get_origin(ann), get_args(ann)
    if origin is Annotated:
        meta = tuple(pydantic.Field(**m.items()) if isinstance(m, Field) else m for m in args[1:])
        return Annotated[(_pydantic_annotation(args[0]),) + meta]
    if origin is Union or origin is types.UnionType:
        return Union[tuple(_pydantic_annotation(a) for a in args)]  # noqa: UP007 - built from a tuple
    if origin is tuple:
        return tuple[tuple(a if a is Ellipsis else _pydantic_annotation(a) for a in args)]
    return ann


# ------------------------------------------------------------------ schema classes
class FieldSpec:
    """One field, as pydantic's ``FieldInfo`` shows it: the annotation without its outer
    ``Annotated``, whose bounds are in ``metadata``."""

    __slots__ = ("name", "full", "annotation", "metadata", "default", "required", "check")

    def __init__(self, name: str, full, default):
        self.name, self.full = name, full
        if get_origin(full) is Annotated:
            self.annotation, self.metadata = get_args(full)[0], list(get_args(full)[1:])
        else:
            self.annotation, self.metadata = full, []
        self.required = default is _MISSING
        self.default = None if self.required else default
        self.check = converter(full)

    def is_required(self) -> bool:
        return self.required

    def __repr__(self) -> str:
        return f"FieldSpec({self.name!r}, {self.full!r}, default={self.default!r})"


_MISSING = object()


class _Schema(type):
    """Resolves a schema's fields on first use: a check imports many schemas and validates few."""

    @property
    def model_fields(cls) -> dict[str, FieldSpec]:
        fields = cls.__dict__.get("_fields")
        if fields is None:
            fields = cls._resolve()
        return fields


class Params(metaclass=_Schema):
    """Base of every parameter schema: unknown keys are errors, types are strict, values frozen."""

    _namespace: ClassVar[dict] = {}

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "." in cls.__qualname__:  # defined in a function or a class: its names are local there
            cls._namespace = dict(sys._getframe(1).f_locals)
        else:
            cls._namespace = {}

    @classmethod
    def _resolve(cls) -> dict[str, FieldSpec]:
        fields: dict[str, FieldSpec] = {}
        checks: dict[str, tuple[tuple[str, ...], Any]] = {}  # by function name: a subclass overrides
        for klass in reversed(cls.__mro__):
            if not (isinstance(klass, _Schema) and klass is not Params):
                continue
            ns = {**vars(sys.modules[klass.__module__]), **klass._namespace, **vars(klass)}
            for name, ann in klass.__dict__.get("__annotations__", {}).items():
                if name.startswith("_"):
                    continue  # private, as pydantic has it: not a field
                while isinstance(ann, str):
                    if ann.startswith(("ClassVar", "typing.ClassVar")):
                        break
                    ann = eval(ann, ns)  # noqa: S307 - graphc's own source, never a .model file
                if isinstance(ann, str) or get_origin(ann) is ClassVar or ann is ClassVar:
                    continue
                fields[name] = FieldSpec(name, ann, klass.__dict__.get(name, _MISSING))
            for attr_name, attr in klass.__dict__.items():
                if attr_name in fields and attr_name not in klass.__dict__.get("__annotations__", {}):
                    raise TypeError(f"{cls.__qualname__}: '{attr_name}' overrides a field without an "
                                    "annotation; annotate it to change its default")
                fn = getattr(attr, "__func__", None)
                if hasattr(fn, "__graphc_validates__"):
                    checks[attr_name] = (fn.__graphc_validates__, fn)
        pairs = [(field, fn) for names, fn in checks.values() for field in names]
        unknown = [field for field, _ in pairs if field not in fields]
        if unknown:
            raise TypeError(f"{cls.__qualname__}: @validates names no field {unknown[0]!r}")
        cls._checks = pairs
        cls._fields = fields  # last: model_fields reads it as "resolved"
        return fields

    # ---------------------------------------------------------------- validation
    @classmethod
    def prepare(cls, data: dict) -> dict:
        """Rewrites the given values before validation (both paths); the default keeps them."""
        return data

    @classmethod
    def fast_validate(cls, data: dict) -> Params | None:
        """The validated instance when every value is certain; None: ask pydantic."""
        fields = cls.model_fields
        for key in data:
            if key not in fields:
                return None
        values = {}
        for name, f in fields.items():
            if name in data:
                r = f.check(data[name])
                if r is REJECT or r is UNSURE:
                    return None
                values[name] = r
            elif f.required:
                return None
            else:
                values[name] = f.default
        for name, fn in cls._checks:
            if name in data:  # as pydantic, which does not validate defaults
                try:
                    values[name] = fn(values[name])
                except (ValueError, AssertionError):
                    return None
        return cls._make(values)

    @classmethod
    def model_validate(cls, data: dict) -> Params:
        """The validated instance; ``ParamError`` (pydantic's errors) when a value does not fit."""
        data = cls.prepare(data)
        done = cls.fast_validate(data)
        if done is not None:
            return done
        return cls.pydantic_validate(data)

    @classmethod
    def pydantic_validate(cls, data: dict) -> Params:
        """Validation by pydantic alone (the reference the fast path is tested against)."""
        import pydantic

        try:
            m = cls.pydantic_model().model_validate(data)
        except pydantic.ValidationError as e:
            raise ParamError(cls.__name__, e.errors(include_url=False)) from None
        return cls._make(dict(m))

    @classmethod
    def pydantic_model(cls):
        """The pydantic model of this schema, built once, on first need."""
        model = cls.__dict__.get("_pydantic")
        if model is None:
            import pydantic

            fields = cls.model_fields
            validators = {}
            for i, (name, fn) in enumerate(cls._checks):
                validators[f"_check{i}"] = pydantic.field_validator(name)(
                    classmethod(lambda _cls, v, fn=fn: fn(v)))
            model = pydantic.create_model(
                cls.__name__,
                __config__=pydantic.ConfigDict(extra="forbid", frozen=True, strict=True),
                __module__=cls.__module__,
                __validators__=validators,
                **{name: (_pydantic_annotation(f.full), ... if f.required else f.default)
                   for name, f in fields.items()})
            cls._pydantic = model
        return model

    # ---------------------------------------------------------------- instances
    @classmethod
    def _make(cls, values: dict) -> Params:
        obj = object.__new__(cls)
        obj.__dict__.update(values)
        return obj

    def __init__(self, **values):
        self.__dict__.update(type(self).model_validate(values).__dict__)

    def model_dump(self, exclude: set[str] | None = None) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not exclude or k not in exclude}

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other):
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self):
        return hash((type(self).__qualname__, tuple(self.__dict__.items())))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"
