"""1. Check latency: cold ``graphc check`` versus the ways to get the same shapes with torch."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import time

from bench.common import (
    PY,
    ROOT,
    bench_env,
    fmt_time,
    graphc_cmd,
    interleaved,
    log,
    median,
    paired,
    run_timed,
    table,
    tmpdir,
)

MODELS = ("lenet", "resnet18", "resnet50")  # resnet50: the model the goal names
GOAL = 0.15
TOOLS = {
    "torchinfo": "torchinfo `summary()` of the generated module",
    "fx": "torch.fx `symbolic_trace` + `ShapeProp`",
    "meta": "meta-device forward (`torch.device('meta')`)",
}


def run(quick: bool) -> str:
    repeats = 1 if quick else 5
    tmp = tmpdir("bench_check_")
    notes = []
    tools = dict(TOOLS)
    if importlib.util.find_spec("torchinfo") is None:
        tools.pop("torchinfo")
        notes.append("torchinfo is not installed (`pip install torchinfo`): its rows are missing.")

    import graphc

    expect = {}
    for stem in MODELS:
        subprocess.run(graphc_cmd("build", f"models/{stem}.model", "-o", str(tmp), "-q"), cwd=ROOT, check=True)
        expect[stem] = graphc.compile(str(ROOT / f"models/{stem}.model")).summary().total_params

    cmds = {"python (empty)": [PY, "-c", "pass"], "import torch": [PY, "-c", "import torch"]}
    for stem in MODELS:
        cmds[f"{stem}/graphc"] = graphc_cmd("check", f"models/{stem}.model")
        for tool in tools:
            cmds[f"{stem}/{tool}"] = [PY, str(ROOT / "bench/competitors.py"), tool, str(tmp / f"{stem}.py")]

    # every command must work, and every competitor agree with graphc, before it is timed
    for name, cmd in list(cmds.items()):
        r = subprocess.run(cmd, cwd=ROOT, env=bench_env(), capture_output=True, text=True)
        if r.returncode != 0:
            last = error_line(r.stderr)
            notes.append(f"`{name}` failed (exit {r.returncode}: {last}); it is left out.")
            del cmds[name]
        elif "/" in name and not name.endswith("graphc") and f"params={expect[name.split('/')[0]]} " not in r.stdout:
            notes.append(f"`{name}` disagrees with graphc's parameter count: {r.stdout.strip()}")

    log(f"check latency: {len(cmds)} commands x {repeats} rounds (+1 warm-up)")
    times = interleaved({k: (lambda c=c: run_timed(c)) for k, c in cmds.items()}, repeats)
    med = {k: median(v) for k, v in times.items()}
    base = med["import torch"]

    out = [f"Each figure is the median wall time of {repeats} fresh subprocesses (after one warm-up round), "
           "round-robin so every command sees the same machine load. The competitors import torch and "
           "load the module `graphc build` generated, as a CI step would. Bytecode is cached as Python "
           "does by default (here in a cache directory of the benchmark's, PYTHONPYCACHEPREFIX, filled by "
           "the warm-up round).", ""]
    out.append(table(["command", "median", "× `import torch`"], [
        ["`python -c pass`", fmt_time(med["python (empty)"]), f"{med['python (empty)'] / base:.3f}"],
        ["`python -c 'import torch'`", fmt_time(base), "1.000"],
    ]))
    for stem in MODELS:
        g = med.get(f"{stem}/graphc", float("nan"))
        rows = [[f"`graphc check models/{stem}.model`", fmt_time(g), f"{g / base:.3f}", "1.0"]]
        for tool, desc in tools.items():
            t = med.get(f"{stem}/{tool}", float("nan"))
            rows.append([desc, fmt_time(t), f"{t / base:.3f}", f"{t / g:.1f}"])
        out += ["", f"**{stem}** ({expect[stem]:,} parameters)", "",
                table(["command", "median", "× `import torch`", "× graphc check"], rows)]
    goals = {stem: paired(times[f"{stem}/graphc"], times["import torch"], GOAL)
             for stem in MODELS if f"{stem}/graphc" in times}
    out += ["", "Goal: `graphc check` ≤ 0.15 × `import torch` (median [interquartile range] of the ratios "
            "within each round): " + "; ".join(f"{stem} {txt} {ok}" for stem, (_, txt, ok) in goals.items()) + "."]
    out += [f"- {n}" for n in notes]
    out += ["", import_breakdown("resnet50")]
    return "\n".join(out)


def import_breakdown(stem: str) -> str:
    """Where a cold ``graphc check`` spends its time: imports by top-level package, and the rest."""
    cmd = [PY, "-X", "importtime", "-m", "graphc", "check", f"models/{stem}.model"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, env=bench_env(), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    by_pkg: dict[str, float] = {}
    for m in re.finditer(r"^import time:\s+(\d+) \|\s+\d+ \|\s*([\w.]+)", r.stderr, re.M):
        pkg = m[2].split(".")[0]
        by_pkg[pkg] = by_pkg.get(pkg, 0.0) + int(m[1]) / 1e6
    total = sum(by_pkg.values())
    top = sorted(by_pkg.items(), key=lambda kv: -kv[1])[:6]
    return (f"Where the time goes: one `python -X importtime -m graphc check models/{stem}.model` took "
            f"{fmt_time(wall)}, of which imports {fmt_time(total)} ("
            + ", ".join(f"{k} {fmt_time(v)}" for k, v in top)
            + f"); the rest, {fmt_time(wall - total)}, is interpreter start-up, parsing and checking, and "
            "the layer modules, which graphc loads by kind with importlib (-X importtime lists only "
            "`import` statements).")


def error_line(stderr: str) -> str:
    """The exception line of a traceback (the last line is often a hint instead)."""
    lines = stderr.strip().splitlines() or ["?"]
    return next((ln for ln in reversed(lines) if re.match(r"\w+(Error|Exception)\b", ln)), lines[-1])[:300]

