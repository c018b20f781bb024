"""Streaming an image folder: the generated script against a hand-written DataLoader loop.

Two measurements (issue 18):

1. samples/s of training on a folder of PNGs, the generated ``train_<stem>.py`` (image_folder,
   ``num_workers`` workers, no validation) against a hand-written loop with the same model,
   optimizer, batch size, PIL decoding and bilinear resizing (PIL's default would be bicubic,
   more work than the generated script does) and a ``DataLoader`` with the same workers; each run's
   epochs after the first are timed (the generated script's ``seconds`` in metrics.jsonl, the
   loop's own clock), goal ratio >= 0.95;
2. peak memory (RSS of the script and its workers together, sampled every 20 ms) training one
   epoch on a folder and on a folder ten times larger, goal: flat.

    PYTHONPATH=. .venv/bin/python -m bench.streaming [--images 3000] [--workers 2] [--repeats 7] [--epochs 4]

With 600 images an epoch lasts about 0.3 s on an idle 2-core machine and single epochs vary by
±20%; 3,000 images (about 1.2 s an epoch) is the default.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.common import PY, ROOT, bench_env, graphc_cmd, log, median, tmpdir

MODEL = """model Stream {
    input image: [B, 3, 32, 32]
    h = image -> Conv2d(16, 3, padding=1) -> ReLU -> MaxPool2d(2) -> Conv2d(32, 3, padding=1) -> ReLU
    logits = h -> AdaptiveAvgPool2d(1) -> Flatten -> Linear(10)
    output logits
    train {
        data = image_folder("IMAGES", size=(32, 32))
        loss = CrossEntropyLoss()
        optimizer = SGD(lr=0.01)
        batch_size = 64
        val_split = 0
        num_workers = WORKERS
    }
}
"""

#: the hand-written loop: what a PyTorch user writes for the same job
HAND = '''
import json, sys, time
from pathlib import Path
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, sys.argv[1])
from stream import Stream

root, epochs, workers, out = Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
classes = sorted(p.name for p in root.iterdir() if p.is_dir())
files = [(str(f), i) for i, c in enumerate(classes) for f in sorted((root / c).iterdir())]


class Folder(torch.utils.data.Dataset):
    def __len__(self):
        return len(files)

    def __getitem__(self, i):
        path, label = files[i]
        with Image.open(path) as img:
            a = np.asarray(img.convert("RGB").resize((32, 32), Image.BILINEAR), dtype=np.uint8)
        return torch.from_numpy(a.copy()).permute(2, 0, 1).float() / 255.0, label


torch.manual_seed(0)
model = Stream()
opt = torch.optim.SGD(model.parameters(), lr=0.01)
loss_fn = torch.nn.CrossEntropyLoss()
loader = torch.utils.data.DataLoader(Folder(), batch_size=64, shuffle=True, num_workers=workers,
                                     persistent_workers=workers > 0)
with open(out, "w") as f:
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        for x, y in loader:
            loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        f.write(json.dumps({"epoch": epoch, "seconds": time.perf_counter() - t0}) + "\\n")
'''


def make_folder(root: Path, n: int) -> Path:
    """n 40x36 PNGs of random pixels in 10 class folders."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        d = root / f"class{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return root


def _tree_rss(pid: int) -> int:
    """RSS in bytes of a process and all its descendants (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return total


def run_peak(cmd: list[str], cwd: Path) -> tuple[float, int]:
    """(seconds, peak RSS of the process tree) of a command."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=bench_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, done = 0, threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.02)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate()
    done.set()
    t.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    return time.perf_counter() - t0, peak


def build(tmp: Path, images: Path, workers: int, stem: str) -> Path:
    src = tmp / f"{stem}.model"
    src.write_text(MODEL.replace("IMAGES", str(images)).replace("WORKERS", str(workers)).replace("Stream", stem.title()))
    subprocess.run(graphc_cmd("build", str(src), "-o", str(tmp / stem), "-q"), cwd=ROOT, check=True)
    return tmp / stem / f"train_{stem}.py"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    tmp = tmpdir("bench_stream_")
    log(f"writing {args.images} and {10 * args.images} PNGs under {tmp}")
    small = make_folder(tmp / "small", args.images)
    large = make_folder(tmp / "large", 10 * args.images)
    script = build(tmp, small, args.workers, "stream")
    hand = tmp / "hand.py"
    hand.write_text(HAND)

    rates: dict[str, list[float]] = {"generated": [], "hand-written": []}
    for r in range(args.repeats):
        for name in (["generated", "hand-written"] if r % 2 == 0 else ["hand-written", "generated"]):
            log(f"{name}, run {r + 1}/{args.repeats}")
            out = tmp / f"{name}-{r}"
            if name == "generated":
                cmd = [PY, str(script), "--epochs", str(args.epochs), "--quiet", "--device", "cpu", "--out", str(out)]
                subprocess.run(cmd, cwd=tmp, env=bench_env(), check=True, capture_output=True)
                recs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
            else:
                out.mkdir()
                cmd = [PY, str(hand), str(script.parent), str(small), str(args.epochs), str(args.workers),
                       str(out / "m.jsonl")]
                subprocess.run(cmd, cwd=tmp, env=bench_env(), check=True, capture_output=True)
                recs = [json.loads(x) for x in (out / "m.jsonl").read_text().splitlines()]
            secs = [rec["seconds"] for rec in recs[1:]]  # the first epoch starts the workers
            rates[name].append(args.images / median(secs))
    gen, ref = median(rates["generated"]), median(rates["hand-written"])
    pairs = [g / h for g, h in zip(rates["generated"], rates["hand-written"], strict=True)]  # run r of each

    peaks = {}
    for label, folder in (("1x", small), ("10x", large)):
        s = build(tmp, folder, args.workers, f"peak{label[:-1]}")
        log(f"peak memory, {label} folder")
        secs, peak = run_peak([PY, str(s), "--epochs", "1", "--quiet", "--device", "cpu", "--out",
                               str(tmp / f"peak-{label}")], tmp)
        peaks[label] = (secs, peak)

    mib = 1 << 20
    lines = [f"Image folder of {args.images} PNGs (40x36, 10 classes), resized to 32x32 by PIL; "
             f"bilinear; {args.workers} workers, batch 64, SGD, CPU; {args.repeats} runs each, alternating; epochs after the "
             f"first timed (median).",
             "",
             "| loop | samples/s (median) | runs |",
             "|---|---|---|",
             f"| generated (`image_folder`, `num_workers = {args.workers}`) | {gen:.0f} | "
             f"{', '.join(f'{x:.0f}' for x in rates['generated'])} |",
             f"| hand-written DataLoader loop | {ref:.0f} | {', '.join(f'{x:.0f}' for x in rates['hand-written'])} |",
             "",
             f"generated / hand-written: **{gen / ref:.2f}** of the medians, {median(pairs):.2f} the median of the "
             f"pairs ({', '.join(f'{x:.2f}' for x in pairs)}) (goal >= 0.95)",
             "",
             "| folder | images | one epoch, wall (with start) | peak RSS, script + workers |",
             "|---|---|---|---|",
             *(f"| {label} | {args.images * (10 if label == '10x' else 1)} | {secs:.1f} s | {peak / mib:.0f} MiB |"
               for label, (secs, peak) in peaks.items()),
             "",
             f"10x / 1x peak RSS: **{peaks['10x'][1] / peaks['1x'][1]:.2f}** (goal: flat)"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
