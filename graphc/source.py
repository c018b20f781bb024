"""Source files and spans: where every AST node, graph node and diagnostic points."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Span:
    """A 1-based, end-inclusive-line / end-exclusive-column range in one file."""

    path: str
    line: int
    col: int
    end_line: int
    end_col: int

    def to(self, other: Span) -> Span:
        """The span from the start of ``self`` to the end of ``other``."""
        return Span(self.path, self.line, self.col, other.end_line, other.end_col)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Source:
    path: str
    text: str
    # the files this one imports (path -> Source), transitively: a diagnostic in one of them
    # shows that file's line
    imported: dict = field(default_factory=dict, compare=False, hash=False)

    def lines(self) -> tuple[str, ...]:
        """The text's lines as the parser counts them: split at '\\n' only (a '\\r', a form
        feed or U+2028 inside a line does not start a new one), a trailing '\\r' dropped."""
        return _lines(self.text)

    def line_text(self, line: int) -> str:
        lines = self.lines()
        if 1 <= line <= len(lines):
            return lines[line - 1]
        return ""

    def end_span(self) -> Span:
        lines = self.lines()
        last = len(lines)
        col = len(lines[-1]) + 1
        return Span(self.path, last, col, last, col + 1)

    def snippet(self, span: Span) -> str:
        """The span's first line with a caret/underline under the spanned text (in the imported
        file the span is in, when it is in one)."""
        if span.path != self.path and span.path in self.imported:
            return self.imported[span.path].snippet(span)
        # one space for each tab or other control character: the caret stays under its column
        text = "".join(" " if c < " " or c == "\x7f" else c for c in self.line_text(span.line))
        if not text.strip():
            return ""
        start = max(span.col, 1)
        if span.end_line == span.line:
            end = max(span.end_col, start + 1)
        else:
            end = len(text) + 1
        end = min(end, len(text) + 1) if len(text) >= start else start + 1
        width = max(end - start, 1)
        underline = " " * (start - 1) + "^" + "~" * (width - 1)
        return f"    {text}\n    {underline}"


@functools.lru_cache(maxsize=8)
def _lines(text: str) -> tuple[str, ...]:
    """Split once per text: a report of 10,000 diagnostics asks for a line 10,000 times."""
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return tuple(ln[:-1] if ln.endswith("\r") else ln for ln in lines)
