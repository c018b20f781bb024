"""2. Compile scaling: parse, lower, infer and emit times of synthetic models of 10 to 10,000 layers."""

from __future__ import annotations

import cProfile
import gc
import pstats
import time
from pathlib import Path

from bench.common import fmt_time, log, median, table, verdict

SIZES = (10, 100, 1_000, 10_000)
GOAL_SECONDS, GOAL_RATIO = 1.0, 11.0
PHASES = ("parse", "lower", "infer", "emit")


def chain(n: int) -> str:
    """One statement: Linear(64) and ReLU alternating, n layers."""
    steps = "\n".join(f"        -> {'Linear(64)' if i % 2 == 0 else 'ReLU'}" for i in range(n))
    return f"model Chain{n} {{\n    input x: [B, 64]\n    y = x\n{steps}\n    output y\n}}\n"


def conv_chain(n: int) -> str:
    """One statement: Conv2d(16, 3, padding=1) -> BatchNorm2d -> ReLU repeated, n layers."""
    kinds = ("Conv2d(16, 3, padding=1)", "BatchNorm2d", "ReLU")
    steps = "\n".join(f"        -> {kinds[i % 3]}" for i in range(n))
    return f"model Conv{n} {{\n    input x: [B, 16, 8, 8]\n    y = x\n{steps}\n    output y\n}}\n"


def residual(n: int) -> str:
    """A DAG: n // 4 residual blocks (Linear -> ReLU -> Linear -> add), one statement each,
    then ReLUs to make up n layers."""
    k, extra = divmod(n, 4)
    body = [f"    h{i + 1} = h{i} -> Res(64)" for i in range(k)]
    body += [f"    h{k + 1} = h{k}" + " -> ReLU" * extra] if extra else []
    last = k + 1 if extra else k
    return ("block Res(c) {\n    input x\n    y = x -> Linear(c) -> ReLU -> Linear(c) -> add(x)\n    output y\n}\n\n"
            f"model Residual{n} {{\n    input h0: [B, 64]\n" + "\n".join(body) + f"\n    output h{last}\n}}\n")


# conv_chain scales like chain (the same code paths) and is left out to keep the run short.
FAMILIES = {
    "chain": ("a plain chain, Linear(64)/ReLU, one statement", chain),
    "residual": ("a residual DAG: blocks `x -> Linear -> ReLU -> Linear -> add(x)`, one statement each", residual),
}


def compile_phases(text: str, pause_gc: bool = True) -> dict[str, float]:
    """Each phase's time.  As in graphc's own compile (``graphc.api.gc_paused``), the cyclic
    garbage collector is paused unless ``pause_gc`` is false."""
    import contextlib

    from graphc.api import gc_paused

    with gc_paused() if pause_gc else contextlib.nullcontext():
        return _compile_phases(text)


def _compile_phases(text: str) -> dict[str, float]:
    from graphc.emit.torch_module import emit_module
    from graphc.infer import infer
    from graphc.lower import lower
    from graphc.source import Source
    from graphc.syntax import parse

    t = [time.perf_counter()]
    tree = parse(text, "synthetic.model")
    t.append(time.perf_counter())
    prog, diags = lower(tree)
    t.append(time.perf_counter())
    diags += infer(prog)
    t.append(time.perf_counter())
    emit_module(prog, Source("synthetic.model", text))
    t.append(time.perf_counter())
    errors = [d for d in diags if d.severity == "error"]
    if errors:
        raise RuntimeError(f"synthetic model does not check: {errors[0].message}")
    out = {p: t[i + 1] - t[i] for i, p in enumerate(PHASES)}
    out["check"] = out["parse"] + out["lower"] + out["infer"]
    out["layers"] = len(prog.layer_nodes())
    return out


