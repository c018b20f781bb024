"""``graphc fmt``: the canonical layout of a ``.model`` file, comments kept.

Layout rules: four-space indentation; one blank line between top-level items;
blank lines inside a body kept (at most one); a chain on one line when it has
at most three steps and fits in 88 columns, otherwise one ``-> step`` per line;
``k=v`` keyword arguments; literals exactly as written.  Comments stay with the
statement or chain step they precede or follow on the same line.  Formatting
is idempotent and never changes what the file means (the tests re-parse).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from graphc import ast as A
from graphc.errors import GraphcError
from graphc.expr import ModelText
from graphc.source import Span
from graphc.syntax import parse

_BARE_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: the language's words, quoted in a path so that they read back as a name
_WORDS = frozenset("model block input output const train true false none import init tie param freeze".split())

WIDTH = 88
INDENT = "    "


@dataclass
class _Comment:
    """A comment of the file (the lexer collects them, see ast.File.comments), and whether
    it is placed yet."""
    line: int
    col: int
    text: str
    trailing: bool
    used: bool = False


@dataclass
class _Unit:
    """A printed line's worth of source: an item, a statement or a chain step."""
    span: Span
    leading: list[_Comment] = field(default_factory=list)
    trailing: str | None = None


class Formatter:
    def __init__(self, text: str, path: str):
        self.text = text
        self.lines = text.split("\n")  # as the parser counts lines: '\r' or U+2028 do not end one
        self.tree = parse(text, path)
        self.comments = [_Comment(c.span.line, c.span.col, c.text, c.trailing) for c in self.tree.comments]
        self.units: list[_Unit] = []
        self.printer = ModelText(self.src)

    # ------------------------------------------------------------- source text
    def src(self, span: Span) -> str:
        if span.line == span.end_line:
            return self.lines[span.line - 1][span.col - 1:span.end_col - 1]
        parts = [self.lines[span.line - 1][span.col - 1:]]
        parts += self.lines[span.line:span.end_line - 1]
        parts.append(self.lines[span.end_line - 1][:span.end_col - 1])
        return "\n".join(parts)

    # ------------------------------------------------------------ expressions
    def expr(self, e) -> str:
        """An expression or a call, numbers and strings as the source writes them."""
        return self.printer.visit(e)

    def member(self, c) -> str:
        """A group's member: a call, or a labelled, repeated or grouped step."""
        return self.step(c) if isinstance(c, A.Step) else self.expr(c)

    def step(self, s: A.Step) -> str:
        if isinstance(s.call, A.Group):
            body = "(" + " -> ".join(self.member(c) for c in s.call.calls) + ")"
        else:
            body = self.expr(s.call)
        if s.repeat is not None:
            body += f" * {self.repeat(s.repeat)}"
        return f"{self.label(s.label)}: {body}" if s.label else body

    def path_part(self, part: A.Name, i: int) -> str:
        """A part of a freeze path: a name or a number, else a quoted member label
        (``trunk."block1-0"``)."""
        if _BARE_PART.fullmatch(part.id) and part.id not in _WORDS or (i and part.id.isascii() and part.id.isdigit()
                                                                         and str(int(part.id)) == part.id):
            return part.id
        return ModelText().visit(A.Str(part.id, None))

    def label(self, lab) -> str:
        """A step's label: a name, or a member's quoted label as the source writes it."""
        return self.expr(lab) if isinstance(lab, A.Str) else lab.id

    def repeat(self, e) -> str:
        """A repeat count: an integer or a name as it is, any other expression in parentheses."""
        if isinstance(e, A.Name) or (isinstance(e, A.Num) and type(e.value) is int):
            return self.expr(e)
        return f"({self.expr(e)})"

    # -------------------------------------------------------------- comments
    def attach(self, units: list[_Unit]) -> None:
        """A trailing comment goes to the latest-starting unit covering its line, a leading one
        to the first unit after it.  Linear: a file may have tens of thousands of both."""
        import bisect

        covering: dict[int, _Unit] = {}
        for u in units:
            for line in range(u.span.line, max(u.span.end_line, u.span.line) + 1):
                if line not in covering or u.span.line >= covering[line].span.line:
                    covering[line] = u
        order = sorted(units, key=lambda u: (u.span.line, u.span.col))  # stable: ties keep their order
        starts = [u.span.line for u in order]
        for c in self.comments:
            if c.trailing:
                best = covering.get(c.line)
                if best is not None and best.trailing is None:
                    best.trailing = c.text
                    c.used = True
            else:
                i = bisect.bisect_right(starts, c.line)
                if i < len(order):
                    order[i].leading.append(c)
                    c.used = True
        self.loose = [c for c in self.comments if not c.used and not c.trailing]  # in line order
        self.loose_lines = [c.line for c in self.loose]

    def loose_between(self, first: int, last: int) -> list[_Comment]:
        """Unattached own-line comments strictly between two lines, now marked used."""
        import bisect

        lo, hi = bisect.bisect_right(self.loose_lines, first), bisect.bisect_left(self.loose_lines, last)
        out = [c for c in self.loose[lo:hi] if not c.used]
        for c in out:
            c.used = True
        return out

    # ----------------------------------------------------------------- units
    def collect(self) -> list[_Unit]:
        units: list[_Unit] = []
        self.unit_of: dict[int, _Unit] = {}

        def add(node):
            u = _Unit(node.span)
            units.append(u)
            self.unit_of[id(node)] = u
            return u

        def body(stmts):
            for st in stmts:
                if isinstance(st, A.Assign):
                    head_end = st.chain.source.span
                    u = add(st)
                    u.span = Span(st.span.path, st.span.line, st.span.col, head_end.end_line, head_end.end_col)
                    todo = list(st.chain.steps)
                    while todo:  # steps, and the members of groups, nested ones too
                        s = todo.pop(0)
                        add(s)
                        if isinstance(s, A.Step) and isinstance(s.call, A.Group):
                            todo += s.call.calls
                elif isinstance(st, (A.TrainBlock, A.InitBlock)):
                    u = add(st)
                    u.span = Span(st.span.path, st.span.line, st.span.col, st.span.line, st.span.col + 1)
                    for s in st.settings:
                        add(s)
                else:
                    add(st)

        for item in self.tree.items:
            if isinstance(item, (A.ModelDef, A.BlockDef)):
                u = add(item)
                u.span = Span(item.span.path, item.span.line, item.span.col, item.span.line, item.span.col + 1)
                body(item.body)
            else:
                add(item)
        return units

    # ------------------------------------------------------------------ print
    def run(self) -> str:
        units = self.collect()
        self.attach(units)
        out: list[str] = []
        prev = None
        for item in self.tree.items:
            if prev is not None:
                u = self.unit_of[id(item)]
                start = u.leading[0].line if u.leading else item.span.line
                defs = (A.ModelDef, A.BlockDef)
                if isinstance(item, defs) or isinstance(prev, defs) or self._gap(prev.span.end_line, start):
                    out.append("")
            out += self.item(item)
            prev = item
        footer = [c.text for c in self.comments if not c.used]
        if footer:
            out += [""] + footer
        return "\n".join(out).rstrip() + "\n"

    def emit(self, node, text: str, indent: str, out: list[str]) -> None:
        u = self.unit_of.get(id(node))
        if u is not None:
            lines = [c.line for c in u.leading] + [u.span.line]
            for c, nxt in zip(u.leading, lines[1:]):
                out.append(indent + c.text)
                if self._gap(c.line, nxt):
                    out.append("")
        tail = f"  {u.trailing}" if u is not None and u.trailing else ""
        out.append(indent + text + tail)

    def group_lines(self, s: A.Step, indent: str, out: list[str]) -> None:
        """A long group, one call per line: ``-> name: (`` ... ``)``."""
        label = f"{self.label(s.label)}: " if s.label else ""
        self.emit(s, f"-> {label}(", indent, out)
        for i, c in enumerate(s.call.calls):
            self.emit(c, ("-> " if i else "") + self.member(c), indent + INDENT, out)
        out.append(indent + ")" + (f" * {self.repeat(s.repeat)}" if s.repeat is not None else ""))

    def item(self, item) -> list[str]:
        out: list[str] = []
        if isinstance(item, A.ConstDef):
            self.emit(item, f"const {item.name.id} = {self.expr(item.value)}", "", out)
            return out
        if isinstance(item, A.Import):
            self.emit(item, f"import {self.expr(A.Str(item.path, item.path_span))}", "", out)
            return out
        if isinstance(item, A.ModelDef):
            head = f"model {item.name.id} {{"
        else:
            params = ", ".join(p.name.id + (f"={self.expr(p.default)}" if p.default is not None else "")
                               for p in item.params)
            head = f"block {item.name.id}({params}) {{"
        self.emit(item, head, "", out)
        out += self.body(item.body, INDENT, item.span)
        out.append("}")
        return out

    def body(self, stmts, indent: str, parent: Span) -> list[str]:
        out: list[str] = []
        prev_end = None
        for st in stmts:
            u = self.unit_of.get(id(st))
            if prev_end is not None and self._blank_between(prev_end, st, u):
                out.append("")
            out += self.stmt(st, indent)
            prev_end = st.span.end_line
        # comments after the last statement of the body
        for c in self.loose_between(parent.line, parent.end_line):
            out.append(indent + c.text)
        return out

    def _gap(self, after: int, before: int) -> bool:
        """A blank line in the source between lines ``after`` and ``before``."""
        return any(not self.lines[i - 1].strip() for i in range(after + 1, before))

    def _blank_between(self, prev_end: int, st, u) -> bool:
        start = u.leading[0].line if u is not None and u.leading else st.span.line
        return self._gap(prev_end, start)

    def stmt(self, st, indent: str) -> list[str]:
        out: list[str] = []
        if isinstance(st, A.ConstDef):
            self.emit(st, f"const {st.name.id} = {self.expr(st.value)}", indent, out)
        elif isinstance(st, A.InputDecl):
            text = f"input {st.name.id}"
            if st.dims is not None:
                dtype = st.dtype or ""
                text += f": {dtype}[{', '.join(self.expr(d) for d in st.dims)}]"
            self.emit(st, text, indent, out)
        elif isinstance(st, A.ParamDecl):
            text = f"param {st.name.id}: {st.dtype or ''}[{', '.join(self.expr(d) for d in st.dims)}]"
            if st.init is not None:
                text += f" = {self.expr(st.init)}"
            self.emit(st, text, indent, out)
        elif isinstance(st, A.OutputDecl):
            self.emit(st, "output " + ", ".join(n.id for n in st.names), indent, out)
        elif isinstance(st, A.Freeze):
            self.emit(st, "freeze " + ", ".join(".".join(self.path_part(n, i) for i, n in enumerate(p))
                                                 for p in st.paths), indent, out)
        elif isinstance(st, A.Tie):
            self.emit(st, "tie " + ".".join(n.id for n in st.left) + " = " + ".".join(n.id for n in st.right),
                      indent, out)
        elif isinstance(st, A.Assign):
            head = ", ".join(t.id for t in st.targets) + " = "
            src = st.chain.source.id if isinstance(st.chain.source, A.Name) else self.expr(st.chain.source)
            if st.chain.source_label is not None:
                src = f"{st.chain.source_label.id}: {src}"
            steps = [self.step(s) for s in st.chain.steps]
            one = indent + head + " -> ".join([src] + steps)
            step_units = [self.unit_of[id(s)] for s in st.chain.steps]
            step_units += [self.unit_of[id(c)] for s in st.chain.steps if isinstance(s.call, A.Group)
                           for c in s.call.calls]
            one_line_src = st.span.line == st.span.end_line
            has_comments = any(u.leading for u in step_units) or (
                not one_line_src and any(u.trailing for u in step_units))
            if len(steps) <= 3 and len(one) <= WIDTH and not has_comments:
                tail = next((u.trailing for u in step_units if u.trailing), None)
                if tail and self.unit_of[id(st)].trailing is None:
                    self.unit_of[id(st)].trailing = tail
                self.emit(st, one[len(indent):], indent, out)
            else:
                self.emit(st, head + src, indent, out)
                for s, text in zip(st.chain.steps, steps):
                    step_indent = indent + INDENT
                    if isinstance(s.call, A.Group) and (len(step_indent + "-> " + text) > WIDTH or any(
                            self.unit_of[id(c)].leading or self.unit_of[id(c)].trailing for c in s.call.calls)):
                        self.group_lines(s, step_indent, out)
                    else:
                        self.emit(s, f"-> {text}", step_indent, out)
        elif isinstance(st, (A.TrainBlock, A.InitBlock)):
            word = "train" if isinstance(st, A.TrainBlock) else "init"
            self.emit(st, f"{word} {{", indent, out)
            for s in st.settings:
                self.emit(s, f"{s.name.id} = {self.expr(s.value)}", indent + INDENT, out)
            for c in self.loose_between(st.span.line, st.span.end_line):
                out.append(indent + INDENT + c.text)
            out.append(indent + "}")
        return out


def format_text(text: str, path: str = "<string>") -> str:
    """The canonical form of ``text``; raises GraphcError on a syntax error, or when the
    canonical form (one chain step per line) would be beyond the parser's size limit."""
    from graphc.api import gc_paused
    from graphc.errors import diag
    from graphc.syntax import MAX_SOURCE_BYTES

    with gc_paused():
        out = Formatter(text, path).run()
    size = len(out.encode("utf-8", "surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        raise GraphcError([diag(Span(path, 1, 1, 1, 2), "limit",
                                f"formatted, the file would be {size:,} bytes, beyond graphc's limit of "
                                f"{MAX_SOURCE_BYTES:,} (1 MiB)", "describe repeated structure with '* N' repeats")])
    return out


def same_meaning(a: str, b: str) -> bool:
    """True when two texts parse to the same program (spans and comments aside)."""
    def strip(x):
        return re.sub(r"span=Span\([^)]*\)|kind_span=Span\([^)]*\)|name_span=Span\([^)]*\)", "", repr(x))

    try:
        return strip(parse(a).items) == strip(parse(b).items)
    except GraphcError:
        return False
