"""What a new user writes that is outside the language: Python's attribute access, indexing
and ``**``.  Each gets a diagnostic that says so and how to write it (graphc.syntax asks here
before its generic "unexpected ..." messages)."""

from __future__ import annotations

_SEE = "see docs/language.md, 'Tensor expressions'"


def at_char(text: str, pos: int) -> tuple[str, str] | None:
    """(message, hint) for a character the lexer cannot start a token with, or None."""
    before = text[pos - 1] if pos > 0 else ""
    if text[pos:pos + 1] == "." and (before.isalpha() or before == "_" or before in ")]"):
        return _prefix(text, pos) or _ATTRIBUTE
    return None


def _prefix(text: str, pos: int) -> tuple[str, str] | None:
    """``nn.Linear``, ``F.relu``, ``torch.tanh``: PyTorch's module prefixes before a name graphc
    has without them (issue 19: the PyTorch habit gets its own message)."""
    start = pos
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    word, end = text[start:pos], pos + 1
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    name = text[pos + 1:end]
    if word not in ("nn", "F", "torch", "functional") or not name:
        return None
    from graphc.layers.base import load_all

    kinds = load_all()
    if name not in kinds:
        same = [k for k in kinds if k.lower() == name.lower()]
        if not same:
            return None
        name = same[0]
    other = next((k for k in kinds if k.lower() == name.lower() and k != name), None)
    return (f"'{word}.' is PyTorch's prefix: graphc's layers and operations are written without it",
            f"write {name}" + (f" (or {other})" if other else ""))


_ATTRIBUTE = ("attribute access ('a.b') is not in the language",
              f"call an operation instead: exp(x), x -> transpose(1, 2), chunk(2); a layer's tensor is "
              f"named only to tie it ('tie head.weight = tok.weight'); {_SEE}")


def at_token(text: str, tok) -> tuple[str, str] | None:
    """(message, hint) for an unexpected token, or None."""
    prev = text[:tok.start_pos].rstrip()
    if str(tok) == "*" and text[tok.start_pos - 1:tok.start_pos] == "*":
        return ("'**' is not in the language yet",
                "multiply instead (x * x), or use sqrt, rsqrt or exp(k * log(x))")
    line = prev[prev.rfind("\n") + 1:].lstrip()
    if str(tok) == "." and prev == text[:tok.start_pos] and prev and (prev[-1].isalnum() or prev[-1] in "_)]"):
        return _prefix(text, tok.start_pos) or _ATTRIBUTE  # '.' lexes (tie paths use it), but only a tie may write one
    if tok.type == "LSQB" and prev and (prev[-1].isalnum() or prev[-1] in "_)") \
            and not line.startswith(("input", "param")):
        return "indexing ('x[0]') is not in the language", f"use x -> slice(...), chunk or split; {_SEE}"
    return None
