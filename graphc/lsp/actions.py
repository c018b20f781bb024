"""Quick fixes from the hints graphc's diagnostics already give.

- "did you mean 'X'?" (an unknown layer, argument, name, component...): replace the word;
- "add padding=N" (a window larger than its input): set ``padding=N`` on that call;
- "reshape or flatten the input first" (a layer given more dimensions than it takes): put a
  ``Flatten`` step before it.

Pure Python over graphc's diagnostics and the parsed tree; positions are graphc's (1-based
lines and columns).  The server turns each :class:`Fix` into a WorkspaceEdit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from graphc import ast as A
from graphc.lsp import navigate
from graphc.source import Span

DID_YOU_MEAN = re.compile(r"did you mean '([A-Za-z_][A-Za-z0-9_]*)'\?")
PADDING = re.compile(r"\badd (padding=\d+)\b")
RANK = re.compile(r"expects an? ([\d\-d or]+) input.*, got (\d+)-d")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass
class Edit:
    span: Span          # replaced (an empty span inserts at its start)
    text: str


@dataclass
class Fix:
    title: str
    edits: list[Edit]
    diagnostic: object  # the graphc Diagnostic it fixes
    preferred: bool = True


def _text(lines, span: Span) -> str:
    if span.line != span.end_line:
        return ""
    return lines.line(span.line)[span.col - 1:span.end_col - 1]


def fixes(diagnostics, tree: A.File | None, lines, path: str) -> list[Fix]:
    """The fixes of the diagnostics of file ``path`` (``lines``: its text, a positions.Lines)."""
    out: list[Fix] = []
    for d in diagnostics:
        if d.span.path != path or not d.hint:
            continue
        m = DID_YOU_MEAN.search(d.hint)
        if m is not None:
            word = _text(lines, d.span)
            if IDENT.match(word) and word != m.group(1):
                out.append(Fix(f"Change '{word}' to '{m.group(1)}'", [Edit(d.span, m.group(1))], d))
            continue
        m = PADDING.search(d.hint)
        if m is not None and tree is not None:
            call = _call_at(tree, d.span)
            if call is not None:
                out.append(Fix(f"Add {m.group(1)} to {call.kind}", [_set_argument(call, m.group(1), lines)], d))
            continue
        if d.code == "shape-rank" and "flatten" in d.hint and tree is not None:
            m = RANK.search(d.message)
            wanted = [int(x) for x in re.findall(r"(\d+)-d", m.group(1))] if m else []
            if m and wanted and int(m.group(2)) > max(wanted):
                step = _step_at(tree, d.span)
                if step is not None:
                    where = Span(path, step.span.line, step.span.col, step.span.line, step.span.col)
                    out.append(Fix("Add a Flatten step before it", [Edit(where, "Flatten -> ")], d))
    return out


def _call_at(tree: A.File, span: Span) -> A.Call | None:
    """The call whose span (or whose kind's span) is ``span``."""
    for n in navigate.walk(tree):
        if isinstance(n, A.Call) and (_same(n.span, span) or _same(n.kind_span, span)):
            return n
    return None


def _step_at(tree: A.File, span: Span) -> A.Step | None:
    """The step of a chain whose call is at ``span`` (the first step: a chain's source cannot
    take a Flatten before it)."""
    for n in navigate.walk(tree):
        if isinstance(n, A.Step) and isinstance(n.call, A.Call) and (
                _same(n.call.span, span) or _same(n.call.kind_span, span) or _same(n.span, span)):
            return n
    return None


def _same(a: Span | None, b: Span) -> bool:
    return a is not None and (a.line, a.col, a.end_line, a.end_col) == (b.line, b.col, b.end_line, b.end_col)


def _set_argument(call: A.Call, assignment: str, lines) -> Edit:
    """``name=value`` set on a call: the value replaced when the argument is given by name, else
    added after the last argument (or the kind of a call written without parentheses)."""
    name, value = assignment.split("=", 1)
    for a in call.args:
        if a.name == name:
            return Edit(a.value.span, value)
    sp = call.span
    if call.bare:
        end = call.kind_span
        return Edit(Span(sp.path, end.end_line, end.end_col, end.end_line, end.end_col), f"({assignment})")
    # before the closing parenthesis (the call's span ends just after it)
    close = Span(sp.path, sp.end_line, sp.end_col - 1, sp.end_line, sp.end_col - 1)
    before = lines.line(sp.end_line)[:sp.end_col - 2].rstrip() if sp.end_line else ""
    sep = "" if not call.args else ("" if before.endswith(",") else ", ")
    if call.args and before.endswith(","):
        sep = " "
    return Edit(close, sep + assignment)
