"""A fast run of the sharing and tying differential fuzzer (tests/fuzz/sharing.py)."""

import pytest
from hypothesis import HealthCheck, given, seed, settings

pytest.importorskip("torch")

from tests.fuzz.sharing import CASES, Case, compare  # noqa: E402


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@seed(0)
@given(CASES)
def test_sharing_agrees_with_torch(case):
    assert compare(case) == []


def test_the_fuzzer_can_fail(monkeypatch):
    """With the second use's size check switched off, the fuzzer finds the disagreement."""
    from graphc.lower import sharing

    monkeypatch.setattr(sharing, "check_shared", lambda prog: [])
    import graphc.infer as infer_mod

    monkeypatch.setattr(infer_mod, "check_shared", lambda prog: [])
    assert compare(Case(n1=3, n2=4, k1=2, k2=2, block=False, tie=False)) != []
