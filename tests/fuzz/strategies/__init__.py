"""Hypothesis strategies, one per layer kind: each draws (params, input shapes, dtype).

Every module in this package defines ``STRATEGIES = {kind: strategy}``; they are
collected here.  A strategy should draw valid and invalid configurations alike
(kernels larger than the input, indivisible groups, out-of-range dims...): the
harness checks that graphc rejects exactly what torch rejects.
"""

import importlib
import pkgutil

STRATEGIES = {}
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    _mod = importlib.import_module(f"{__name__}.{_info.name}")
    for _kind, _st in getattr(_mod, "STRATEGIES", {}).items():
        assert _kind not in STRATEGIES, f"two strategies for {_kind}"
        STRATEGIES[_kind] = _st
