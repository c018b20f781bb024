"""The GPU bench of issue 23: ``python -m bench.gpu [--device cuda] [--models digits,resnet50,gpt]
[--steps N] [--epochs N] [--repeats N] [--output FILE] [--json FILE]``.

For each model, on CUDA with bf16 autocast and ``--compile``:

- **samples/s** of the generated training script against the tight hand-written loop of
  bench/train_ref.py, the two alternating in the same run (bench/training.py's ``train_pair``): the
  training samples over each run's median epoch time, epoch 1 (compilation) aside. An epoch's time
  is the script's ``seconds``: its training and its validation pass;
- **FLOPs per sample** of one training step: graphc's count (``graphc summary --format json``'s
  ``total_macs`` per sample, times 2 FLOPs per multiply-accumulate, times 3 for the forward and the
  backward pass, which computes two products per forward one), beside what
  ``torch.utils.flop_counter.FlopCounterMode`` counts for one step of the model, forward and backward;
- **MFU**, model FLOPs utilisation: the generated script's samples/s times graphc's FLOPs per
  sample, over the GPU's peak dense bf16 rate (``PEAK_BF16``). Epoch times include validation, so
  this is a slight under-estimate;
- **memory**: ``graphc summary FILE --world-size 1 --precision bf16 --batch-size B --format json``'s
  ``memory.total`` against ``torch.cuda.max_memory_allocated`` over three training steps taken with
  the generated script's own data, loss, optimizer and forward functions (its module imported), less
  the memory allocated before the model was made (the data set, which the script keeps on the device).

``--device cpu --smoke`` runs it all small on a CPU (fp32, no compile, two epochs, one run each,
``--steps 2``): it exercises the code, it measures nothing worth quoting (tests/test_gpu_bench.py).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import math
import subprocess
import sys
from pathlib import Path

from bench.common import ROOT, graphc_cmd, log, median, paired, table, tmpdir
from bench.training import GOAL, samples_per_second, train_pair

# Peak dense (not 2:4 sparse) bf16 tensor-core rates in TFLOPS, from NVIDIA's data sheets, which quote
# the sparse figure, twice these: H100 SXM / H200 SXM "1,979 teraFLOPS" BF16 Tensor Core (H100 PCIe
# 1,513), A100 "624" (SXM and PCIe), L4 "242.5". Matched against torch.cuda.get_device_name, in order:
# the first name that is a substring wins. Any other GPU: pass --peak-tflops.
PEAK_BF16 = [
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.5),  # "1,671 teraFLOPS" with sparsity, as the H200 NVL's
    ("H200 NVL", 835.5),
    ("H100", 989.0),  # "NVIDIA H100 80GB HBM3" is the SXM part
    ("H200", 989.0),
    ("A100", 312.0),
    ("L4", 121.0),
]

# name -> model file, batch size (as its train section), epochs and runs per loop on a GPU, how the
# data is made
MODELS = {
    "digits": dict(file="models/digits.model", batch=64, epochs=8, repeats=3),
    "resnet50": dict(file="models/resnet50.model", batch=64, epochs=5, repeats=3),
    "gpt": dict(file="models/gpt.model", batch=32, epochs=8, repeats=3),
}

# models/resnet50.model has no train section: this one, on random images (bench speed only)
RESNET_TRAIN = """
    train {
        data = npz("images.npz")
        val_split = 0.1
        loss = CrossEntropyLoss()
        optimizer = SGD(lr=0.025, momentum=0.9, weight_decay=1e-4)  # 0.1 per 256 samples, scaled
        epochs = 5
        batch_size = %d
    }
}
"""
GPT_DATA = "data = shakespeare(context=CTX)"


def peak_tflops(name: str) -> float | None:
    """The peak dense bf16 TFLOPS of a GPU named as torch.cuda.get_device_name names it, or None."""
    for key, tflops in PEAK_BF16:
        if key.lower() in name.lower():
            return tflops
    return None


def prepare(name: str, tmp: Path, steps: int, batch: int) -> Path:
    """The model file to build, and its data, in tmp (where both loops run). digits: the shipped
    file and scikit-learn's data (23 steps of 64 per epoch whatever --steps says); resnet50: the
    file with RESNET_TRAIN and steps * batch random training images; gpt: the file reading
    input.txt, the shipped passage repeated to give about steps * batch training windows."""
    src = ROOT / MODELS[name]["file"]
    if name == "digits":
        return src
    text = src.read_text(encoding="utf-8")
    if name == "resnet50":
        import numpy as np

        n = math.ceil(steps * batch / 0.9)
        rng = np.random.default_rng(0)
        np.savez(tmp / "images.npz", x=rng.standard_normal((n, 3, 224, 224), dtype=np.float32),
                 y=rng.integers(0, 1000, n, dtype=np.int64))
        body = text.rstrip()
        assert body.endswith("}"), "models/resnet50.model should end with its model's closing brace"
        text = body[:-1] + RESNET_TRAIN % batch
    else:
        from graphc.components.datasets_text import shipped_text

        assert GPT_DATA in text, f"models/gpt.model should read {GPT_DATA!r}"
        passage = shipped_text()
        windows = len(passage) // 64
        (tmp / "input.txt").write_text(passage * max(1, math.ceil(steps * batch / 0.9 / windows)), encoding="utf-8")
        text = text.replace(GPT_DATA, 'data = text("input.txt", context=CTX)')
    out = tmp / src.name
    out.write_text(text, encoding="utf-8")
    return out


def summary(file: Path, batch: int, precision: str) -> dict:
    proc = subprocess.run(graphc_cmd("summary", str(file), "--world-size", "1", "--precision", precision,
                                     "--batch-size", str(batch), "--format", "json"),
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def measure(build: Path, stem: str, device: str, precision: str, compile_: bool, cwd: Path, steps: int = 3) -> dict:
    """FlopCounterMode's count of one training step (eager), and the peak memory of `steps` compiled
    steps, with the generated script's data, loss, optimizer and forward (its module imported)."""
    import os

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    sys.path.insert(0, str(build))
    here = os.getcwd()
    os.chdir(cwd)  # where the data files are
    try:
        train = importlib.import_module(f"train_{stem}")
        model_cls = importlib.import_module(stem).MODEL
        args = train.parse_args(["--device", device, "--precision", precision, "--out", str(cwd / "unused")])
        args.seed = train.SEED if args.seed is None else args.seed
        dev = torch.device(device)
        train_batches, _, _ = train.memory_batches(args, dev, 0, 1)
        loss_fn = train.make_loss()
        xb, yb = next(iter(train_batches.epoch(1)))
        batch = len(xb)

        torch.manual_seed(0)
        model = model_cls().to(dev).train()
        with FlopCounterMode(display=False) as counter:
            out = train.forward(model, xb)
            forward_flops = counter.get_total_flops()
            train.compute_loss(loss_fn, out, yb).backward()
        step_flops = counter.get_total_flops()
        del model, out
        gc.collect()

        cuda = dev.type == "cuda"
        if cuda:
            torch.cuda.synchronize(dev)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev) if cuda else 0
        model = model_cls().to(dev).train()
        optimizer = train.make_optimizer(train.param_groups(model, args.lr), args.lr)
        net = torch.compile(model) if compile_ else model
        amp = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16")
        for _, (xb, yb) in zip(range(steps), train_batches.epoch(1)):
            with amp:
                loss = train.compute_loss(loss_fn, train.forward(net, xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        peak = torch.cuda.max_memory_allocated(dev) - before if cuda else None
        return {"batch": batch, "forward_flops": forward_flops / batch, "step_flops": step_flops / batch,
                "peak_bytes": peak, "loss": loss.item()}
    finally:
        os.chdir(here)
        sys.path.remove(str(build))
        for mod in (f"train_{stem}", stem):
            sys.modules.pop(mod, None)


def run_model(name: str, device: str, steps: int, smoke: bool, peak: float | None, epochs: int | None = None,
              repeats: int | None = None) -> dict:
    import torch

    spec = MODELS[name]
    batch = 2 if smoke and name == "resnet50" else spec["batch"]
    gpu = device == "cuda" and not smoke
    precision = "bf16" if gpu else "fp32"
    compile_ = gpu
    epochs = epochs or (2 if smoke else spec["epochs"])
    repeats = repeats or (1 if smoke else spec["repeats"])
    tmp = tmpdir(f"bench_gpu_{name}_")
    file = prepare(name, tmp, steps, batch)
    info = summary(file, batch, precision)
    runs = train_pair(name, {"file": file, "data": None}, device, epochs, repeats, tmp=tmp,
                      gen_args=["--precision", "bf16"] * (precision == "bf16") + ["--compile"] * compile_,
                      ref_args=["--batch-size", str(batch)] * (name == "resnet50")
                      + ["--text", "input.txt"] * (name == "gpt")
                      + ["--bf16"] * (precision == "bf16") + ["--compile"] * compile_)
    if isinstance(runs, str):
        raise RuntimeError(runs)
    rates = samples_per_second(runs)
    ratio, ratio_text, ok = paired(rates["generated"], rates["hand-written"], GOAL, at_least=True)
    m = measure(tmp / "build", file.stem, device, precision, compile_, tmp)
    graphc_flops = 6 * info["total_macs"]  # per sample: 2 FLOPs a MAC, forward + backward = 3 forwards
    generated = median(rates["generated"])
    return {
        "model": name, "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "precision": precision, "compile": compile_, "batch": batch, "epochs": epochs, "repeats": repeats,
        "train_samples": runs["hand-written"][0][1][0]["train_samples"],
        "generated_samples_per_s": generated, "hand_written_samples_per_s": median(rates["hand-written"]),
        "ratio": ratio, "ratio_text": ratio_text, "verdict": ok,
        "graphc_macs_per_sample": info["total_macs"], "graphc_flops_per_sample": graphc_flops,
        "flop_counter_forward_per_sample": m["forward_flops"], "flop_counter_step_per_sample": m["step_flops"],
        "mfu": generated * graphc_flops / (peak * 1e12) if peak else None,
        "plan_bytes": info["memory"]["total"], "plan": info["memory"], "measured_peak_bytes": m["peak_bytes"],
        "measure_loss": m["loss"],
    }


def report(results: list[dict], device_name: str, peak: float | None, peak_source: str, smoke: bool,
           command: str) -> str:
    def gf(x):
        for unit, scale in (("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)):
            if x >= scale:
                return f"{x / scale:.3g} {unit}"
        return f"{x:.3g} FLOP"

    def mib(x):
        return "n/a (CPU)" if x is None else f"{x / 2**20:,.0f} MiB" if x >= 2**24 else f"{x / 2**20:.2f} MiB"

    def rate(x):
        return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"

    rows = []
    for r in results:
        measured = r["measured_peak_bytes"]
        rows.append([r["model"], r["batch"], rate(r["generated_samples_per_s"]),
                     rate(r["hand_written_samples_per_s"]), f"{r['ratio_text']} {r['verdict']}",
                     gf(r["graphc_flops_per_sample"]), gf(r["flop_counter_step_per_sample"]),
                     "n/a" if r["mfu"] is None else f"{r['mfu']:.1%}", mib(r["plan_bytes"]), mib(measured),
                     "n/a" if measured is None else f"{r['plan_bytes'] / measured:.2f}"])
    first = results[0] if results else {}
    how = (f"{first.get('precision', '?')}, {'torch.compile' if first.get('compile') else 'no compile'}, "
           f"{first.get('epochs', '?')} epochs, {first.get('repeats', '?')} run(s) of each loop, alternating")
    head = [f"{'CPU SMOKE RUN, not a result: ' if smoke else ''}`{command}` on **{device_name}** ({how}); "
            f"peak dense bf16: {f'{peak:g} TFLOPS ({peak_source})' if peak else 'unknown (pass --peak-tflops)'}.",
            ""]
    notes = [f"Samples/s: training samples over each run's median epoch time (epochs 2 to N; an epoch is the "
             f"script's training and validation pass), the median of the runs; generated / hand-written: the "
             f"median [interquartile range] of the ratios of the runs of each round, goal ≥ {GOAL}. FLOPs per "
             "sample of a training step: graphc's (`graphc summary`'s MACs × 2 × 3) and "
             "`torch.utils.flop_counter.FlopCounterMode`'s (one eager forward and backward pass). MFU: the "
             "generated script's samples/s × graphc's FLOPs per sample / peak. Memory: `graphc summary "
             "--world-size 1 --precision P --batch-size B`'s total against `torch.cuda.max_memory_allocated` "
             "over three training steps, less the data set the script keeps on the device."]
    headers = ["model", "batch", "generated samples/s", "hand-written samples/s", "generated / hand-written",
               "FLOPs/sample (graphc)", "FLOPs/sample (FlopCounterMode)", "MFU", "memory plan", "max allocated",
               "plan / measured"]
    return "\n".join([*head, table(headers, rows), "", *notes])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="cuda (default), or cpu with --smoke")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps per epoch for resnet50 and gpt, whose data the bench makes "
                        "(default 30, 2 with --smoke); digits has its 23")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (at least 2: the first is not "
                   "timed; default per model: digits 8, resnet50 5, gpt 8; 2 with --smoke)")
    p.add_argument("--repeats", type=int, default=None, help="runs of each loop (default 3; 1 with --smoke)")
    p.add_argument("--smoke", action="store_true", help="tiny and fast: fp32, no compile, 2 epochs, 1 run")
    p.add_argument("--peak-tflops", type=float, default=None, help="the GPU's peak dense bf16 TFLOPS, "
                   "for a GPU not in the table")
    p.add_argument("--output", default=None, help="also write the markdown table here")
    p.add_argument("--json", default=None, help="also write every figure here, as JSON")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        p.error(f"unknown model {unknown[0]!r}: choose from {', '.join(MODELS)}")
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("no CUDA device here: run it on a GPU machine, or try the code with --device cpu --smoke")
    if args.device != "cuda" and not args.smoke:
        p.error("off CUDA only --smoke runs (its figures are not results): add --smoke")
    if args.epochs is not None and args.epochs < 2:
        p.error("--epochs must be at least 2: epoch 1 (compilation) is not timed")
    if args.repeats is not None and args.repeats < 1:
        p.error("--repeats must be at least 1")
    steps = args.steps or (2 if args.smoke else 30)
    device_name = torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU"
    peak, source = args.peak_tflops, "--peak-tflops"
    if peak is None and args.device == "cuda":
        peak, source = peak_tflops(device_name), "NVIDIA's data sheet, dense: bench/gpu.py PEAK_BF16"
    results = []
    for name in names:
        log(f"gpu bench: {name} on {args.device}")
        results.append(run_model(name, args.device, steps, args.smoke, peak, args.epochs, args.repeats))
    command = "python -m bench.gpu " + " ".join(argv if argv is not None else sys.argv[1:])
    text = report(results, device_name, peak, source, args.smoke, command.strip())
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


def run(quick: bool = False) -> str:
    """For ``python -m bench`` on a machine with CUDA: the table alone."""
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        main(["--steps", "10"] if quick else [])
    return buf.getvalue().rstrip()


if __name__ == "__main__":
    sys.exit(main())
