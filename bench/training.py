"""4. Training throughput: the generated training scripts versus tight hand-written loops
(bench/train_ref.py), for a classifier (the digits CNN), a language model (the GPT) and a
segmentation model (the U-Net), each pair in the same run, alternating."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench.common import PY, ROOT, bench_env, graphc_cmd, log, median, paired, table, tmpdir

GOAL = 0.95

# name -> what is trained: model file, epochs, repeats (full run), the data file's script and
# arguments (written into the run's directory, read by both loops), the validation accuracy the
# time-to-target column waits for, and the line that says what it is.
CASES = {
    "digits": dict(file="models/digits.model", epochs=15, repeats=7, data=None, target=0.97,
                   what="models/digits.model (a CNN classifier), batch 64, AdamW + warmup/cosine"),
    "gpt": dict(file="models/gpt.model", epochs=6, repeats=3, data=None, target=None,
                what="models/gpt.model (a language model: 4 blocks, width 128, (B, 64, 65) scores), "
                     "the shipped passage in windows of 64 characters, batch 32, AdamW, clip_grad_norm 1"),
    "unet": dict(file="models/unet.model", epochs=4, repeats=3,
                 data=("make_shapes.py", "--n", "160", "--out", "shapes.npz"), target=None,
                 what="models/unet.model (segmentation: (B, 2, 32, 32) scores), 160 generated shapes "
                      "(models/data/make_shapes.py --n 160), batch 16, Adam"),
}


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def run(quick: bool, device: str = "cpu", only: list[str] | None = None) -> str:
    parts = []
    for name in only or list(CASES):
        text = run_case(name, quick, device)
        parts += [f"### {name}", "", text, ""]
    return "\n".join(parts).rstrip()


def train_pair(name: str, case: dict, device: str, epochs: int, repeats: int, *, gen_args=(), ref_args=(),
               tmp: Path | None = None) -> dict[str, list[tuple[float, list[dict]]]] | str:
    """Build ``case["file"]``, make its data, and train it ``repeats`` times with the generated script and
    with bench/train_ref.py (``--model name``), alternating which goes first. Returns, for each, the
    (process wall time, metrics.jsonl records) of every run, or the text of a failure. Shared with
    bench/gpu.py, which passes its own cases, devices and flags."""
    stem = Path(case["file"]).stem
    tmp = tmp or tmpdir(f"bench_train_{name}_")
    build = tmp / "build"
    subprocess.run(graphc_cmd("build", str(case["file"]), "-o", str(build), "-q"), cwd=ROOT, check=True)
    if case["data"]:  # both loops read it from the directory they run in
        subprocess.run([PY, str(ROOT / "models/data" / case["data"][0]), *case["data"][1:]], cwd=tmp, check=True)
    cmds = {
        "generated": lambda out: [PY, str(build / f"train_{stem}.py"), "--epochs", str(epochs), "--quiet",
                                  "--device", device, "--out", str(out), *gen_args],
        "hand-written": lambda out: [PY, str(ROOT / "bench/train_ref.py"), "--model", name, "--model-dir",
                                     str(build), "--epochs", str(epochs), "--device", device, "--out", str(out),
                                     *ref_args],
    }
    env = {**bench_env(), "PYTHONPATH": str(ROOT)}  # the reference reads the GPT's passage from graphc
    runs: dict[str, list[tuple[float, list[dict]]]] = {k: [] for k in cmds}
    for r in range(repeats):
        for who in (list(cmds) if r % 2 == 0 else list(cmds)[::-1]):
            log(f"training {name} ({device}): {who}, run {r + 1}/{repeats}")
            out = tmp / f"{who}-{r}"
            t0 = time.perf_counter()
            p = subprocess.run(cmds[who](out), cwd=tmp, env=env, capture_output=True, text=True)
            if p.returncode != 0:
                return f"`{who}` training of {name} failed (exit {p.returncode}):\n\n```\n{p.stderr[-1500:]}\n```"
            runs[who].append((time.perf_counter() - t0, read_metrics(out)))
    return runs


def samples_per_second(runs: dict[str, list[tuple[float, list[dict]]]]) -> dict[str, list[float]]:
    """Each run's training samples / its median epoch time, epoch 1 (warm-up, compilation) aside."""
    n_train = runs["hand-written"][0][1][0]["train_samples"]  # the same split in both
    return {who: [n_train / median(m["seconds"] for m in ms[1:]) for _, ms in rs] for who, rs in runs.items()}


