"""Symbolic sizes: the monomial fast form (no sympy) against sympy itself.

A ``Sym`` that is an integer times a product of names to powers (``B``, ``2*B*T``,
``B*T^2``) is kept and computed without sympy; anything else is a sympy
expression.  Every operation on the fast form must give the value sympy gives,
print as sympy prints it, and stay in the fast form exactly when the result is
a monomial (equality relies on that).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from graphc.shapes import Sym, _pretty, dim_sum, substitute

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["B", "T", "H", "W", "b", "seq", "d_model", "x1", "x10", "x2", "_a", "Z"]


@st.composite
def monomials(draw):
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3))
    coef = draw(st.integers(-6, 6).filter(bool))
    d = Sym(names[0]) * coef
    for n in names[1:]:
        d = d * Sym(n)
    return d


def reference(d):
    """The same value computed by sympy alone, back in graphc's form."""
    return d if isinstance(d, int) else Sym.wrap(d.expr, simplified=True)


def equal(a, b) -> bool:
    if isinstance(a, int) or isinstance(b, int):
        return a == b
    return sp.simplify(a.expr - b.expr) == 0


@settings(max_examples=150, deadline=None)
@given(monomials(), monomials(), st.integers(-4, 9))
def test_fast_monomials_agree_with_sympy(a, b, k):
    assert a.fast and b.fast
    for got, want in [
        (a * b, a.expr * b.expr), (a * k, a.expr * k), (a + b, a.expr + b.expr), (a - b, a.expr - b.expr),
        (-a, -a.expr), (a + a, 2 * a.expr),
    ] + ([(a // k, sp.floor(a.expr / k))] if k > 0 else []):
        want = Sym.wrap(sp.simplify(want))
        assert equal(got, want), (got, want)
        if not isinstance(got, int):
            # the fast form exactly for monomials, printed as sympy prints it
            assert got.fast == (want.fast if isinstance(want, Sym) else True)
            assert str(got) == _pretty(got.expr)
            assert got == want and hash(got) == hash(want) if got.fast else True


@settings(max_examples=100, deadline=None)
@given(monomials(), st.dictionaries(st.sampled_from(NAMES), st.integers(1, 50), max_size=4))
def test_fast_substitution_agrees_with_sympy(a, values):
    got = substitute(a, values)
    want = Sym.wrap(a.expr.subs({sp.Symbol(k, integer=True, positive=True): v for k, v in values.items()}),
                    simplified=True)
    assert equal(got, want) and (isinstance(got, int) == isinstance(want, int))


def test_sums_of_one_monomial_stay_fast_and_others_use_sympy():
    B, T = Sym("B"), Sym("T")
    bt = B * T
    assert dim_sum([bt * 3, bt * 5, 7]).expr == (8 * bt + 7).expr
    assert (bt * 3 + bt * 5).fast and str(bt * 8) == "8*B*T" and str(-(B * T * T)) == "-B*T^2"
    mixed = bt + B
    assert not mixed.fast and str(mixed) == "B*(T + 1)"
    assert (bt * 6) // 3 == bt * 2 and not ((bt * 7) // 2).fast


def test_sequence_models_check_without_sympy():
    """An LSTM model's shapes and MACs (B*T*...) are monomials: its check needs no sympy."""
    code = ("import sys; from graphc.cli import main; "
            "rc = main(['check', 'models/char_rnn.model', 'models/lstm_classifier.model']); "
            "print(rc, 'sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 False", out.stdout + out.stderr
