"""A fast slice of the tensor-expression differential test (tests/fuzz/expressions.py)."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.fuzz.expressions import cases, check  # noqa: E402


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(cases())
def test_tensor_expressions_agree_with_torch(case):
    text, ins = case
    problem = check(text, ins)
    assert problem is None, problem
