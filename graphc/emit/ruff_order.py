"""The order ruff's RUF022 wants in ``__all__``: generated modules sort their ``__all__`` so
that ruff's default rules find nothing to say about them."""

from __future__ import annotations

from functools import cmp_to_key


def ruff_sort_key(name: str):
    """The order ruff's RUF022 wants in ``__all__`` (its "isort-style" sort): SCREAMING_CASE
    names, then CapWords ones, then the rest; each group in natural order (``Block_2``
    before ``Block_10``), as the Rust crate natord compares strings."""
    cased = [c for c in name if c.isupper() or c.islower()]
    if len(name) > 1 and cased and all(c.isupper() for c in cased):
        group = 0
    else:
        group = 1 if name[:1].isupper() else 2
    return group, _Natural(name)


def _natural_cmp(a: str, b: str) -> int:
    """natord::compare: runs of digits compare as numbers (as decimal fractions when one of
    them starts with 0), other characters by code point, whitespace is skipped."""
    i = j = 0
    while True:
        while i < len(a) and a[i].isspace():
            i += 1
        while j < len(b) and b[j].isspace():
            j += 1
        if i == len(a) or j == len(b):
            return (i < len(a)) - (j < len(b))
        ca, cb = a[i], b[j]
        if ca in _DIGITS and cb in _DIGITS:
            fractional = ca == "0" or cb == "0"
            bias = 0
            while True:
                da = i < len(a) and a[i] in _DIGITS
                db = j < len(b) and b[j] in _DIGITS
                if not da or not db:
                    if da != db:
                        return 1 if da else -1
                    if bias:
                        return bias
                    break
                if a[i] != b[j]:
                    if fractional:
                        return -1 if a[i] < b[j] else 1
                    bias = bias or (-1 if a[i] < b[j] else 1)
                i += 1
                j += 1
            continue
        if ca != cb:
            return -1 if ca < cb else 1
        i += 1
        j += 1


_Natural = cmp_to_key(_natural_cmp)
_DIGITS = frozenset("0123456789")
