"""Constant evaluation: the value of an expression, within the file's budget of steps.

The evaluator is a graphc.expr.Visitor: ``visit(e, env)`` dispatches on the kind of ``e``.
Its errors are raised as _EvalError and reported once, by :meth:`Evaluator.eval`.
"""

from __future__ import annotations

import math
import operator
from typing import Any

from graphc import ast as A
from graphc import expr
from graphc.binder import _ERR, _fmt
from graphc.lower.env import _Const, _Env, _Value
from graphc.source import Span
from graphc.syntax import MAX_INT, MAX_NESTING

#: Constant-expression evaluation per file, in steps: one per operator, literal and name of an
#: expression evaluated, plus one per item of a tuple it gives (nested items counted).  A block's
#: constants and arguments are evaluated again for every use with other argument values (uses
#: with the same values share one evaluation, see Evaluator.eval), so a 4,096-term constant in a
#: block used 190,000 times with different arguments would cost 1.6 billion steps.
MAX_EVAL_STEPS = 5_000_000
_MEMO_MIN = 16    # expressions of this many nodes or more are memoized (smaller ones cost less)
_KEY_ITEMS = 64   # a name whose tuple value has more items makes an expression's result uncached


class _EvalError(Exception):
    def __init__(self, span: Span, code: str, message: str, hint: str | None = None):
        self.span, self.code, self.message, self.hint = span, code, message, hint


class _Silent(_EvalError):
    """An expression over a name whose definition already failed: no second report."""

    def __init__(self):
        pass


