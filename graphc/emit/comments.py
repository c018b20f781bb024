"""Where the comments of a ``.model`` file go in the generated module.

A comment stays a comment, its text made safe by ``pyfmt.comment`` (nothing a file says
can end the line early):

- the comments right before a block or model definition go above its class;
- a paragraph at the top of the file, set apart from the first definition by a blank line,
  goes below the module docstring;
- a comment inside a body goes above the forward line of the first call written after
  it; a comment at the end of a line goes above the forward line of the first call on
  that line (``-> pool: MaxPool2d(2)  # 8×8 -> 4×4``);
- comments after the last call of a body go above its ``return``;
- the comments right above a top-level constant, or at the end of its line, go above its
  module-level constant (``HIDDEN = 128``), when the code uses it.

Comments inside ``train { }`` and ``init { }`` describe the training set-up and the
initialization, which the generated module does not spell out line by line: they are
not carried.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from graphc import ast as A
from graphc import pyfmt


@dataclass
class Placed:
    module: list[str] = field(default_factory=list)                       # below the docstring
    before_def: dict[str, list[str]] = field(default_factory=dict)        # block / model name ->
    at_call: dict[tuple[int, int], list[str]] = field(default_factory=dict)  # a call's (line, col) ->
    before_return: dict[str, list[str]] = field(default_factory=dict)     # block / model name ->
    before_const: dict[str, list[str]] = field(default_factory=dict)      # top-level constant ->



def _text(c: A.Comment) -> str:
    body = c.text[1:] if c.text.startswith("#") else c.text
    return "#" + pyfmt.comment(body) if body.strip() else "#"


def _inside(span, c: A.Comment) -> bool:
    return (span.line, span.col) < (c.span.line, c.span.col) < (span.end_line, span.end_col)


def place(file: A.File | None, anchors) -> Placed:
    """Place ``file``'s comments; ``anchors``: the (line, col) where each call starts that the
    module writes a forward line for (a layer, a block, a group or a repeat)."""
    placed = Placed()
    anchors = sorted(set(anchors))
    if file is None or not file.comments:
        return placed
    defs = [d for d in file.items if isinstance(d, (A.BlockDef, A.ModelDef))]
    sections = [s for d in defs for s in d.body if isinstance(s, (A.TrainBlock, A.InitBlock))]
    todo = [c for c in file.comments if not any(_inside(s.span, c) for s in sections)]
    for d in defs:
        name = d.name.id
        inner = [c for c in todo if _inside(d.span, c)]
        calls = [a for a in anchors if (d.span.line, d.span.col) < a < (d.span.end_line, d.span.end_col)]
        for c in inner:  # calls is sorted: the first call on the line, the first after the comment
            if c.trailing:
                i = bisect.bisect_left(calls, (c.span.line,))
                if i < len(calls) and calls[i][0] == c.span.line and calls[i][1] < c.span.col:
                    placed.at_call.setdefault(calls[i], []).append(_text(c))
                    continue
            i = bisect.bisect_right(calls, (c.span.line, c.span.col))
            if i < len(calls):
                placed.at_call.setdefault(calls[i], []).append(_text(c))
            else:
                placed.before_return.setdefault(name, []).append(_text(c))
    # comments outside every definition: the ones right above a definition (or a top-level
    # constant), and those at the end of a constant's line, are its own
    outside = [c for c in todo if not any(_inside(d.span, c) for d in defs)]
    consts = [d for d in file.items if isinstance(d, A.ConstDef)]
    taken: set[int] = set()
    by_line = {c.span.line: c for c in outside if not c.trailing}
    for d in sorted(defs + consts, key=lambda d: d.span.line):
        above = []
        at = d.span.line - 1
        while at in by_line and id(by_line[at]) not in taken:
            above.insert(0, by_line[at])
            at -= 1
        if isinstance(d, A.ConstDef):
            above += [c for c in outside if c.trailing and d.span.line <= c.span.line <= d.span.end_line]
        if above:
            taken.update(id(c) for c in above)
            table = placed.before_const if isinstance(d, A.ConstDef) else placed.before_def
            table[d.name.id] = [_text(c) for c in above]
    rest = [c for c in outside if id(c) not in taken]
    placed.module = [_text(c) for c in rest]
    return placed
