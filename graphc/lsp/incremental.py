"""Parsing only what an edit changed: the language server's file is cut into its top-level items
(``import``, ``const``, ``block``, ``model``), each parsed on its own and kept while its text and
its first line stay the same; a ``model`` or ``block`` that changed is parsed statement by
statement, each statement kept the same way.  A keystroke in a model re-parses that statement
(and the model's header); the rest comes from the cache.

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


_OPEN, _CLOSE = "{([", "})]"
#: A line that follows one of these (its last character outside comments) continues a statement.
_CONTINUES = set("->,=:*+/%")
_WRAP = "block __graphc_chunk__() {"


def line_info(body: str) -> list[tuple[int, int, str, str]]:
    """For each line of ``body``: (its start offset, the bracket depth at its start, its first and
    its last character outside strings and comments, '' for none)."""
    out = []
    depth, i, n = 0, 0, len(body)
    start, first, last, start_depth = 0, "", "", 0
    while i <= n:
        c = body[i] if i < n else "\n"
        if c == "\n":
            out.append((start, start_depth, first, last))
            if i >= n:
                break
            start, first, last, start_depth = i + 1, "", "", depth
            i += 1
            continue
        if c == "#":
            j = body.find("\n", i)
            i = n if j < 0 else j
            continue
        if c in " \t\r\f":
            i += 1
            continue
        first = first or c
        last = c
        if c in "\"'":
            j = i + 1
            while j < n and body[j] != c and body[j] != "\n":
                j += 2 if body[j] == "\\" else 1
            i = j + 1 if j < n and body[j] == c else j
            continue
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth = max(0, depth - 1)
        i += 1
    return out


def statements(body: str):
    """(header line, closing line, [first line of each statement]) of a ``model``/``block`` chunk,
    line indices into the chunk; None when its shape is not the usual one (a '{' ending the
    header's last line, a '}' starting the closing line)."""
    info = line_info(body)
    h = next((k for k in range(len(info) - 1) if info[k][3] == "{" and info[k + 1][1] == 1), None)
    if h is None:
        return None
    c = next((k for k in range(h + 1, len(info)) if info[k][1] == 1 and info[k][2] == "}"
              and (k + 1 == len(info) or info[k + 1][1] == 0)), None)
    if c is None:
        return None
    starts, prev = [h + 1], "{"
    for k in range(h + 1, c):
        _, depth, first, last = info[k]
        if k > h + 1 and depth == 1 and (first.isalpha() or first == "_") and prev not in _CONTINUES:
            starts.append(k)
        prev = last or prev
    return h, c, starts


class ChunkParser:
    """Parses a document's text, reusing the parse of every chunk seen before; in a ``model`` or
    ``block`` that changed, the parse of every statement that did not."""

    def __init__(self):
        self.cache: dict[tuple[str, int], tuple[tuple, tuple]] = {}
        self.stmt_cache: dict[tuple[str, int], tuple[tuple, tuple]] = {}
        self.reused = 0        # chunks taken from the cache by the last parse (for tests and the bench)
        self.stmts_reused = 0  # statements taken from the cache by the last parse

    def parse(self, text: str, path: str) -> A.File | None:
        """The tree of ``text``, or None when a chunk does not parse (then parse the whole text)."""
        from graphc.errors import GraphcError
        from graphc.syntax import MAX_SOURCE_BYTES, parse

        if len(text) * 4 > MAX_SOURCE_BYTES:  # near the limit: the whole file's own checks decide
            return None
        items: list = []
        comments: list = []
        fresh: dict[tuple[str, int], tuple[tuple, tuple]] = {}
        fresh_stmts: dict[tuple[str, int], tuple[tuple, tuple]] = {}
        self.reused = self.stmts_reused = 0
        for start, end, first_line in chunks(text):
            body = text[start:end]
            k = (body, first_line)
            got = self.cache.get(k)
            if got is None:
                if body.startswith(("model", "block")):
                    got = self._definition(body, first_line, path, fresh_stmts)
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
        if len(fresh_stmts) <= MAX_CHUNKS * 4:
            self.stmt_cache = fresh_stmts
        end = Source(path, text).end_span()
        return A.File(path, tuple(items), Span(path, 1, 1, end.end_line, end.end_col), tuple(comments))

    def _definition(self, body: str, first_line: int, path: str, fresh: dict):
        """(items, comments) of a model or block parsed statement by statement: its header and
        closing brace once (the statements' lines left blank), each statement inside a block
        of its own; None when it must be parsed whole."""
        from graphc.errors import GraphcError
        from graphc.syntax import parse

        shape = statements(body)
        if shape is None:
            return None
        h, c, starts = shape
        lines = body.split("\n")
        header = "\n".join(lines[:h + 1]) + "\n" * (c - h) + "\n".join(lines[c:])
        hk = ("header:" + header, first_line)   # the same while an edit keeps the statements' lines
        head = self.stmt_cache.get(hk) or fresh.get(hk)
        if head is None:
            try:
                head = parse("\n" * (first_line - 1) + header, path)
            except GraphcError:
                return None
            if len(head.items) != 1 or head.items[0].body:
                return None
        fresh[hk] = head
        stmts: list = []
        comments = list(head.comments)
        for a, b in zip(starts, [*starts[1:], c]):
            piece = "\n".join(lines[a:b])
            line = first_line + a
            k = (piece, line)
            got = self.stmt_cache.get(k) or fresh.get(k)
            if got is None:
                try:
                    t = parse(_WRAP + "\n" * (line - 1) + piece + "\n}", path)
                except GraphcError:
                    return None
                got = (t.items[0].body, t.comments)
            else:
                self.stmts_reused += 1
            fresh[k] = got
            stmts.extend(got[0])
            comments.extend(got[1])
        d = head.items[0]
        item = A.ModelDef(d.name, tuple(stmts), d.span) if isinstance(d, A.ModelDef) else \
            A.BlockDef(d.name, d.params, tuple(stmts), d.span)
        comments.sort(key=lambda cm: (cm.span.line, cm.span.col))
        return (item,), tuple(comments)
