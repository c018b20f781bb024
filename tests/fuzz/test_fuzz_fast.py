"""A fast slice of the differential fuzzing (tests/fuzz/run.py runs the full count)."""

import pytest

pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.fuzz.harness import compare  # noqa: E402
from tests.fuzz.strategies import STRATEGIES  # noqa: E402


@pytest.mark.parametrize("kind", sorted(STRATEGIES))
def test_graphc_agrees_with_torch(kind):
    @settings(max_examples=25, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(STRATEGIES[kind])
    def check(case):
        params, shapes, dtype = case
        out = compare(kind, params, shapes, dtype)
        assert out.ok, f"{kind} {params} {shapes} {dtype}: {out}"

    check()
