"""A fast slice of the injection fuzzing (``python -m tests.fuzz.injection`` runs the full count).

Every hostile piece of text in the places where text is used as a value, all of them at once
in every place, every hostile name in every name slot, and a few hundred random cases of a
fixed seed; see ``tests/fuzz/injection.py`` for what each case checks.
"""

from __future__ import annotations

import pytest

from tests.fuzz import injection

ALL_AT_ONCE = "".join(injection.PIECES)


def _assert_ok(o: injection.Outcome) -> None:
    assert not o.failures, f"{o.place} {o.text[:200]!r}:\n" + "\n".join(o.failures)


@pytest.mark.parametrize("place", sorted(injection.TEXT_PLACES))
def test_every_piece_at_once(place):
    o = injection.check_text_place(place, ALL_AT_ONCE)
    _assert_ok(o)
    if injection.TEXT_PLACES[place][1] != "refused":
        assert o.accepted


@pytest.mark.parametrize("place", ["csv-path", "block-default", "file-name", "comment", "member-label"])
def test_each_piece(place):
    for piece in injection.PIECES:
        o = injection.check_text_place(place, piece)
        _assert_ok(o)
        assert o.accepted, f"{piece!r} in {place} was refused"


def test_every_name_in_every_slot():
    from graphc.names import label_clash

    names = injection.HOSTILE_NAMES
    labels = [n for n in names if label_clash(n) is None]  # the others are errors: a label is a key
    built = 0
    for k in range(len(names)):
        slots = {s: names[(k + 7 * j) % len(names)] for j, s in enumerate(injection.NAME_SLOTS)}
        o = injection.check_name_case(injection.NAMED.format(**slots))
        _assert_ok(o)  # whatever the labels: nothing injected, accepted or not
        for s in ("l", "l2"):
            if label_clash(slots[s]) is not None:
                slots[s] = labels[k % len(labels)]
        o = injection.check_name_case(injection.NAMED.format(**slots))
        _assert_ok(o)
        built += o.accepted
    assert built > len(names) // 2  # most such files build (reserved words of the language do not)


def test_random_cases_of_a_fixed_seed():
    failures = []
    for i in range(200):
        o = injection.case(0, i)
        if o.failures:
            failures.append(f"case {i} {o.place} {o.text[:100]!r}: {o.failures}")
    assert not failures, "\n".join(failures[:10])


def test_the_checks_catch_an_unescaped_docstring(monkeypatch):
    """The fuzzer's checks can fail: with text() made the identity, they find the bug."""
    from graphc import pyfmt

    monkeypatch.setattr(pyfmt, "text", lambda s: str(s))
    o = injection.check_text_place("csv-path", '"""+__import__("os").system("true")+"""')
    assert any("changed the program" in f for f in o.failures), o.failures
    o = injection.check_text_place("file-name", "C:\\Users\\me")
    assert any("does not parse" in f for f in o.failures), o.failures
