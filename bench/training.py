"""4. Training throughput: the generated train_digits.py versus a tight hand-written loop."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from bench.common import PY, ROOT, bench_env, graphc_cmd, log, median, paired, table, tmpdir

GOAL, TARGET_ACC = 0.95, 0.97


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def run(quick: bool, device: str = "cpu") -> str:
    gpu = device == "cuda"
    epochs, repeats = 15, (1 if quick else 7)
    tmp = tmpdir("bench_train_")
    build = tmp / "build"
    subprocess.run(graphc_cmd("build", "models/digits.model", "-o", str(build), "-q"), cwd=ROOT, check=True)
    extra_gen = ["--precision", "bf16", "--compile"] if gpu else []
    extra_ref = ["--bf16", "--compile"] if gpu else []
    cmds = {
        "generated": lambda out: [PY, str(build / "train_digits.py"), "--epochs", str(epochs), "--quiet",
                                  "--device", device, "--out", str(out), *extra_gen],
        "hand-written": lambda out: [PY, str(ROOT / "bench/train_ref.py"), "--model-dir", str(build),
                                     "--epochs", str(epochs), "--device", device, "--out", str(out), *extra_ref],
    }
    runs: dict[str, list[tuple[float, list[dict]]]] = {k: [] for k in cmds}
    for r in range(repeats):
        for name in (list(cmds) if r % 2 == 0 else list(cmds)[::-1]):
            log(f"training ({device}): {name}, run {r + 1}/{repeats}")
            out = tmp / f"{name}-{r}"
            t0 = time.perf_counter()
            p = subprocess.run(cmds[name](out), cwd=ROOT, env=bench_env(), capture_output=True, text=True)
            if p.returncode != 0:
                return f"`{name}` training failed (exit {p.returncode}):\n\n```\n{p.stderr[-1500:]}\n```"
            runs[name].append((time.perf_counter() - t0, read_metrics(out)))

    n_train = runs["hand-written"][0][1][0]["train_samples"]  # the same split in both
    stats, per_run = {}, {}
    for name, rs in runs.items():
        # epoch 1 (warm-up, compilation) aside
        per_run[name] = [n_train / median(m["seconds"] for m in ms[1:]) for _, ms in rs]
        epoch_s = [m["seconds"] for _, ms in rs for m in ms[1:]]
        to_target = []
        for _, ms in rs:
            t = 0.0
            for m in ms:
                t += m["seconds"]
                if (m.get("val_accuracy") or 0) >= TARGET_ACC:
                    to_target.append((t, m["epoch"]))
                    break
        stats[name] = {
            "epoch": median(epoch_s),
            "first": median(ms[0]["seconds"] for _, ms in rs),
            "wall": median(w for w, _ in rs),
            "acc": median(ms[-1]["val_accuracy"] for _, ms in rs),
            "target": (median(t for t, _ in to_target), median(e for _, e in to_target))
            if len(to_target) == len(rs) else None,
        }
    rows = []
    for name, s in stats.items():
        tt = f"{s['target'][0]:.2f} s (epoch {s['target'][1]:g})" if s["target"] else "not reached"
        rows.append([name, f"{n_train / s['epoch']:,.0f}", f"{s['epoch'] * 1e3:.1f} ms", f"{s['first']:.2f} s",
                     tt, f"{s['acc']:.4f}", f"{s['wall']:.1f} s"])
    _, ratio, ok = paired(per_run["generated"], per_run["hand-written"], GOAL, at_least=True)
    how = "CUDA, bf16 autocast, torch.compile" if gpu else "CPU, fp32"
    out = [f"models/digits.model, {epochs} epochs, batch 64, AdamW + warmup/cosine, {n_train:,} training "
           f"samples, {how}; {repeats} run(s) each, alternating. Throughput = training samples / median "
           "epoch time over epochs 2 to N of every run; epoch time is training plus validation, as the "
           "generated script's `seconds` records it (start-up, data loading and checkpoint writes are "
           "outside it). Time to 97% is the sum of epoch times up to the first epoch at ≥ 97% validation "
           "accuracy. The loop uses the generated DigitsCNN class, so only the training code differs.", "",
           table(["training code", "samples/s", "epoch time", "epoch 1", "time to 97% val acc",
                  "final val acc", "process wall time"], rows), "",
           f"Goal: generated / hand-written samples/s ≥ {GOAL}: {ratio} {ok} (median [interquartile range] "
           "of the ratios of the two runs of each round, each run's samples/s from its median epoch)."]
    return "\n".join(out)