class Evaluator(expr.Visitor):
    """Constant evaluation (a mixin of graphc.lower.Lowerer)."""

    def eval(self, e: A.Expr, env: _Env) -> Any:
        """Evaluate a constant expression; on error record it and return _ERR.

        Every evaluation is charged to the file's MAX_EVAL_STEPS: the expression's size, plus the
        items of a tuple it gives.  A large expression (_MEMO_MIN nodes or more) whose names all
        hold constants is evaluated once per tuple of their values: a block used 190,000 times
        with the same arguments evaluates its constants once, and pays a step per use.
        """
        if self.eval_steps > MAX_EVAL_STEPS:  # spent and reported: every further value is unknown
            return _ERR
        try:
            if e.__class__ in expr.LEAVES:  # a literal or a name, most arguments: one step
                self._charge(1, e)
                r = self.visit(e, env)
            else:
                info = self._expr_info.get(id(e))
                if info is None:
                    info = self._expr_info[id(e)] = (e, *_size_and_names(e))
                if info[2] is None:
                    self._charge(info[1], e)
                    r = self.visit(e, env)
                else:
                    r = self._eval_memo(e, env, info[1], info[2])
            if r.__class__ is tuple:
                self._charge(self._tuple_info(r)[1], e)
            return r
        except _Silent:
            return _ERR
        except _EvalError as err:
            self.error(err.span, err.code, err.message, err.hint)
            return _ERR

    def _charge(self, steps: int, e: A.Expr) -> None:
        self.eval_steps += steps
        if self.eval_steps > MAX_EVAL_STEPS:
            raise _EvalError(e.span, "limit", f"evaluating the constant expressions of this file takes "
                             f"more than {MAX_EVAL_STEPS:,} steps (a block's constants and arguments count "
                             "again for each use with other arguments, a tuple once per item)",
                             "compute large values once, in top-level constants, and keep tuples "
                             "small: a block evaluates its constants again for each use with other "
                             "arguments")

    def _eval_memo(self, e: A.Expr, env: _Env, size: int, names: tuple[str, ...]) -> Any:
        """visit, remembered per tuple of the values of ``e``'s names (their types included:
        1, 1.0 and true differ).  Errors are remembered too; reporting one again is a no-op."""
        key: list = [id(e)]
        cost = len(names) + 1  # a step per name, and per item of a tuple in the key
        for name in names:
            b = env.lookup(name)
            k = _value_key(b.value, self._tuple_info) if isinstance(b, _Const) else None
            if k is None:  # a tensor, an undefined name or a large tuple: evaluate as it is
                self._charge(size, e)
                return self.visit(e, env)
            if b.value.__class__ is tuple:
                cost += self._tuple_info(b.value)[1]
            key.append(k)
        key_t = tuple(key)
        hit = self._memo.get(key_t)
        if hit is not None:
            self._charge(cost, e)
            if hit[0]:
                return hit[1]
            raise hit[1].with_traceback(None)  # not the frames of every earlier raise
        self._charge(size + cost, e)
        try:
            r = self.visit(e, env)
        except _EvalError as err:  # _Silent included
            self._memo[key_t] = (False, err)
            raise
        self._memo[key_t] = (True, r)
        return r

    def _tuple_info(self, v: tuple) -> tuple:
        """(v, items nested included, nesting depth) of a tuple value, remembered by identity
        (the entry keeps ``v`` alive, so its id is not reused).  Values the evaluator built are
        entered as they are built; others (a value from another Lowerer) are measured here."""
        info = self._tuples.get(id(v))
        if info is None:
            info = self._tuples[id(v)] = (v, *self._measure(v))
        return info

    def _measure(self, v: tuple) -> tuple[int, int]:
        """(items, nested ones included; nesting depth) of a tuple value."""
        items, depth = len(v), 1
        for x in v:
            if type(x) is tuple:
                _, n, d = self._tuple_info(x)
                items += n
                depth = max(depth, d + 1)
        return items, depth

    # The evaluator: visit(e, env), one method per kind of expression (graphc.expr.Visitor).

    # The evaluator: visit(e, env), one method per kind of expression (graphc.expr.Visitor).
    def visit(self, e: A.Expr, env: _Env) -> Any:
        """Visitor.visit without its ``*args``: a third faster, and it runs once per node of
        every constant expression evaluated."""
        return self._table[e.__class__](self, e, env)

    def visit_BinOp(self, e: A.BinOp, env: _Env):
        a, b = self.visit(e.left, env), self.visit(e.right, env)
        if not (a.__class__ in _NUMBER and b.__class__ in _NUMBER or _is_num(a) and _is_num(b)):
            raise _EvalError(e.span, "invalid-expression",
                             f"'{e.op}' needs two numbers, got {_describe(a)} and {_describe(b)}")
        op = e.op
        if b == 0 and op in ("/", "//", "%"):
            raise _EvalError(e.right.span, "invalid-expression", "division by zero")
        try:
            r = _BINOPS[op](a, b)
        except OverflowError:
            raise _EvalError(e.span, "limit", "number too large") from None
        if r.__class__ is int:
            if (r > MAX_INT or r < -MAX_INT):
                raise _EvalError(e.span, "limit", f"number too large ({len(str(r))} digits)",
                                 "graphc works with sizes below 2**62")
        elif isinstance(r, float) and math.isinf(r):
            raise _EvalError(e.span, "limit", "number too large for a float", "floats go up to about 1.8e308")
        return r

    def visit_Num(self, e, env: _Env):
        return e.value

    visit_Str = visit_Const = visit_Num

    def visit_Name(self, e: A.Name, env: _Env):
        b = env.lookup(e.id)
        if isinstance(b, _Const):
            if b.value is _ERR:
                raise _Silent()
            return b.value
        if isinstance(b, _Value):
            raise _EvalError(e.span, "invalid-expression",
                             f"'{e.id}' is a tensor, not a constant",
                             "a tensor expression is a statement's value (y = x * 0.5); in a call "
                             "tensors go first, e.g. add(a, b) or concat(a, b, dim=1)")
        raise _EvalError(e.span, "undefined-name", f"undefined name '{e.id}'",
                         self._name_hint(e.id, env))

    def visit_Neg(self, e: A.Neg, env: _Env):
        v = self.visit(e.operand, env)
        if not _is_num(v):
            raise _EvalError(e.span, "invalid-expression", f"cannot negate {_describe(v)}")
        return -v

    def visit_TupleLit(self, e, env: _Env):
        v = tuple([self.visit(x, env) for x in e.items])
        items, depth = self._measure(v)
        if depth > MAX_NESTING:  # through constants: (a,) with a = (b,) with b = (c,)...
            raise _EvalError(e.span, "limit", f"a tuple nested more than {MAX_NESTING} levels deep",
                             "each tuple or list inside another, through constants too, nests one level")
        self._tuples[id(v)] = (v, items, depth)
        return v

    visit_ListLit = visit_TupleLit

    def visit_Call(self, e: A.Call, env: _Env):
        fn = CONST_FUNCS.get(e.kind)
        if fn is not None and len(e.args) == 1 and e.args[0].name is None:
            v = self.visit(e.args[0].value, env)
            if not _is_num(v):
                raise _EvalError(e.span, "invalid-expression",
                                 f"{e.kind}(...) of a constant needs a number, got {_describe(v)}")
            try:
                return fn(v)
            except (ValueError, OverflowError):
                raise _EvalError(e.span, "invalid-expression", f"{e.kind}({v}) has no value",
                                 "math on constants follows Python's math module") from None
        if self.reg.get(e.kind) is not None and self.reg.get(e.kind).torch_name is None:
            raise _EvalError(e.span, "invalid-expression",
                             f"'{e.kind}' takes a tensor, and its arguments here are constants",
                             f"give it a tensor: y = {e.kind}(x, ...)"
                             + (f"; on constants: {', '.join(CONST_FUNCS)}" if e.kind in CONST_FUNCS else ""))
        raise _EvalError(e.span, "invalid-expression", f"a call ('{e.kind}(...)') is not a value here",
                         "calls are layers in a chain, or initializers in weight_init=, bias_init= "
                         "and the init section")


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _describe(v) -> str:
    if _is_num(v):
        return str(v)
    if isinstance(v, bool):
        return f"the boolean {str(v).lower()}"
    if v is None:
        return "none"
    if isinstance(v, str):
        return f"the string {_fmt(v)}"
    if isinstance(v, tuple):
        return f"the tuple {_fmt(v)}"
    return f"{type(v).__name__} {v}"


_NUMBER = frozenset({int, float})
#: The functions a constant expression may call, on one number: ``x / sqrt(d)``.
CONST_FUNCS = {"sqrt": math.sqrt, "exp": math.exp, "log": math.log, "abs": abs, "tanh": math.tanh}
_BINOPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
           "//": operator.floordiv, "%": operator.mod}


def _size_and_names(e: A.Expr) -> tuple[int, tuple[str, ...] | None]:
    """The number of nodes of an expression, and, when it is large enough to memoize
    (_MEMO_MIN), the names it reads, in order."""
    n = expr.size(e)
    return n, (expr.names(e) if n >= _MEMO_MIN else None)


def _value_key(v, tuple_info) -> Any:
    """A dict key that tells apart values Python calls equal (1, 1.0 and true; 0.0 and -0.0),
    or None for a value not worth a key (a tuple of more than _KEY_ITEMS items)."""
    c = v.__class__
    if c is tuple:
        if tuple_info(v)[1] > _KEY_ITEMS:
            return None
        keys = tuple(_value_key(x, tuple_info) for x in v)
        return None if None in keys else (tuple, keys)
    if c is float:
        return (float, v, math.copysign(1.0, v))
    if c is int or c is bool or c is str or v is None:
        return (c, v)
    if v is _ERR:
        return v
    return None
