"""Expressions written in a ``.model`` file as Python in a generated class (graphc.emit.values'
rule 1): whether one uses a block parameter or a top-level constant, directly or through
block constants, and its text with those replaced (:class:`WrittenExpressions`, a part of
graphc.emit.values.Constructors)."""

from __future__ import annotations

from graphc import ast as A
from graphc import pyfmt
from graphc.emit.plan import ClassPlan
from graphc.emit.provenance import value_expr
from graphc.expr import names as expr_names
from graphc.expr import walk as expr_walk
from graphc.graph import Scope

#: A written expression is inlined with its block constants replaced by their expressions
#: unless that makes it longer than this, or nests more constants than INLINE_MAX_DEPTH;
#: then the value itself is passed (a literal, or a constructor argument of the class), so
#: constants that each use the one before twice cannot make the code exponentially long.
INLINE_MAX_CHARS = 200
INLINE_MAX_DEPTH = 16


class TooLong(Exception):
    """An expression past INLINE_MAX_CHARS or INLINE_MAX_DEPTH."""


class WrittenExpressions:
    """What Constructors does with written expressions. It uses the Constructors' ``prog``,
    ``_free`` (the memo of _const_free), ``param()`` and ``const_ref()``."""

    def uses_free(self, e: A.Expr, plan: ClassPlan, scope: Scope, params_only: bool = False) -> bool:
        """Whether ``e`` uses a block parameter or a top-level constant (``params_only``: a
        block parameter), directly or through block constants."""
        for n in names_in(e):
            c = visible_const(scope, n, e.span)
            if n in plan.block_param_names or (c is None and not params_only and n in self.prog.consts):
                return True
            if c is not None and self._const_free(c, plan, scope, params_only):
                return True
        return False

    def _const_free(self, const, plan: ClassPlan, scope: Scope, params_only: bool) -> bool:
        """uses_free() for a block constant, iterative and memoized: a chain of constants may
        be thousands long, and each may use the one before several times."""
        memo, todo = self._free, [const]
        while todo:
            c = todo[-1]
            if (id(c), params_only) in memo:
                todo.pop()
                continue
            names = names_in(c.expr)
            deps = [d for n in names if (d := visible_const(scope, n, c.span)) is not None]
            direct = bool(names & plan.block_param_names) or (not params_only and any(
                n in self.prog.consts and visible_const(scope, n, c.span) is None for n in names))
            pending = [d for d in deps if (id(d), params_only) not in memo]
            if pending and not direct:
                todo += pending  # defined above c: no cycles
                continue
            memo[id(c), params_only] = direct or any(memo[id(d), params_only] for d in deps)
            todo.pop()
        return memo[id(const), params_only]

    def render(self, e: A.Expr, plan: ClassPlan, scope: Scope) -> str:
        """``e`` as Python: block parameters by their names, top-level constants by theirs,
        block constants that use either replaced by their expressions, others by their values."""
        budget = [INLINE_MAX_CHARS]

        def subst(x: A.Expr, at, depth: int) -> A.Expr:
            budget[0] -= 1
            if budget[0] < 0 or depth > INLINE_MAX_DEPTH:
                raise TooLong()
            t = type(x)
            if t is A.Name:
                if x.id in plan.block_param_names:
                    return A.Name(self.param(plan, x.id), x.span)
                c = visible_const(scope, x.id, at)
                if c is not None:
                    if self._const_free(c, plan, scope, False):
                        return subst(c.expr, c.span, depth + 1)
                    return value_expr(c.value, x.span)
                return A.Name(self.const_ref(x.id), x.span)
            if t is A.BinOp:
                return A.BinOp(x.op, subst(x.left, at, depth), subst(x.right, at, depth), x.span)
            if t is A.Neg:
                return A.Neg(subst(x.operand, at, depth), x.span)
            if t is A.TupleLit or t is A.ListLit:
                return t(tuple(subst(i, at, depth) for i in x.items), x.span)
            return x

        text = pyfmt.expr(subst(e, e.span, 0), lambda n: n)
        if len(text) > INLINE_MAX_CHARS:
            raise TooLong()
        return text


def printable(e) -> bool:
    """Whether pyfmt.expr can write ``e`` as Python: arithmetic of names and numbers, not a call
    of a constant math function (``sqrt(d)``), whose value is written instead."""
    return not any(isinstance(x, A.Call) for x in expr_walk(e, calls=True))


def names_in(e) -> set[str]:
    return set(expr_names(e))


def visible_const(scope: Scope, name: str, at):
    """Block constant ``name`` of ``scope`` where it is defined before span ``at``, else None
    (the name is then a top-level constant: in ``const a = a + 1`` the right ``a``, and any
    use above a block constant that shadows a top-level one)."""
    c = scope.consts.get(name)
    if c is None or getattr(c, "expr", None) is None or (c.span.line, c.span.col) >= (at.line, at.col):
        return None
    return c
