"""``graphc plot RUN_DIR``: loss, accuracy and learning-rate curves from metrics.jsonl.

Needs matplotlib (the ``plot`` extra); reading and validating the records does not.
"""

from __future__ import annotations

import json
from pathlib import Path


class PlotError(Exception):
    pass


def read_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise PlotError(f"{path} does not exist: is {run_dir} a training run's --out directory?")
    records = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise PlotError(f"{path}:{i}: not a JSON object ({e.msg})") from None
        if not isinstance(rec, dict) or "epoch" not in rec:
            raise PlotError(f"{path}:{i}: a record needs an 'epoch'")
        records.append(rec)
    if not records:
        raise PlotError(f"{path} has no epochs yet")
    return records


def plot(run_dir: Path, out: Path | None = None) -> Path:
    records = read_metrics(run_dir)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError("graphc plot needs matplotlib: pip install 'graphc[plot]'") from None
    out = out or run_dir / "curves.png"
    epochs = [r["epoch"] for r in records]

    def series(key):
        pts = [(e, r[key]) for e, r in zip(epochs, records) if isinstance(r.get(key), (int, float))]
        return [p[0] for p in pts], [p[1] for p in pts]

    has_acc = bool(series("val_accuracy")[0])
    fig, axes = plt.subplots(1, 3 if has_acc else 2, figsize=(13 if has_acc else 9, 3.6))
    ax = axes[0]
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        x, y = series(key)
        if x:
            ax.plot(x, y, marker="o", markersize=3, label=label)
    ax.set_title("loss")
    ax.set_xlabel("epoch")
    ax.legend()
    ax.grid(alpha=0.3)
    if has_acc:
        ax = axes[1]
        x, y = series("val_accuracy")
        ax.plot(x, y, marker="o", markersize=3, color="tab:green")
        best = max(range(len(y)), key=y.__getitem__)
        ax.annotate(f"{y[best]:.4f}", (x[best], y[best]), textcoords="offset points", xytext=(0, -14),
                    ha="center", fontsize=8)
        ax.set_title("validation accuracy")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    ax = axes[-1]
    x, y = series("lr")
    ax.plot(x, y, marker="o", markersize=3, color="tab:purple")
    ax.set_title("learning rate")
    ax.set_xlabel("epoch")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    ax.grid(alpha=0.3)
    fig.suptitle(f"{run_dir.name}: {len(records)} epochs", fontsize=10)
    fig.tight_layout()
    tmp = out.with_name(out.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)
    return out
