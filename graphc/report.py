"""Diagnostic formatters (text, json, github) and the exit-code policy.

Exit codes, as ruff: 0 clean, 1 problems found, 2 usage or internal error.
"""

from __future__ import annotations

import json
import sys

from graphc.errors import Diagnostic
from graphc.source import Source

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class _Style:
    def __init__(self, color: bool):
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text


def one_line(s: str) -> str:
    """``s`` on one line: a character that is not printable (a newline in a file name a message
    quotes) shown escaped, as repr() shows it (the training script's DataError does the same)."""
    return s if s.isprintable() else "".join(c if c.isprintable() else ascii(c)[1:-1] for c in s)


def format_text(d: Diagnostic, source: Source | None, color: bool = False) -> str:
    st = _Style(color)
    sev = {"error": st("error", "1;31"), "warning": st("warning", "1;33"), "note": st("note", "1;36")}
    head = f"{st(one_line(str(d.span)), '1')}: {sev[d.severity]}: {one_line(d.message)}  {st('[' + d.code + ']', '2')}"
    parts = [head]
    if source is not None:
        snip = source.snippet(d.span)
        if snip:
            parts.append(snip)
    if d.hint:
        parts.append(f"  {st('hint', '1;36')}: {one_line(d.hint)}")
    return "\n".join(parts)


def format_github(d: Diagnostic) -> str:
    def esc(s: str) -> str:
        return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(s: str) -> str:
        return esc(s).replace(":", "%3A").replace(",", "%2C")

    level = {"error": "error", "warning": "warning", "note": "notice"}[d.severity]
    msg = d.message + (f" (hint: {d.hint})" if d.hint else "") + f" [{d.code}]"
    return (f"::{level} file={prop(d.span.path)},line={d.span.line},col={d.span.col},"
            f"endLine={d.span.end_line},endColumn={d.span.end_col},title={prop('graphc ' + d.code)}::{esc(msg)}")


def summary_line(n_errors: int, n_warnings: int, n_files_with: int, n_files: int) -> str:
    if n_errors == 0 and n_warnings == 0:
        return f"All checks passed ({n_files} file{'s' if n_files != 1 else ''})."
    parts = []
    if n_errors:
        parts.append(f"{n_errors} error{'s' if n_errors != 1 else ''}")
    if n_warnings:
        parts.append(f"{n_warnings} warning{'s' if n_warnings != 1 else ''}")
    return (f"Found {' and '.join(parts)} in {n_files_with} file{'s' if n_files_with != 1 else ''} "
            f"({n_files} checked).")


def emit(results: list[tuple[Source | None, list[Diagnostic]]], fmt: str, out=None) -> tuple[int, int]:
    """Print every file's diagnostics; return (errors, warnings)."""
    out = out or sys.stdout
    color = fmt == "text" and out.isatty()
    errors = warnings = files_with = 0
    objs = []
    for source, diags in results:
        if diags:
            files_with += 1
        for d in diags:
            errors += d.severity == "error"
            warnings += d.severity == "warning"
            if fmt == "text":
                print(format_text(d, source, color), file=out)
            elif fmt == "github":
                print(format_github(d), file=out)
            else:
                objs.append(d.to_json())
    if fmt == "json":
        print(json.dumps(objs, indent=2), file=out)
    elif fmt == "text":
        print(summary_line(errors, warnings, files_with, len(results)), file=out)
    return errors, warnings
