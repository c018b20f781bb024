"""Canonical Python literals and expressions for generated code.

Every piece of user text that reaches generated source passes through here, so
nothing a ``.model`` file says can become code:

- a value becomes a Python literal through :func:`literal` (strings by ``repr``,
  numbers in canonical form);
- text shown to people (a file name or a data path in a docstring, a comment,
  an argparse description) goes through :func:`text`, which escapes every
  backslash, double quote and non-printable character, so no quote run,
  escape sequence or line break can end the docstring or string it stands in;
- a name becomes an identifier only through ``names.legal()``.
"""

from __future__ import annotations

import math
import re

from graphc import ast as A
from graphc.expr import Printer


def literal(v) -> str:
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        return repr(v)
    if isinstance(v, float):
        if math.isnan(v):
            return 'float("nan")'
        if math.isinf(v):
            return 'float("inf")' if v > 0 else '-float("inf")'
        return repr(v)
    if isinstance(v, str):
        return repr(v)
    from graphc.layers.base import Ctor

    if isinstance(v, Ctor):
        return call(v.func, [], [(k, literal(x)) for k, x in v.kwargs.items()])
    if isinstance(v, (tuple, list)):
        inner = ", ".join(literal(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    raise TypeError(f"no literal form for {type(v).__name__}")


def _escape(c: str) -> str:
    o = ord(c)
    if c == "\\" or c == '"':
        return "\\" + c
    if o < 0x100:
        return f"\\x{o:02x}"
    return f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"


def text(s: str) -> str:
    """``s`` as the body of a docstring or of a double-quoted string literal in
    generated code, such that the literal's value is exactly ``s`` and nothing can end
    it early: a backslash and a double quote are escaped, and so is every character that
    is not printable (newlines, NUL, other control characters, line and paragraph
    separators, lone surrogates), as ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``.  Printable
    text, ``×`` and ``é`` included, is left as it is."""
    s = str(s)
    if s.isprintable() and '"' not in s and "\\" not in s:
        return s
    return "".join(_escape(c) if c in '"\\' or not c.isprintable() else c for c in s)


def comment(s: str) -> str:
    """``s`` as the text of a ``#`` comment in generated code: every character that is not
    printable (a newline of any kind, NUL, other control characters, line and paragraph
    separators, lone surrogates) escaped as :func:`text` escapes it, so the comment ends
    where the line does; printable text, quotes and backslashes included, stays as written."""
    s = str(s)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else _escape(c) for c in s)


def call(func: str, args: list[str], kwargs: list[tuple[str, str]]) -> str:
    parts = list(args) + [f"{k}={v}" for k, v in kwargs]
    return f"{func}({', '.join(parts)})"


class _Python(Printer):
    """Python source for a constant expression: values as :func:`literal` writes them, a list
    as a tuple (graphc's values are tuples), names as ``name_src(name)`` renders them."""

    def __init__(self, name_src):
        self.name_src = name_src

    def visit_Num(self, e) -> str:
        return literal(e.value)

    visit_Str = visit_Const = visit_Num

    def visit_Name(self, e) -> str:
        return self.name_src(e.id)

    visit_ListLit = Printer.visit_TupleLit


def expr(e: A.Expr, name_src) -> str:
    """Python source for a constant expression; ``name_src(name)`` renders names."""
    return _Python(name_src).visit(e)


def _code_chars(text: str):
    """(index, character, bracket depth around it) for each character of Python source
    ``text`` outside string literals; an opening bracket has the depth outside it."""
    depth, quote, i = 0, None, 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        else:
            if c in ")]}":
                depth -= 1
            yield i, c, depth
            if c in "([{":
                depth += 1
        i += 1


def _split_top(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside brackets and string literals."""
    parts, start = [], 0
    for i, c, depth in _code_chars(text):
        if c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _close(text: str, at: int) -> int:
    """The index of the bracket that closes the one at ``at``, an opening bracket outside
    all others (string literals skipped); -1 when it is not closed."""
    return next((i for i, c, depth in _code_chars(text) if i > at and depth == 0 and c in ")]}"), -1)


_CALLEE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def wrap(head: str, text: str, indent: str, width: int = 100) -> list[str]:
    """``head + text`` as lines of at most ``width`` where it can: a call too long for one
    line gets one argument per line (recursively), black-style."""
    if len(indent + head + text) <= width or not text.endswith(")") or "(" not in text:
        return [indent + head + text]
    open_at = text.index("(")
    func, inner = text[:open_at], text[open_at + 1:-1]
    if not _CALLEE.fullmatch(func) or _close(text, open_at) != len(text) - 1 or not inner:
        return [indent + head + text]  # not a single call: (a + b), 2 * (a + b), (x,), f(a) + g(b)
    lines = [indent + head + func + "("]
    for arg in _split_top(inner, ","):
        key, eq, value = arg.partition("=")
        if eq and key.isidentifier():
            sub = wrap(key + "=", value, indent + "    ", width)
        else:
            sub = wrap("", arg, indent + "    ", width)
        sub[-1] += ","
        lines += sub
    lines.append(indent + ")")
    return lines
