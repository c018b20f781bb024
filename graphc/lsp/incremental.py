"""Parsing only what an edit changed: the language server's file is cut into its top-level items
(``import``, ``const``, ``block``, ``model``), each parsed on its own and kept while its text and
its first line stay the same.  A keystroke in a model re-parses that model; the blocks above it
come from the cache.

A chunk is parsed as ``"\\n" * (first line - 1) + its text``, so every span is the one a parse
of the whole file gives; the items and comments of the chunks, in order, make the same
``ast.File`` as ``graphc.syntax.parse(text)`` (tests/test_lsp_speed.py checks it on every
model of models/).  Chunks start at a line that begins, in column 1 and outside any bracket,
string or comment, with one of the item keywords; grammar tokens never span a line break, so the
file parses if and only if every chunk does.  When a chunk does not parse, the caller parses the
whole file, so a syntax error is reported exactly as ``graphc check`` reports it.
"""

from __future__ import annotations

import re

from graphc import ast as A
from graphc.source import Source, Span

_START = re.compile(r"(?:import|const|block|model)\b")
#: Chunks remembered per document: a file's items, with room for the edits in between.
MAX_CHUNKS = 512


def chunks(text: str) -> list[tuple[int, int, int]]:
    """(start offset, end offset, first line) of each top-level chunk of ``text``."""
    out: list[tuple[int, int, int]] = []
    depth = 0
    start, start_line, line = 0, 1, 1
    i, n = 0, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and depth == 0 and i > start and _START.match(text, i):
            out.append((start, i, start_line))
            start, start_line = i, line
        at_line_start = False
        if c == "\n":
            line += 1
            at_line_start = True
        elif c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            i = min(j + 1, n) if j < n and text[j] == c else j
            continue
        elif c in "{([":
            depth += 1
        elif c in "})]":
            depth = max(0, depth - 1)
        i += 1
    out.append((start, n, start_line))
    return out


class ChunkParser:
    """Parses a document's text, reusing the parse of every chunk seen before."""

    def __init__(self):
        self.cache: dict[tuple[str, int], tuple[tuple, tuple]] = {}
        self.reused = 0   # chunks taken from the cache by the last parse (for tests and the bench)

    def parse(self, text: str, path: str) -> A.File | None:
        """The tree of ``text``, or None when a chunk does not parse (then parse the whole text)."""
        from graphc.errors import GraphcError
        from graphc.syntax import MAX_SOURCE_BYTES, parse

        if len(text) * 4 > MAX_SOURCE_BYTES:  # near the limit: the whole file's own checks decide
            return None
        items: list = []
        comments: list = []
        fresh: dict[tuple[str, int], tuple[tuple, tuple]] = {}
        self.reused = 0
        for start, end, first_line in chunks(text):
            body = text[start:end]
            k = (body, first_line)
            got = self.cache.get(k)
            if got is None:
                try:
                    t = parse("\n" * (first_line - 1) + body, path)
                except GraphcError:
                    return None
                got = (t.items, t.comments)
            else:
                self.reused += 1
            fresh[k] = got
            items.extend(got[0])
            comments.extend(got[1])
        if len(fresh) <= MAX_CHUNKS:
            self.cache = fresh
        end = Source(path, text).end_span()
        return A.File(path, tuple(items), Span(path, 1, 1, end.end_line, end.end_col), tuple(comments))