def run_case(name: str, quick: bool, device: str) -> str:
    case = CASES[name]
    gpu = device == "cuda"
    epochs, repeats = case["epochs"], (1 if quick else case["repeats"])
    runs = train_pair(name, case, device, epochs, repeats,
                      gen_args=["--precision", "bf16", "--compile"] if gpu else [],
                      ref_args=["--bf16", "--compile"] if gpu else [])
    if isinstance(runs, str):
        return runs
    n_train = runs["hand-written"][0][1][0]["train_samples"]  # the same split in both
    stats, per_run = {}, samples_per_second(runs)
    for who, rs in runs.items():
        to_target = []
        for _, ms in rs:
            t = 0.0
            for m in ms:
                t += m["seconds"]
                if case["target"] and (m.get("val_accuracy") or m.get("val_pixel_accuracy") or 0) >= case["target"]:
                    to_target.append((t, m["epoch"]))
                    break
        last = [ms[-1].get("val_accuracy", ms[-1].get("val_pixel_accuracy")) for _, ms in rs]
        stats[who] = {
            "epoch": median(m["seconds"] for _, ms in rs for m in ms[1:]),
            "first": median(ms[0]["seconds"] for _, ms in rs),
            "wall": median(w for w, _ in rs),
            "acc": median(a for a in last if a is not None) if any(a is not None for a in last) else None,
            "target": (median(t for t, _ in to_target), median(e for _, e in to_target))
            if case["target"] and len(to_target) == len(rs) else None,
        }
    headers = ["training code", "samples/s", "epoch time", "epoch 1"]
    if case["target"]:
        headers.append(f"time to {case['target']:.0%} val acc")
    headers += ["final val acc", "process wall time"]
    rows = []
    for who, s in stats.items():
        row = [who, f"{n_train / s['epoch']:,.0f}", f"{s['epoch'] * 1e3:.1f} ms", f"{s['first']:.2f} s"]
        if case["target"]:
            row.append(f"{s['target'][0]:.2f} s (epoch {s['target'][1]:g})" if s["target"] else "not reached")
        row += [f"{s['acc']:.4f}" if s["acc"] is not None else "-", f"{s['wall']:.1f} s"]
        rows.append(row)
    _, ratio, ok = paired(per_run["generated"], per_run["hand-written"], GOAL, at_least=True)
    how = "CUDA, bf16 autocast, torch.compile" if gpu else "CPU, fp32"
    out = [f"{case['what']}; {epochs} epochs, {n_train:,} training samples, {how}; {repeats} run(s) each, "
           "alternating. Throughput = training samples / median epoch time over epochs 2 to N of every run; "
           "epoch time is training plus validation, as the generated script's `seconds` records it (start-up, "
           "data loading and checkpoint writes are outside it). The loop uses the generated model class, so "
           "only the training code differs. Final val acc: of the samples, the tokens or the pixels.", "",
           table(headers, rows), "",
           f"Goal: generated / hand-written samples/s ≥ {GOAL}: {ratio} {ok} (median [interquartile range] "
           "of the ratios of the two runs of each round, each run's samples/s from its median epoch)."]
    return "\n".join(out)


if __name__ == "__main__":  # python -m bench.training [--quick] [digits|gpt|unet ...]: this section alone
    from bench.common import set_threads

    set_threads(1)
    argv = sys.argv[1:]
    print(run("--quick" in argv, only=[a for a in argv if a in CASES] or None))
