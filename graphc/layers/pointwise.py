"""Elementwise tensor math: the operations tensor expressions lower to (docs/language.md,
"Tensor expressions").  ``mu + exp(0.5 * logvar) * randn_like(mu)`` becomes nodes of
``add``, ``mul`` (graphc.layers.merge), ``scalar_op``, ``exp`` and ``randn_like``; the
emitter folds them back into one forward line.

None has a module or parameters.  Each operator says how its forward text binds (``precedence_of``,
graphc.expr.OPERATORS' scale; a call binds like an atom and has none) so the emitter
knows where a folded operand needs brackets (``operand_is_right``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from graphc import pyfmt
from graphc.expr import OPERATORS, UNARY_PRECEDENCE
from graphc.layers.base import FLOAT_DTYPES, Layer, Params, Sample, ShapeError, TensorType, register
from graphc.layers.merge import _Broadcast, _category
from graphc.shapes import normalize_dim

_INT_RANGE = {"int32": 2**31, "int64": 2**63}


def scalar_result(dtype: str, value: int | float) -> str:
    """torch's dtype for a tensor of ``dtype`` with a Python number: the number only counts when
    it is of a higher category (bool < integer < floating point); then the default dtype of its
    category (float32, int64)."""
    cat = 2 if isinstance(value, float) else 1
    if cat > _category(dtype):
        return "float32" if cat == 2 else "int64"
    return dtype


def _no_bool(x: TensorType, what: str, hint: str) -> None:
    if x.dtype == "bool":
        raise ShapeError(f"{what} a bool tensor", code="dtype", hint=hint)


def _float_of(dtype: str) -> str:
    """The dtype of a floating-point function of a tensor: integers and bools give float32."""
    return dtype if dtype in FLOAT_DTYPES else "float32"


@register
class div(_Broadcast):
    """Elementwise true division ``a / b`` (with broadcasting); integers give float32, as in torch."""

    n_inputs = (2, 2)
    op = "/"

    def infer(self, p, ins):
        (out,) = super().infer(p, ins)
        return [TensorType(out.shape, _float_of(out.dtype))]

    samples = (Sample({}, ((2, 3), (3,))), Sample({}, ((2, 1), (2, 4)), "int64"))


def _check_fits(dtype: str, value, arg: str) -> None:
    """torch converts a Python int to the tensor's integer dtype and raises when it overflows."""
    bound = _INT_RANGE.get(dtype)
    if bound is not None and isinstance(value, int) and not -bound <= value < bound:
        raise ShapeError(f"{value} does not fit the {dtype} tensor it is combined with",
                         code="dtype", arg=arg, hint="use a smaller number, or a float")


@register
class scalar_op(Layer):
    """A tensor and a number: ``x * 0.5`` (``op="*", value=0.5``), ``1 - gate`` (``left=true``:
    the number is the left operand).  The dtype follows torch's rule for Python numbers."""

    expression = True

    category = "merge"

    class Params(Params):
        op: Literal["+", "-", "*", "/"]
        value: int | float
        left: bool = False

    positional = ("op", "value")

    def infer(self, p, ins):
        (x,) = ins
        if p.op == "-":
            _no_bool(x, "cannot subtract with", "declare the input as a number type (input m: float[...])")
        dtype = scalar_result(x.dtype, p.value)
        if p.op == "/":
            dtype = _float_of(dtype)
        _check_fits(dtype, p.value, "value")
        return [TensorType(x.shape, dtype)]

    def precedence_of(self, p) -> int:
        return OPERATORS[p.op][0]

    def operand_is_right(self, p, i: int) -> bool:
        return p.left

    def forward(self, p, call, args):
        v = pyfmt.literal(p.value)
        return f"{v} {p.op} {args[0]}" if p.left else f"{args[0]} {p.op} {v}"

    def label(self, p, ins):
        v = pyfmt.literal(p.value)
        return f"{v} {p.op} ·" if p.left else f"· {p.op} {v}"

    samples = (
        Sample({"op": "*", "value": 0.5}, ((2, 3),)),
        Sample({"op": "-", "value": 1, "left": True}, ((2, 3),)),
        Sample({"op": "/", "value": 2}, ((4,),), "int64"),
        Sample({"op": "+", "value": 1.5, "left": True}, ((2, 1),), "int64"),
        Sample({"op": "*", "value": 3}, ((3,),), "int64"),
    )


@register
class neg(Layer):
    """Negation ``-x``; bool tensors are an error, as in torch."""

    expression = True

    category = "merge"

    def precedence_of(self, p) -> int:
        return UNARY_PRECEDENCE

    def infer(self, p, ins):
        _no_bool(ins[0], "cannot negate", "declare the input as a number type (input m: float[...])")
        return [TensorType(ins[0].shape, ins[0].dtype)]

    def operand_is_right(self, p, i: int) -> bool:
        return True

    def forward(self, p, call, args):
        return f"-{args[0]}"

    def label(self, p, ins):
        return "−"

    samples = (Sample({}, ((2, 3),)), Sample({}, ((3,),), "int64"))


