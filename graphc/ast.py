"""The surface language as frozen dataclasses; every node carries its Span."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from graphc.source import Span


# ---------------------------------------------------------------- expressions
@dataclass(frozen=True, slots=True)
class Num:
    value: int | float
    span: Span


@dataclass(frozen=True, slots=True)
class Str:
    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Const:
    """``true``, ``false`` or ``none``."""

    value: bool | None
    span: Span


@dataclass(frozen=True, slots=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str  # one of + - * / // %
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class TupleLit:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[Expr, ...]
    span: Span


Expr = Union[Num, Str, Const, Name, BinOp, Neg, TupleLit, ListLit, "Call"]


# ---------------------------------------------------------------- statements
@dataclass(frozen=True, slots=True)
class Arg:
    name: str | None  # None for a positional argument
    value: Expr
    span: Span
    name_span: Span | None = None


@dataclass(frozen=True, slots=True)
class Call:
    kind: str
    kind_span: Span
    args: tuple[Arg, ...]
    span: Span
    bare: bool = False  # written without parentheses: ``-> ReLU``


@dataclass(frozen=True, slots=True)
class Group:
    """``(A -> B -> C)``: calls in sequence, emitted as one nn.Sequential."""

    calls: tuple[Call, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Step:
    label: Name | None
    call: Call | Group
    repeat: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class Chain:
    source: Name | Call
    steps: tuple[Step, ...]
    span: Span
    source_label: Name | None = None  # d4 = up1: Up(bottom, e4, 256)


@dataclass(frozen=True, slots=True)
class Assign:
    targets: tuple[Name, ...]
    chain: Chain
    span: Span


@dataclass(frozen=True, slots=True)
class InputDecl:
    name: Name
    dtype: str | None
    dims: tuple[Expr, ...] | None  # None: shape given by the caller (blocks)
    span: Span


@dataclass(frozen=True, slots=True)
class OutputDecl:
    names: tuple[Name, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ConstDef:
    name: Name
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Setting:
    name: Name
    value: Call | Expr
    span: Span


@dataclass(frozen=True, slots=True)
class TrainBlock:
    settings: tuple[Setting, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class InitBlock:
    settings: tuple[Setting, ...]
    span: Span


Stmt = ConstDef | InputDecl | OutputDecl | Assign | TrainBlock | InitBlock


@dataclass(frozen=True, slots=True)
class Param:
    name: Name
    default: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class ModelDef:
    name: Name
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class BlockDef:
    name: Name
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class File:
    path: str
    items: tuple[ConstDef | ModelDef | BlockDef, ...]
    span: Span
