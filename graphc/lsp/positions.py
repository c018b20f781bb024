"""graphc positions (1-based lines, 1-based columns in characters) and LSP positions (0-based,
columns in UTF-16 code units, the protocol's default encoding), as the protocol's dicts:
``{"line": 0, "character": 4}`` and ``{"start": ..., "end": ...}``."""

from __future__ import annotations

from graphc.source import Source, Span


class Lines:
    """A text's lines, split as graphc's parser splits them (at '\\n' only)."""

    def __init__(self, text: str):
        self.text = text
        self.lines = Source("", text).lines() if text else ()

    def line(self, n: int) -> str:
        return self.lines[n - 1] if 1 <= n <= len(self.lines) else ""

    def position(self, line: int, col: int) -> dict:
        """The LSP position of graphc's (line, col)."""
        text = self.line(line)
        k = max(col - 1, 0)
        if not text.isascii():
            k = len(text[:k].encode("utf-16-le")) // 2 + max(0, k - len(text))
        return {"line": max(line - 1, 0), "character": k}

    def range(self, span: Span) -> dict:
        return {"start": self.position(span.line, span.col), "end": self.position(span.end_line, span.end_col)}

    def graphc(self, pos: dict) -> tuple[int, int]:
        """graphc's (line, col) of an LSP position."""
        line = pos["line"] + 1
        text = self.line(line)
        k = pos["character"]
        if not text.isascii():
            units = 0
            for i, ch in enumerate(text):
                if units >= k:
                    k = i
                    break
                units += 2 if ord(ch) > 0xFFFF else 1
            else:
                k = len(text) + max(0, k - units)
        return line, k + 1

    def offset(self, pos: dict) -> int:
        """The character offset of an LSP position in the text (lines split at '\\n')."""
        line, col = self.graphc(pos)
        starts = 0
        for _ in range(line - 1):
            nl = self.text.find("\n", starts)
            if nl < 0:
                return len(self.text)   # past the last line: the end
            starts = nl + 1
        nl = self.text.find("\n", starts)
        end = len(self.text) if nl < 0 else nl
        return min(starts + col - 1, end)   # past the line's end: its end
