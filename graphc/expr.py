"""Constant expressions: the one place that knows their parts and their operators.

Every pass that reads an expression of the AST (graphc.ast) goes through here instead of a
chain of ``isinstance`` tests of its own:

- :data:`OPERATORS`, the binary operators' precedence and associativity, as
  grammars/model.lark parses them and as Python does;
- :func:`parts` and :func:`walk`, an expression's sub-expressions, and
  :func:`names`, :func:`size` and :func:`names_used` built on them;
- :class:`Visitor`, the dispatch on a node's kind that the evaluator (graphc.lower.evaluate)
  and the printers build on;
- :class:`Printer`, the layout every printer shares (brackets where precedence needs them),
  and :func:`to_model`, an expression as ``.model`` text.  The Python printer,
  ``graphc.pyfmt.expr``, is a Printer too.

A call (``kaiming_normal()``) is an expression of the grammar but has no value: its
arguments are not parts of the expression unless a walk asks for them (``calls=True``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import ClassVar

from graphc import ast as A
from graphc.source import Span

#: Binary operators: (precedence, associativity), a higher precedence binding more tightly.
#: The grammar's ``sum`` and ``product`` rules say the same (tests/test_expr.py checks).
OPERATORS: dict[str, tuple[int, str]] = {
    "+": (1, "left"), "-": (1, "left"),
    "*": (2, "left"), "/": (2, "left"), "//": (2, "left"), "%": (2, "left"),
}
#: How tightly a unary minus binds: above every binary operator, as in Python (``-a * b`` is
#: ``(-a) * b``).  A call or a name binds tightest of all.
UNARY_PRECEDENCE = 3

#: The expression node classes, leaves first.
KINDS = (A.Num, A.Str, A.Const, A.Name, A.BinOp, A.Neg, A.TupleLit, A.ListLit, A.Call)
#: The kinds without parts: literals and names.
LEAVES = frozenset({A.Num, A.Str, A.Const, A.Name})
#: Fields of other nodes that are not read: spans, and the names a statement binds.
_NOT_READ = frozenset({"span", "kind_span", "name_span", "label", "targets", "name"})


def needs_brackets(operand, op: str, right: bool) -> bool:
    """Whether ``operand``, the left or the ``right`` operand of a binary ``op``, must be
    bracketed to keep its meaning: it is an operation that binds less tightly than ``op``,
    or as tightly on the side that ``op``'s associativity does not group."""
    if operand.__class__ is not A.BinOp:
        return False
    inner, (outer, assoc) = OPERATORS[operand.op][0], OPERATORS[op]
    return inner < outer or (inner == outer and right == (assoc == "left"))


# ------------------------------------------------------------------ walking
def parts(node, calls: bool = False) -> tuple:
    """The sub-expressions of an expression, in source order; a call's argument values only
    when ``calls``.  Any other node (a statement, a step) gives the fields it reads: every
    one but its spans and the names it binds (a label, an assignment's targets)."""
    t = node.__class__
    if t is A.BinOp:
        return (node.left, node.right)
    if t is A.Neg:
        return (node.operand,)
    if t is A.TupleLit or t is A.ListLit:
        return node.items
    if t in LEAVES:
        return ()
    if t is A.Call:
        return tuple(a.value for a in node.args) if calls else ()
    return tuple(v for f in node._fields if f not in _NOT_READ
                 and isinstance(v := getattr(node, f), (A.Node, tuple)))


def walk(node, calls: bool = False) -> Iterator[A.Node]:
    """Every node of ``node`` (or of a tuple of nodes), itself first, in source order.
    Iterative: expressions nest up to syntax.MAX_NESTING, statement bodies are long."""
    stack = [node]
    while stack:
        x = stack.pop()
        if x.__class__ is tuple:
            stack += reversed(x)
            continue
        yield x
        stack += reversed(parts(x, calls))


def size(e: A.Expr) -> int:
    """The number of nodes of an expression (a call counts as one)."""
    return sum(1 for _ in walk(e))


def names(e: A.Expr) -> tuple[str, ...]:
    """The names an expression's value depends on, each once, in order of first use."""
    return tuple(dict.fromkeys(x.id for x in walk(e) if x.__class__ is A.Name))


def names_used(node) -> set[str]:
    """Every name a piece of the AST reads (a block's body, a statement, an expression),
    calls' arguments included; the names it defines are not reads."""
    return {x.id for x in walk(node, calls=True) if x.__class__ is A.Name}


# ------------------------------------------------------------------ dispatch
def _unhandled(self, e, *args):
    raise AssertionError(f"{type(self).__name__} has no visit_{type(e).__name__}: {e!r}")


class Visitor:
    """Dispatch on an expression's kind, as Python's ``ast.NodeVisitor`` does:
    ``visit(e, *args)`` calls the subclass's ``visit_<Kind>(e, *args)``, ``Kind`` being the
    node's class (Num, Str, Const, Name, BinOp, Neg, TupleLit, ListLit, Call).  The table is
    made once per subclass; a kind it has no method for is an AssertionError."""

    _table: ClassVar[dict[type, Callable]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._table = {k: getattr(cls, f"visit_{k.__name__}", _unhandled) for k in KINDS}

    def visit(self, e, *args):
        return self._table[e.__class__](self, e, *args)


# ------------------------------------------------------------------ printing
class Printer(Visitor):
    """An expression as text.  The operators, a negation and a tuple look the same in
    ``.model`` text and in Python; a subclass says how the leaves, lists and calls look."""

    def visit_BinOp(self, e: A.BinOp) -> str:
        left, right = self.visit(e.left), self.visit(e.right)
        if needs_brackets(e.left, e.op, False):
            left = f"({left})"
        if needs_brackets(e.right, e.op, True):
            right = f"({right})"
        return f"{left} {e.op} {right}"

    def visit_Neg(self, e: A.Neg) -> str:
        inner = self.visit(e.operand)
        return f"-({inner})" if e.operand.__class__ is A.BinOp else f"-{inner}"

    def visit_TupleLit(self, e) -> str:
        items = [self.visit(x) for x in e.items]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


_CONST_WORDS = {True: "true", False: "false", None: "none"}
_STR_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"})


class ModelText(Printer):
    """``.model`` text.  ``written(span)`` gives a number or a string as the source writes it
    (``1_000``, ``'a'``); without it they are written in a canonical form that reads back as
    the same value."""

    def __init__(self, written: Callable[[Span], str] | None = None):
        self.written = written

    def visit_Num(self, e: A.Num) -> str:
        return self.written(e.span) if self.written else repr(e.value)

    def visit_Str(self, e: A.Str) -> str:
        return self.written(e.span) if self.written else f'"{e.value.translate(_STR_ESCAPES)}"'

    def visit_Const(self, e: A.Const) -> str:
        return _CONST_WORDS[e.value]

    def visit_Name(self, e: A.Name) -> str:
        return e.id

    def visit_ListLit(self, e: A.ListLit) -> str:
        return "[" + ", ".join(self.visit(x) for x in e.items) + "]"

    def visit_Call(self, c: A.Call) -> str:
        if not c.args:
            return c.kind if c.bare else f"{c.kind}()"
        args = [(f"{a.name}={self.visit(a.value)}" if a.name else self.visit(a.value)) for a in c.args]
        return f"{c.kind}({', '.join(args)})"


def to_model(e: A.Expr, written: Callable[[Span], str] | None = None) -> str:
    """``e`` as ``.model`` text (see :class:`ModelText`)."""
    return ModelText(written).visit(e)
