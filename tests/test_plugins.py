"""Your own layers (graphc.plugins): a Snake activation with a learned frequency per channel,
written as a plugin file (graphc's side: schema, shape rule, count, samples) beside its torch
module, found with --plugin, through GRAPHC_PLUGINS, or through an installed package's entry
point; checked against torch by graphc.testing.check_layer as the built-ins are; and imported by
the generated module."""

import json
import subprocess
import sys
import textwrap

import pytest
from conftest import run_graphc

TORCH_MODULE = '''
import torch
from torch import nn


class Snake(nn.Module):
    """x + sin(a x)^2 / a, a learned per channel (Ziyin et al. 2020)."""

    def __init__(self, channels, alpha=1.0):
        super().__init__()
        self.alpha = nn.Parameter(torch.full((channels,), float(alpha)))

    def forward(self, x):
        a = self.alpha.view(1, -1, *([1] * (x.dim() - 2)))
        return x + torch.sin(a * x) ** 2 / a
'''

PLUGIN = '''
from graphc.layers.base import Layer, Params, Sample, ShapeError, TensorType, Weight, register


@register
class Snake(Layer):
    """Snake activation, a frequency learned per channel (dim 1)."""

    torch_name = "Snake"
    imports = ("from snake_torch import Snake",)
    category = "activation"
    needs_float = True
    weights = (Weight("alpha", 1, shape=lambda c: (c["channels"],)),)

    class Params(Params):
        alpha: float = 1.0

    def infer(self, p, ins):
        (x,) = ins
        if len(x.shape) < 2 or not isinstance(x.shape[1], int):
            raise ShapeError(f"needs (N, C, ...) with a known C, got {x}", code="shape-rank")
        return [TensorType(x.shape, x.dtype)]

    def ctor(self, p, ins):
        return {"channels": ins[0].shape[1], "alpha": p.alpha}

    def param_count(self, p, ins):
        return COUNT(ins[0].shape[1])

    samples = (Sample({}, ((2, 3, 5),)), Sample({"alpha": 0.5}, ((2, 4),)))
'''

MODEL = """model Net {
    input x: [B, 8]
    y = x -> Linear(16) -> snake: Snake(alpha=0.5) -> Linear(2)
    output y
}
"""


@pytest.fixture
def plugin_dir(tmp_path):
    (tmp_path / "snake_torch.py").write_text(TORCH_MODULE)
    (tmp_path / "snake_layers.py").write_text(PLUGIN.replace("COUNT(ins[0].shape[1])", "ins[0].shape[1]"))
    (tmp_path / "net.model").write_text(MODEL)
    return tmp_path


def _run(code: str, cwd, env=None):
    import os

    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True,
                          text=True, env=e, timeout=300)


def test_without_the_plugin_the_layer_is_unknown(plugin_dir):
    proc = run_graphc("check", "net.model", cwd=plugin_dir)
    assert proc.returncode == 1 and "unknown layer 'Snake'" in proc.stdout


