"""Your own layers: a plugin is a Python module that registers ``graphc.layers.base.Layer``
subclasses with ``@register``, exactly as the built-in layers are written (schema, shape rule,
parameter count, MACs, samples), and names the ``nn.Module`` the generated code builds: a torch
module (``torch_name = "nn.Mish"``) or its own (``torch_name = "Snake"`` with ``imports =
("from my_layers.torch import Snake",)``, which the generated module then imports).

graphc finds plugins

- through the ``graphc.layers`` entry-point group of installed packages, loaded the first time a
  file names a kind graphc does not know (so a file of built-in layers never pays for them);
- from files named with ``--plugin FILE.py`` (any command that compiles) or in the
  ``GRAPHC_PLUGINS`` environment variable (paths separated by ``os.pathsep``).

A file beside a model is not run unless named: checking a .model file must not execute code
it did not ask for.  A plugin module must not import torch (``graphc check`` never does);
``graphc.testing.check_layer`` runs a plugin's samples against torch as the built-ins' are.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ENTRY_POINT_GROUP = "graphc.layers"
_entry_points_loaded = False
_files_loaded: set[str] = set()


class PluginError(Exception):
    """A plugin that cannot be loaded: the message says which and why."""


def load_entry_points() -> list[str]:
    """Import every module of the ``graphc.layers`` entry points, once; their names."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return []
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    loaded = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        before = _registered()
        try:
            ep.load()
            _check_new(before)
        except Exception as e:  # noqa: BLE001 - a broken plugin is named, and the rest still load
            print(f"graphc: warning: plugin {ep.name} ({ep.value}) failed to load: "
                  f"{type(e).__name__}: {e}", file=sys.stderr)
            _unregister_new(before)
            continue
        loaded.append(ep.name)
    return loaded


def load_file(path: str | os.PathLike) -> None:
    """Import a plugin file once (its directory goes on sys.path, so the torch modules beside it
    import in the generated code's tests too)."""
    p = Path(path).resolve()
    if str(p) in _files_loaded:
        return
    if not p.is_file() or p.suffix != ".py":
        raise PluginError(f"plugin {path}: not a .py file")
    name = f"graphc_plugin_{p.stem}"
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin {path}: cannot be imported")
    if str(p.parent) not in sys.path:
        sys.path.insert(0, str(p.parent))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    before = _registered()
    try:
        spec.loader.exec_module(module)
        _check_new(before)
    except Exception as e:
        del sys.modules[name]
        _unregister_new(before)
        if isinstance(e, PluginError):
            raise PluginError(f"plugin {path}: {e}") from None
        raise PluginError(f"plugin {path} failed to load: {type(e).__name__}: {e}") from None
    _files_loaded.add(str(p))


def load_files(paths=()) -> None:
    """``--plugin`` files, then those of ``GRAPHC_PLUGINS``."""
    env = [p for p in os.environ.get("GRAPHC_PLUGINS", "").split(os.pathsep) if p]
    for p in [*paths, *env]:
        load_file(p)


def _registered() -> set[str]:
    from graphc.layers.base import REGISTRY

    return set(REGISTRY)


def _check_new(before: set[str]) -> None:
    """The layers a plugin registered: their import lines must be plain import statements."""
    from graphc.layers.base import REGISTRY

    for kind in set(REGISTRY) - before:
        check_imports(REGISTRY[kind].imports)


def _unregister_new(before: set[str]) -> None:
    from graphc.layers.base import REGISTRY

    for kind in set(REGISTRY) - before:
        del REGISTRY[kind]


def check_imports(lines) -> None:
    """A layer's ``imports`` must each be one plain import statement (they are written into the
    generated module as they are)."""
    import ast

    for line in lines:
        try:
            tree = ast.parse(line)
        except SyntaxError:
            raise PluginError(f"a layer's imports line is not Python: {line!r}") from None
        if len(tree.body) != 1 or not isinstance(tree.body[0], (ast.Import, ast.ImportFrom)) or "\n" in line:
            raise PluginError(f"a layer's imports line must be one import statement: {line!r}")
