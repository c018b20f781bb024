"""``python -m bench [--quick] [--only NAME ...]``: run the benchmarks, write bench/RESULTS.md."""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import time
import traceback
from pathlib import Path

from bench.common import ROOT, log, machine, set_threads

SECTIONS = {  # name -> (title, module)
    "check": ("1. Check latency (cold CLI)", "check_latency"),
    "scaling": ("2. Compile scaling", "compile_scaling"),
    "codegen": ("3. Generated code speed (CPU)", "codegen_speed"),
    "training": ("4. Training throughput (CPU)", "training"),
    "gpu": ("5. GPU", None),
    "editor": ("7. Editor: `graphc lsp` latency", "lsp_latency"),
}


def gpu_section(quick: bool) -> str:
    import torch

    if not torch.cuda.is_available():
        return "no GPU on this machine"
    from bench import codegen_speed, gpu, training

    return ("### Generated code speed\n\n" + codegen_speed.run(quick, "cuda")
            + "\n\n### Training throughput\n\n" + training.run(quick, "cuda")
            + "\n\n### Issue 23: digits, ResNet-50, GPT (bench/gpu.py)\n\n" + gpu.run(quick))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="few repeats, for smoke-testing (~2 minutes)")
    p.add_argument("--only", action="append", choices=list(SECTIONS), metavar="NAME",
                   help=f"run only this benchmark (repeatable): {', '.join(SECTIONS)}")
    p.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"), help="default bench/RESULTS.md")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for every benchmark (default 1: robust on a shared machine)")
    args = p.parse_args(argv)
    set_threads(args.threads)
    started = time.perf_counter()
    info = machine()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = ""
    import graphc

    info["graphc"] = f"{graphc.__version__}" + (f", commit {commit} (plus any uncommitted changes)" if commit else "")
    py = Path(sys.executable)
    py = py.relative_to(ROOT) if py.is_relative_to(ROOT) else "python"
    head = ["# graphc benchmark results", "",
            f"Written by `{py} -m bench{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}` on "
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.", "",
            *(f"- **{k}**: {v}" for k, v in info.items()),
            "", "Machines are noisy (other jobs share this one): compare the ratios measured side by side "
            "in one run, not absolute times across runs. Goals met or missed are in **bold**.", ""]
    body = []
    for name in args.only or list(SECTIONS):
        title, module = SECTIONS[name]
        log(f"== {title}")
        t0 = time.perf_counter()
        try:
            if module is None:
                text = gpu_section(args.quick)
            else:
                text = __import__(f"bench.{module}", fromlist=["run"]).run(args.quick)
        except Exception:  # report it in the results; the other benchmarks still run
            text = f"This benchmark failed:\n\n```\n{traceback.format_exc()[-3000:]}```"
        body += [f"## {title}", "", text, "", f"*({time.perf_counter() - t0:.0f} s)*", ""]
    head.append(f"Total time: {time.perf_counter() - started:.0f} s.\n")
    Path(args.output).write_text("\n".join(head + body), encoding="utf-8")
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
