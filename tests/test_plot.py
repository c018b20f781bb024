"""graphc plot: curves from metrics.jsonl."""

import json

import pytest
from conftest import run_graphc

pytest.importorskip("matplotlib")


def test_plot_writes_png(tmp_path):
    recs = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "val_accuracy": 1 - 0.5 / e,
             "lr": 0.1 * 0.9 ** e, "seconds": 0.1, "world_size": 1} for e in range(1, 6)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    proc = run_graphc("plot", tmp_path)
    assert proc.returncode == 0, proc.stderr
    png = (tmp_path / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_plot_errors_are_clear(tmp_path):
    proc = run_graphc("plot", tmp_path / "nope")
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\nnot json\n')
    proc = run_graphc("plot", tmp_path)
    assert proc.returncode == 2 and "metrics.jsonl:2: not a JSON object" in proc.stderr
