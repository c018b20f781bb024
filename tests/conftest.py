import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# One torch thread in the test processes and every process they start (set before any test
# module imports torch): `make test` runs a worker per core, and torch's default of a thread per
# core in each worker and each training script it starts oversubscribed the cores, which made
# small training runs many times slower on a busy machine.  A test may still ask for more.
os.environ.setdefault("OMP_NUM_THREADS", "1")

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


RUN_IN_ONE = """
import contextlib, io, json, os, runpy, sys, traceback

results = {}
for name, script, args, cwd in json.loads(sys.argv[1]):
    os.chdir(cwd)
    sys.argv = [script, *args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            traceback.print_exc(file=err)  # as python would
            code = 1
    results[name] = {"returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
    sys.modules.pop(os.path.basename(script)[len("train_"):-len(".py")], None)
print(json.dumps(results))
"""


def run_scripts(runs, timeout=600):
    """Run generated training scripts one after the other, each as ``python SCRIPT ARGS`` in
    ``cwd`` would run it, but in one process on one torch thread: torch is imported once for all
    of them (each python+torch start costs a second or two).  ``runs``: (name, script, args, cwd);
    the result: name -> {"returncode", "stdout", "stderr"}."""
    jobs = [[name, str(script), list(map(str, args)), str(cwd or ROOT)] for name, script, args, cwd in runs]
    proc = subprocess.run([sys.executable, "-c", RUN_IN_ONE, json.dumps(jobs)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def graphc_cli():
    return run_graphc


def import_generated(path: Path, name: str):
    import importlib.util

    if path.stem.startswith("train_"):  # the script imports its model module by its bare name: not
        sys.modules.pop(path.stem[6:], None)  # one of that name another test of this worker imported
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
