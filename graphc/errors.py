"""Diagnostics: one record type, one registry of codes.

Every problem graphc finds in a ``.model`` file becomes a :class:`Diagnostic`
with a span, a stable code, a message that carries the numbers and, where one
exists, a hint saying how to fix it.  Passes collect diagnostics instead of
raising, so one run reports every independent mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from graphc.source import Span

Severity = Literal["error", "warning", "note"]

#: code -> (severity, what it means).  The only list of codes; docs/language.md
#: and the JSON output refer to these names.
CODES: dict[str, tuple[Severity, str]] = {
    "syntax": ("error", "the text does not follow the grammar"),
    "unknown-layer": ("error", "a call names no known layer, operation or block"),
    "unknown-argument": ("error", "a keyword argument the layer does not take"),
    "invalid-argument": ("error", "an argument value of the wrong type or out of range"),
    "missing-argument": ("error", "a required argument was not given"),
    "too-many-arguments": ("error", "more positional arguments than the layer takes"),
    "duplicate-argument": ("error", "an argument given twice"),
    "undefined-name": ("error", "a name that is not defined at that point"),
    "duplicate-name": ("error", "a name defined twice in one scope"),
    "reserved-name": ("error", "a reserved word used as a name"),
    "invalid-expression": ("error", "a constant expression that cannot be evaluated"),
    "invalid-input": ("error", "a malformed input declaration"),
    "invalid-output": ("error", "a malformed output declaration"),
    "missing-input": ("error", "a layer or block call without the tensors it needs"),
    "missing-model": ("error", "the file defines no model"),
    "library": ("note", "a file of blocks and no model, for other files to import"),
    "invalid-import": ("error", "an import that does not name a .model file"),
    "arity": ("error", "a call given the wrong number of tensors"),
    "recursion": ("error", "a block that uses itself"),
    "invalid-sharing": ("error", "a layer or block applied again, or a tie, that cannot be one module"),
    "limit": ("error", "a size beyond graphc's stated limits"),
    "shape-mismatch": ("error", "tensor shapes that do not fit together"),
    "shape-rank": ("error", "a tensor of the wrong number of dimensions"),
    "shape-nonpositive": ("error", "an operation whose output would have a dimension < 1"),
    "shape-symbolic": ("error", "a rule that needs a concrete size got a symbolic one"),
    "dtype": ("error", "a tensor of the wrong element type"),
    "inplace-overwrite": ("error", "an in-place layer overwriting a value that is read again"),
    "unknown-component": ("error", "a loss, optimizer, scheduler or dataset graphc does not know"),
    "invalid-train": ("error", "a training section that cannot work as written"),
    "data-mismatch": ("error", "training data that does not fit the model's input or output"),
    "loss-mismatch": ("error", "a loss that does not fit the model's output or the targets"),
    "activation-before-loss": ("warning", "softmax before CrossEntropyLoss, sigmoid before BCEWithLogitsLoss"),
    "ambiguous-arguments": ("warning", "positional arguments that PyTorch's order and graphc's both fit, "
                                       "read in PyTorch's"),
    "torch-order": ("note", "a call in PyTorch's argument order, with an inferred size that may be left out"),
    "unused-value": ("warning", "a value that never reaches an output"),
    "unused-input": ("warning", "an input that is never used"),
    "unused-parameter": ("warning", "a block parameter its body never uses"),
    "dropout-at-output": ("warning", "dropout right before a model output"),
    "unsized-images": ("warning", "image_folder(size=none) with no transform that gives the images one size"),
    "io-error": ("error", "a file that cannot be read or written"),
    "weights-mismatch": ("error", "a weights file whose tensors do not fit the model (check --weights)"),
    "weights-dtype": ("note", "a weights file's tensor of another dtype than the model's (it converts)"),
    "weights-unchecked": ("note", "tensors of a weights file matched by their module's prefix only"),
    "weights-partial": ("warning", "a tensor a partial load (pretrained = weights(..., strict=false)) leaves out"),
}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    span: Span
    code: str
    message: str
    hint: str | None = None
    severity: Severity = "error"

    def __post_init__(self) -> None:
        assert self.code in CODES, f"unregistered diagnostic code {self.code!r}"

    def to_json(self) -> dict:
        return {
            "file": self.span.path,
            "line": self.span.line,
            "column": self.span.col,
            "end_line": self.span.end_line,
            "end_column": self.span.end_col,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }


def diag(span: Span, code: str, message: str, hint: str | None = None) -> Diagnostic:
    """A diagnostic with the code's registered severity."""
    return Diagnostic(span, code, message, hint, CODES[code][0])


class GraphcError(Exception):
    """A problem that stops a command: carries the diagnostics that explain it."""

    def __init__(self, diagnostics: list[Diagnostic] | str):
        if isinstance(diagnostics, str):
            self.diagnostics: list[Diagnostic] = []
            super().__init__(diagnostics)
        else:
            self.diagnostics = list(diagnostics)
            super().__init__("; ".join(d.message for d in self.diagnostics))


def shorten(text: str, limit: int = 80) -> str:
    """``text`` for a message: cut after ``limit - 20`` characters, with its full length, when
    longer than ``limit`` (a 1 MB string or a 1,200-digit size is not repeated whole)."""
    return text if len(text) <= limit else f"{text[:limit - 20]}… ({len(text):,} characters)"


def did_you_mean(word: str, candidates) -> str | None:
    """A 'did you mean' hint, case-insensitive first, then by edit similarity."""
    import difflib

    cands = sorted(set(candidates))
    lower = {c.lower(): c for c in cands}
    if word.lower() in lower:
        return f"did you mean '{lower[word.lower()]}'?"
    w = word.lower()
    prefixed = sorted((c for c in lower if len(w) >= 3 and (c.startswith(w) or w.startswith(c))), key=len)
    close = [lower[prefixed[0]]] if prefixed else \
        [lower[m] for m in difflib.get_close_matches(w, list(lower), n=1, cutoff=0.75)]
    return f"did you mean '{close[0]}'?" if close else None