def test_check_and_build_with_the_plugin_and_the_module_runs(plugin_dir):
    proc = run_graphc("check", "net.model", "--plugin", "snake_layers.py", cwd=plugin_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run_graphc("build", "net.model", "--plugin", "snake_layers.py", "-o", "gen", cwd=plugin_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    src = (plugin_dir / "gen" / "net.py").read_text()
    assert "from snake_torch import Snake" in src and "self.snake = Snake(16, alpha=0.5)" in src.replace(
        "Snake(channels=16", "Snake(16")
    run = _run("""
        import sys, torch
        sys.path[:0] = ['gen', '.']
        import net
        from snake_torch import Snake
        m = net.MODEL()
        x = torch.randn(3, 8)
        want = m.linear_1(Snake(16, 0.5).requires_grad_(False)(m.linear(x)))
        assert torch.allclose(m(x), want), (m(x), want)
        assert sum(p.numel() for p in m.parameters()) == 8 * 16 + 16 + 16 + 16 * 2 + 2
        print('ok')
    """, plugin_dir)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr
    summary = json.loads(run_graphc("summary", "net.model", "--plugin", "snake_layers.py", "--format", "json",
                                    cwd=plugin_dir).stdout)
    assert summary["total_params"] == 8 * 16 + 16 + 16 + 16 * 2 + 2


def test_check_with_a_plugin_never_imports_torch(plugin_dir):
    run = _run("""
        import sys
        from graphc.cli import main
        rc = main(['check', 'net.model', '--plugin', 'snake_layers.py'])
        assert rc == 0
        assert 'torch' not in sys.modules
        print('ok')
    """, plugin_dir)
    assert run.returncode == 0 and "ok" in run.stdout, run.stdout + run.stderr


def test_the_environment_variable_and_an_entry_point_find_it(plugin_dir):
    proc = run_graphc("check", "net.model", cwd=plugin_dir, env={"GRAPHC_PLUGINS": "snake_layers.py"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dist = plugin_dir / "snake_plugin-0.1.dist-info"  # what installing a package with the entry point leaves
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: snake-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[graphc.layers]\nsnake = snake_layers\n")
    proc = run_graphc("check", "net.model", cwd=plugin_dir, env={"PYTHONPATH": str(plugin_dir)})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_check_layer_runs_the_samples_in_torch_and_catches_a_wrong_rule(plugin_dir):
    pytest.importorskip("torch")
    run = _run("""
        import sys
        sys.path.insert(0, '.')
        import snake_layers
        from graphc.testing import check_layer
        check_layer('Snake')
        print('ok')
    """, plugin_dir)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr
    (plugin_dir / "wrong_layers.py").write_text(
        PLUGIN.replace("COUNT(ins[0].shape[1])", "2 * ins[0].shape[1]").replace("class Snake", "class Snake2")
        .replace('"Snake"', '"Snake"'))
    run = _run("""
        import sys
        sys.path.insert(0, '.')
        import wrong_layers
        from graphc.testing import check_layer
        try:
            check_layer('Snake2')
        except AssertionError as e:
            print('caught', e)
    """, plugin_dir)
    assert "caught" in run.stdout and "graphc counts 6 parameters, torch 3" in run.stdout, run.stdout + run.stderr


def test_a_broken_plugin_is_a_usage_error_not_a_traceback(plugin_dir):
    (plugin_dir / "broken.py").write_text("raise ValueError('nope')\n")
    proc = run_graphc("check", "net.model", "--plugin", "broken.py", cwd=plugin_dir)
    assert proc.returncode == 2 and "plugin broken.py failed to load: ValueError: nope" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_imports_line_that_is_not_one_import_is_refused_when_the_plugin_loads(plugin_dir):
    (plugin_dir / "bad_layers.py").write_text(PLUGIN.replace("COUNT(ins[0].shape[1])", "ins[0].shape[1]").replace(
        '"from snake_torch import Snake",', '"import snake_torch; print(1)",'))
    proc = run_graphc("check", "net.model", "--plugin", "bad_layers.py", cwd=plugin_dir)
    assert proc.returncode == 2 and "must be one import statement" in proc.stderr and "bug" not in proc.stderr


def test_names_the_plugins_imports_bind_are_kept_free(plugin_dir):
    """A model named like the imported class is renamed, not shadowing it."""
    (plugin_dir / "snake.model").write_text(MODEL.replace("model Net", "model Snake"))
    proc = run_graphc("build", "snake.model", "--plugin", "snake_layers.py", "-o", "gen", cwd=plugin_dir)
    assert proc.returncode == 0, proc.stderr
    run = _run("""
        import sys, torch
        sys.path[:0] = ['gen', '.']
        import snake
        m = snake.MODEL()
        print(type(m).__name__, tuple(m(torch.randn(2, 8)).shape))
    """, plugin_dir)
    assert run.returncode == 0 and run.stdout.startswith("Snake_") and "(2, 2)" in run.stdout, run.stdout + run.stderr
