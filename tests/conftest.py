import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


def run_graphc(*args, cwd=None, env=None, input=None):
    """Run the CLI in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "graphc", *map(str, args)],
        capture_output=True, text=True, cwd=cwd or ROOT, env={**os.environ, **(env or {})}, input=input,
        timeout=300,
    )


def build_scripts(tmp_path, src, stem):
    """What `graphc build` writes for ``src``, in tmp_path/gen_<stem>: the module and the
    training script (tests/test_training.py runs the command itself); the script's path."""
    from graphc.api import compile_source

    comp = compile_source(src, f"{stem}.model")
    assert comp.ok, comp.diagnostics
    gen = tmp_path / f"gen_{stem}"
    gen.mkdir()
    (gen / f"{stem}.py").write_text(comp.python_source())
    (gen / f"train_{stem}.py").write_text(comp.train_source())
    return gen / f"train_{stem}.py"


@pytest.fixture
def graphc_cli():
    return run_graphc


def import_generated(path: Path, name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
