"""The surface language as frozen records; every node carries its Span.

The node classes are written out (``__slots__``, ``__init__``) on a small base that gives
them value equality, hashing, a dataclass-style repr and immutability.  They were frozen
dataclasses; making 24 of them cost about 15 ms of every cold ``graphc check``, a tenth of it.
``_fields`` lists a node's fields in order, as in Python's own ``ast`` module.
"""

from __future__ import annotations

from typing import ClassVar, Union

from graphc.source import Span

_set = object.__setattr__


class Node:
    """Base of every AST node: immutable, compared and hashed by its fields' values."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, f) for f in self._fields)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self):
        return hash(self._values())

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}({', '.join(f'{f}={getattr(self, f)!r}' for f in self._fields)})"

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field '{name}': {type(self).__name__} is frozen")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field '{name}': {type(self).__name__} is frozen")

    def __reduce__(self):
        return type(self), self._values()


# ---------------------------------------------------------------- expressions
class Num(Node):
    __slots__ = _fields = ("value", "span")

    def __init__(self, value: int | float, span: Span):
        _set(self, "value", value)
        _set(self, "span", span)


class Str(Node):
    __slots__ = _fields = ("value", "span")

    def __init__(self, value: str, span: Span):
        _set(self, "value", value)
        _set(self, "span", span)


class Const(Node):
    """``true``, ``false`` or ``none``."""

    __slots__ = _fields = ("value", "span")

    def __init__(self, value: bool | None, span: Span):
        _set(self, "value", value)
        _set(self, "span", span)


class Name(Node):
    __slots__ = _fields = ("id", "span")

    def __init__(self, id: str, span: Span):
        _set(self, "id", id)
        _set(self, "span", span)


class BinOp(Node):
    __slots__ = _fields = ("op", "left", "right", "span")
    # op: one of + - * / // %

    def __init__(self, op: str, left: Expr, right: Expr, span: Span):
        _set(self, "op", op)
        _set(self, "left", left)
        _set(self, "right", right)
        _set(self, "span", span)


class Neg(Node):
    __slots__ = _fields = ("operand", "span")

    def __init__(self, operand: Expr, span: Span):
        _set(self, "operand", operand)
        _set(self, "span", span)


class TupleLit(Node):
    __slots__ = _fields = ("items", "span")

    def __init__(self, items: tuple[Expr, ...], span: Span):
        _set(self, "items", items)
        _set(self, "span", span)


class ListLit(Node):
    __slots__ = _fields = ("items", "span")

    def __init__(self, items: tuple[Expr, ...], span: Span):
        _set(self, "items", items)
        _set(self, "span", span)


Expr = Union[Num, Str, Const, Name, BinOp, Neg, TupleLit, ListLit, "Call"]


# ---------------------------------------------------------------- statements
class Arg(Node):
    __slots__ = _fields = ("name", "value", "span", "name_span")
    # name: None for a positional argument

    def __init__(self, name: str | None, value: Expr, span: Span, name_span: Span | None = None):
        _set(self, "name", name)
        _set(self, "value", value)
        _set(self, "span", span)
        _set(self, "name_span", name_span)


class Call(Node):
    __slots__ = _fields = ("kind", "kind_span", "args", "span", "bare")
    # bare: written without parentheses: ``-> ReLU``

    def __init__(self, kind: str, kind_span: Span, args: tuple[Arg, ...], span: Span, bare: bool = False):
        _set(self, "kind", kind)
        _set(self, "kind_span", kind_span)
        _set(self, "args", args)
        _set(self, "span", span)
        _set(self, "bare", bare)


class Group(Node):
    """``(A -> B -> C)``: calls in sequence, emitted as one nn.Sequential.  A member is a Call, or
    a Step when it is labelled (``conv0: Conv2d(...)``), repeated or a group itself."""

    __slots__ = _fields = ("calls", "span")

    def __init__(self, calls: tuple[Call | Step, ...], span: Span):
        _set(self, "calls", calls)
        _set(self, "span", span)


class Step(Node):
    __slots__ = _fields = ("label", "call", "repeat", "span")

    def __init__(self, label: Name | None, call: Call | Group, repeat: Expr | None, span: Span):
        _set(self, "label", label)
        _set(self, "call", call)
        _set(self, "repeat", repeat)
        _set(self, "span", span)


class Chain(Node):
    __slots__ = _fields = ("source", "steps", "span", "source_label")
    # source_label: d4 = up1: Up(bottom, e4, 256)

    def __init__(self, source: Name | Call,
                 steps: tuple[Step, ...],
                 span: Span,
                 source_label: Name | None = None):
        _set(self, "source", source)
        _set(self, "steps", steps)
        _set(self, "span", span)
        _set(self, "source_label", source_label)


class Assign(Node):
    __slots__ = _fields = ("targets", "chain", "span")

    def __init__(self, targets: tuple[Name, ...], chain: Chain, span: Span):
        _set(self, "targets", targets)
        _set(self, "chain", chain)
        _set(self, "span", span)


class InputDecl(Node):
    __slots__ = _fields = ("name", "dtype", "dims", "span")
    # dims: None: shape given by the caller (blocks)

    def __init__(self, name: Name, dtype: str | None, dims: tuple[Expr, ...] | None, span: Span):
        _set(self, "name", name)
        _set(self, "dtype", dtype)
        _set(self, "dims", dims)
        _set(self, "span", span)


class OutputDecl(Node):
    __slots__ = _fields = ("names", "span")

    def __init__(self, names: tuple[Name, ...], span: Span):
        _set(self, "names", names)
        _set(self, "span", span)


class ConstDef(Node):
    __slots__ = _fields = ("name", "value", "span")

    def __init__(self, name: Name, value: Expr, span: Span):
        _set(self, "name", name)
        _set(self, "value", value)
        _set(self, "span", span)


class Setting(Node):
    __slots__ = _fields = ("name", "value", "span")

    def __init__(self, name: Name, value: Call | Expr, span: Span):
        _set(self, "name", name)
        _set(self, "value", value)
        _set(self, "span", span)


class TrainBlock(Node):
    __slots__ = _fields = ("settings", "span")

    def __init__(self, settings: tuple[Setting, ...], span: Span):
        _set(self, "settings", settings)
        _set(self, "span", span)


class InitBlock(Node):
    __slots__ = _fields = ("settings", "span")

    def __init__(self, settings: tuple[Setting, ...], span: Span):
        _set(self, "settings", settings)
        _set(self, "span", span)


class Tie(Node):
    """``tie head.weight = tok.weight``: each side a dotted path (labels, then a parameter)."""

    __slots__ = _fields = ("left", "right", "span")

    def __init__(self, left: tuple[Name, ...], right: tuple[Name, ...], span: Span):
        _set(self, "left", left)
        _set(self, "right", right)
        _set(self, "span", span)


class Freeze(Node):
    """``freeze backbone, head.norm``: each a dotted path of labels (a layer, block use, repeat or
    learned tensor) whose parameters do not train."""

    __slots__ = _fields = ("paths", "span")

    def __init__(self, paths: tuple[tuple[Name, ...], ...], span: Span):
        _set(self, "paths", paths)
        _set(self, "span", span)


class ParamDecl(Node):
    """``param pos: [1, N, D] = normal(std=0.02)``: a learned tensor (an ``nn.Parameter``).
    init: the initializer call as written, None when left out (``zeros()``)."""

    __slots__ = _fields = ("name", "dtype", "dims", "init", "span")

    def __init__(self, name: Name, dtype: str | None, dims: tuple[Expr, ...], init: Expr | None, span: Span):
        _set(self, "name", name)
        _set(self, "dtype", dtype)
        _set(self, "dims", dims)
        _set(self, "init", init)
        _set(self, "span", span)


Stmt = ConstDef | InputDecl | OutputDecl | Assign | TrainBlock | InitBlock | Tie | ParamDecl | Freeze


class Param(Node):
    __slots__ = _fields = ("name", "default", "span")

    def __init__(self, name: Name, default: Expr | None, span: Span):
        _set(self, "name", name)
        _set(self, "default", default)
        _set(self, "span", span)


class ModelDef(Node):
    __slots__ = _fields = ("name", "body", "span")

    def __init__(self, name: Name, body: tuple[Stmt, ...], span: Span):
        _set(self, "name", name)
        _set(self, "body", body)
        _set(self, "span", span)


class BlockDef(Node):
    __slots__ = _fields = ("name", "params", "body", "span")

    def __init__(self, name: Name, params: tuple[Param, ...], body: tuple[Stmt, ...], span: Span):
        _set(self, "name", name)
        _set(self, "params", params)
        _set(self, "body", body)
        _set(self, "span", span)


class Comment(Node):
    """A ``#`` comment, as the lexer found it: its text up to the end of its line (trailing
    white space left out), the span of that text, and whether code precedes it on its line."""

    __slots__ = _fields = ("text", "span", "trailing")

    def __init__(self, text: str, span: Span, trailing: bool):
        _set(self, "text", text)
        _set(self, "span", span)
        _set(self, "trailing", trailing)


class Import(Node):
    """``import "blocks.model"``: the path as written (unescaped), relative to the importing file."""

    __slots__ = _fields = ("path", "span", "path_span")

    def __init__(self, path: str, span: Span, path_span: Span):
        _set(self, "path", path)
        _set(self, "span", span)
        _set(self, "path_span", path_span)


class File(Node):
    __slots__ = _fields = ("path", "items", "span", "comments")
    # comments: every comment of the file, in order; the parser drops them, the lexer keeps them

    def __init__(self, path: str, items: tuple[ConstDef | ModelDef | BlockDef, ...], span: Span,
                 comments: tuple[Comment, ...] = ()):
        _set(self, "path", path)
        _set(self, "items", items)
        _set(self, "span", span)
        _set(self, "comments", comments)