class _Unary(Layer):
    """``torch.<kind>(x)``, shape kept; ``floating``: integers and bools give float32."""

    expression = True

    category = "activation"
    floating: ClassVar[bool] = True

    def infer(self, p, ins):
        (x,) = ins
        if not self.floating:
            _no_bool(x, f"{self.kind} is not defined for", "declare the input as a number type (input m: float[...])")
        return [TensorType(x.shape, _float_of(x.dtype) if self.floating else x.dtype)]

    def forward(self, p, call, args):
        return f"torch.{self.kind}({args[0]})"

    samples = (Sample({}, ((2, 3),)), Sample({}, ((4,),), "int64"))


def _unary(name: str, doc: str, floating: bool = True) -> type[Layer]:
    cls = type(name, (_Unary,), {"__doc__": doc, "floating": floating, "__module__": __name__})
    return register(cls)


for _name, _doc in (("exp", "e to the power of each element"), ("log", "natural logarithm"),
                    ("sqrt", "square root"), ("rsqrt", "1 / square root"),
                    ("sigmoid", "the logistic function 1 / (1 + exp(-x))"), ("tanh", "hyperbolic tangent")):
    _unary(_name, f"``torch.{_name}``: {_doc}, elementwise; integers give float32.")
for _name, _doc in (("abs", "absolute value"), ("relu", "max(x, 0)")):
    _unary(_name, f"``torch.{_name}``: {_doc}, elementwise; the dtype is kept.", floating=False)


@register
class clamp(Layer):
    """``torch.clamp(x, min=, max=)``: each element limited to [min, max] (either may be left out)."""

    expression = True

    category = "activation"

    class Params(Params):
        min: int | float | None = None
        max: int | float | None = None

    def infer(self, p, ins):
        (x,) = ins
        if p.min is None and p.max is None:
            raise ShapeError("needs min= or max=", code="invalid-argument",
                             hint="e.g. clamp(x, min=0.0) or clamp(x, min=-1, max=1)")
        dtype = x.dtype
        for v in (p.min, p.max):
            if v is not None:
                dtype = scalar_result(dtype, v)
        for key, v in (("min", p.min), ("max", p.max)):
            _check_fits(dtype, v, key)
        return [TensorType(x.shape, dtype)]

    def forward(self, p, call, args):
        bounds = "".join(f", {k}={pyfmt.literal(v)}" for k, v in (("min", p.min), ("max", p.max))
                         if v is not None)
        return f"torch.clamp({args[0]}{bounds})"

    def label(self, p, ins):
        return f"[{'' if p.min is None else p.min}, {'' if p.max is None else p.max}]"

    samples = (Sample({"min": 0.25}, ((2, 3),)), Sample({"min": -1, "max": 1}, ((4,),), "int64"),
               Sample({"max": 0.5}, ((3,),), "int64"))


@register
class softmax(Layer):
    """``torch.softmax(x, dim)``: exponentials normalised to sum 1 along ``dim``; a float input."""

    expression = True

    category = "activation"
    positional = ("dim",)

    class Params(Params):
        dim: int

    def infer(self, p, ins):
        (x,) = ins
        if x.dtype not in FLOAT_DTYPES:
            raise ShapeError(f"needs a floating-point tensor, got {x.dtype}", code="dtype",
                             hint="convert it first, e.g. x * 1.0")
        if normalize_dim(p.dim, max(len(x.shape), 1)) is None:  # a 0-d tensor takes dim 0 or -1
            raise ShapeError(f"dim={p.dim} is out of range for a {len(x.shape)}-d tensor",
                             arg="dim", code="shape-rank")
        return [TensorType(x.shape, x.dtype)]

    def forward(self, p, call, args):
        return f"torch.softmax({args[0]}, dim={p.dim})"

    def label(self, p, ins):
        return f"dim={p.dim}"

    samples = (Sample({"dim": 1}, ((2, 3),)), Sample({"dim": -1}, ((2, 3, 4),)))


class _Like(Layer):
    """A random tensor of the shape and floating dtype of its input."""

    expression = True

    category = "other"

    def infer(self, p, ins):
        (x,) = ins
        if x.dtype not in FLOAT_DTYPES:
            raise ShapeError(f"makes floating-point numbers; the tensor it copies is {x.dtype}",
                             code="dtype", hint="give it a float tensor of the shape wanted")
        return [TensorType(x.shape, x.dtype)]

    def forward(self, p, call, args):
        return f"torch.{self.kind}({args[0]})"

    samples = (Sample({}, ((2, 3),)),)


@register
class randn_like(_Like):
    """``torch.randn_like(x)``: standard normal noise shaped like ``x`` (new each forward)."""


@register
class rand_like(_Like):
    """``torch.rand_like(x)``: uniform noise in [0, 1) shaped like ``x`` (new each forward)."""
