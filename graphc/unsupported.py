"""What a new user writes that is outside the language: Python's attribute access, indexing
and ``**``.  Each gets a diagnostic that says so and how to write it (graphc.syntax asks here
before its generic "unexpected ..." messages)."""

from __future__ import annotations

_SEE = "see docs/language.md, 'Tensor expressions'"


def at_char(text: str, pos: int) -> tuple[str, str] | None:
    """(message, hint) for a character the lexer cannot start a token with, or None."""
    before = text[pos - 1] if pos > 0 else ""
    if text[pos:pos + 1] == "." and (before.isalpha() or before == "_" or before in ")]"):
        return _ATTRIBUTE
    return None


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
        return _ATTRIBUTE  # '.' lexes (tie paths use it), but only a tie may write one
    if tok.type == "LSQB" and prev and (prev[-1].isalnum() or prev[-1] in "_)") \
            and not line.startswith(("input", "param")):
        return "indexing ('x[0]') is not in the language", f"use x -> slice(...), chunk or split; {_SEE}"
    return None
