"""The init section: ``init { Conv2d = kaiming_normal(...)  weight = ...  bias = zeros() }``,
one initializer for every layer of a kind, or for every weight or bias."""

from __future__ import annotations

from graphc import ast as A
from graphc.lower.env import _Env


class InitSection:
    """The init section (a mixin of graphc.lower.Lowerer)."""

    def init_section(self, st: A.InitBlock, env: _Env) -> None:
        """``init { Conv2d = kaiming_normal(...)  weight = ...  bias = zeros() }``."""
        for s in st.settings:
            key = s.name.id
            if key in self.init_rules:
                self.error(s.name.span, "duplicate-name", f"'{key}' is already initialized above")
                continue
            if key not in ("weight", "bias"):
                layer = self.reg.get(key)
                if layer is None or layer.torch_name is None:
                    self.error(s.name.span, "unknown-layer", f"'{key}' is not a layer with parameters",
                               self.suggest(key, self.reg.module_kinds() +
                                            ["weight", "bias"]) or
                               "keys are layer kinds (Conv2d, Linear...), 'weight' or 'bias'")
                    continue
            init = self.initializer(s.value, env)
            if init is not None:
                self.init_rules[key] = (init, s.value.span)
