"""Source files and spans: where every AST node, graph node and diagnostic points."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A 1-based, end-inclusive-line / end-exclusive-column range in one file."""

    path: str
    line: int
    col: int
    end_line: int
    end_col: int

    def to(self, other: "Span") -> "Span":
        """The span from the start of ``self`` to the end of ``other``."""
        return Span(self.path, self.line, self.col, other.end_line, other.end_col)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Source:
    path: str
    text: str

    def line_text(self, line: int) -> str:
        lines = self.text.splitlines()
        if 1 <= line <= len(lines):
            return lines[line - 1]
        return ""

    def end_span(self) -> Span:
        lines = self.text.splitlines() or [""]
        last = len(lines)
        col = len(lines[-1]) + 1
        return Span(self.path, last, col, last, col + 1)

    def snippet(self, span: Span) -> str:
        """The span's first line with a caret/underline under the spanned text."""
        text = self.line_text(span.line).replace("\t", " ")
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
