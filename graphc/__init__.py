"""graphc: a declarative model-graph compiler for PyTorch.

Describe a network in a ``.model`` file; graphc parses it, infers every tensor
shape statically, reports mistakes at their place in the file and writes
standalone PyTorch code and graphviz diagrams.  Checking and building never
import torch.
"""

__version__ = "0.1.0"

__all__ = ["Compilation", "compile", "__version__"]


def __getattr__(name):  # lazy: `import graphc` stays cheap
    if name in ("compile", "Compilation"):
        from graphc import api

        return getattr(api, name)
    raise AttributeError(f"module 'graphc' has no attribute {name!r}")
