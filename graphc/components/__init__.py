"""Training components: losses, optimizers, schedulers, data sets and initializers.

One class per component, registered by decorator, in the module of its kind
(``losses.py``, ``optimizers.py``, ``schedulers.py``, ``datasets.py``,
``initializers.py``); ``base.py`` holds the contract.  ``registry(kind)`` gives every
component of a kind by name.
"""

from graphc.components.base import KINDS, Component, Sample, register, registry

__all__ = ["KINDS", "Component", "Sample", "register", "registry"]
