"""The wheel carries the grammar: built, installed into a fresh venv, used outside the tree."""

import os
import shutil
import subprocess
import sys
import venv

import pytest
from conftest import MODELS, ROOT


@pytest.mark.slow
def test_wheel_installs_and_checks_outside_the_source_tree(tmp_path):
    dist = tmp_path / "dist"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist),
                           str(ROOT)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    wheel = next(dist.glob("graphc-*.whl"))
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "graphc/grammars/model.lark" in names

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    proc = subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(wheel)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr

    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(MODELS / "resnet18.model", work)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    graphc = env_dir / "bin" / "graphc"
    proc = subprocess.run([str(graphc), "check", "resnet18.model"], capture_output=True, text=True,
                          cwd=work, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([str(graphc), "build", "resnet18.model", "-o", "gen"], capture_output=True,
                          text=True, cwd=work, env=env)
    assert proc.returncode == 0 and (work / "gen" / "resnet18.py").exists()
    # and the installed package is the one that ran, not the source tree
    proc = subprocess.run([str(py), "-c", "import graphc.syntax as s; print(s.grammar_path())"],
                          capture_output=True, text=True, cwd=work, env=env)
    assert str(env_dir) in proc.stdout, proc.stdout