def profile(text: str, top: int = 12) -> str:
    from graphc.api import gc_paused
    from graphc.infer import infer
    from graphc.lower import lower
    from graphc.syntax import parse

    pr = cProfile.Profile()
    with gc_paused():
        pr.enable()
        prog, _ = lower(parse(text, "synthetic.model"))
        infer(prog)
        pr.disable()
    st = pstats.Stats(pr)
    total = st.total_tt
    rows = []
    for (file, line, func), (_, nc, tt, ct, _) in sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:top]:
        where = func if file == "~" else f"{_short(file)}:{line} `{func}`"
        rows.append([where, f"{nc:,}", f"{tt:.2f} s", f"{100 * tt / total:.0f} %", f"{ct:.2f} s"])
    return (f"cProfile of parse+lower+infer ({total:.2f} s under the profiler), top {top} by own time:\n\n"
            + table(["function", "calls", "own time", "share", "cumulative"], rows))


def gc_effect(text: str, reps: int = 3) -> tuple[float, float]:
    """Median check time with the garbage collector on, and off."""
    on, off = [], []
    for _ in range(reps):
        gc.collect()
        on.append(compile_phases(text, pause_gc=False)["check"])
        gc.collect()
        off.append(compile_phases(text)["check"])
    return median(on), median(off)


def _short(file: str) -> str:
    p = Path(file)
    for marker in ("site-packages", "graphc"):
        if marker in p.parts:
            i = len(p.parts) - 1 - p.parts[::-1].index(marker)
            return "/".join(p.parts[i + (marker == "site-packages"):])
    return p.name


def run(quick: bool) -> str:
    compile_phases(chain(10))  # first use: the grammar and the layer registry load once per process
    out = ["In-process, after one warm-up compile. Medians over "
           + ("1 run (--quick)" if quick else "7 runs (10 to 1,000 layers) and 3 runs (10,000 layers)")
           + "; `check` = parse + lower + infer, what `graphc check` does before linting. "
           "Python's cyclic garbage collector is paused during the phases, as graphc pauses it "
           "(`graphc.api.gc_paused`).", ""]
    missed = []
    for family, (desc, gen) in FAMILIES.items():
        med: dict[int, dict[str, float]] = {}
        for n in SIZES:
            text = gen(n)
            reps = 1 if quick else (3 if n >= 10_000 else 7)
            log(f"compile scaling: {family} {n:,} layers x {reps}")
            runs = []
            for _ in range(reps):
                gc.collect()
                runs.append(compile_phases(text))
            med[n] = {k: median(r[k] for r in runs) for k in runs[0]}
        rows = [[f"{int(m['layers']):,}", *(fmt_time(m[p]) for p in PHASES), f"**{fmt_time(m['check'])}**",
                 f"{1e6 * m['check'] / m['layers']:.0f} µs"] for m in med.values()]
        big, small = med[SIZES[-1]], med[SIZES[-2]]
        rows.append(["t(10k) / t(1k)", *(f"{big[p] / small[p]:.1f}" for p in PHASES),
                     f"**{big['check'] / small['check']:.1f}**", ""])
        ok_time, ok_ratio = big["check"] <= GOAL_SECONDS, big["check"] / small["check"] <= GOAL_RATIO
        out += [f"**{family}**: {desc}", "",
                table(["layers", "parse", "lower", "infer", "emit", "check", "check per layer"], rows), "",
                f"Goals: 10,000 layers checked in ≤ 1 s: {fmt_time(big['check'])} {verdict(ok_time)}; "
                f"t(10k)/t(1k) ≤ 11: {big['check'] / small['check']:.1f} {verdict(ok_ratio)}.", ""]
        if not (ok_time and ok_ratio):
            missed.append(family)
    if missed and not quick:
        out += ["### Where the time goes", ""]
        for family in missed:
            log(f"compile scaling: profiling {family} at 10,000 layers")
            text = FAMILIES[family][1](SIZES[-1])
            on, off = gc_effect(text)
            out += [f"**{family}**, 10,000 layers. " + profile(text), "",
                    f"Python's cyclic garbage collector: the check takes {fmt_time(off)} with it off and "
                    f"{fmt_time(on)} with it on, in back-to-back runs ({100 * (1 - off / on):.0f} % of the time "
                    "goes to collections walking the ever larger parse tree and program).", ""]
    elif missed:
        out += ["(Profiles of the missed goals are taken in the full run, not with --quick.)"]
    return "\n".join(out).rstrip()
