"""Timing, tables, machine facts and loading generated modules: shared by the benchmarks."""

from __future__ import annotations

import atexit
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
GRAPHC = str(Path(PY).with_name("graphc")) if Path(PY).with_name("graphc").exists() else None


# Subprocesses cache bytecode as Python does by default (pip also compiles .pyc at install), in
# a cache of their own: this environment may set PYTHONDONTWRITEBYTECODE, which would make every
# cold run of an editable graphc recompile its sources while torch's site-packages .pyc exist.
PYCACHE = Path(tempfile.gettempdir()) / "graphc-bench-pycache"
# torch's intra-op threads, here and in every subprocess (set by --threads). On a shared machine
# more threads than idle cores make OpenMP's barriers spin: one step can take 100x longer.
THREADS = 1


def set_threads(n: int) -> None:
    global THREADS
    import torch

    THREADS = n
    torch.set_num_threads(n)


def bench_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPYCACHEPREFIX=str(PYCACHE), OMP_NUM_THREADS=str(THREADS),
               MKL_NUM_THREADS=str(THREADS))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def graphc_cmd(*args: str) -> list[str]:
    """The graphc command line as CI calls it: the console script, else ``python -m graphc``."""
    return [GRAPHC, *args] if GRAPHC else [PY, "-m", "graphc", *args]


def tmpdir(prefix: str) -> Path:
    """A temporary directory, removed when the run ends."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, d, True)
    return d


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def median(xs) -> float:
    return statistics.median(xs)


def run_timed(cmd: list[str], **kw) -> float:
    """Wall time of one fresh subprocess; a failure raises with its stderr."""
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=kw.pop("cwd", ROOT), env=bench_env(), capture_output=True, text=True, **kw)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {r.returncode}:\n{r.stderr[-2000:]}")
    return dt


def interleaved(fns: dict, repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Call every fn (returning seconds) round-robin, reversing the order every other
    round so no competitor always runs right after another; warm-up rounds are dropped."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    names = list(fns)
    for r in range(warmup + repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            dt = fns[name]()
            if r >= warmup:
                times[name].append(dt)
    return times


def fmt_time(s: float) -> str:
    if s != s:
        return "n/a"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} µs"


def table(headers: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def paired(a: list[float], b: list[float], goal: float, at_least: bool = False) -> tuple[float, str, str]:
    """Ratios a[i] / b[i] of samples taken side by side (one round each): their median, the median
    with its interquartile range as text, and the verdict against the goal ("within noise" when the
    goal lies inside that range)."""
    ratios = [x / y for x, y in zip(a, b)]
    m = median(ratios)
    q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else (m, m, m)
    ok = m >= goal if at_least else m <= goal
    note = " (within noise)" if not ok and q1 <= goal <= q3 else ""
    return m, f"**{m:.3f}** [{q1:.3f}–{q3:.3f}]", verdict(ok) + note


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    info = {
        "CPU": cpu,
        "cores": f"{os.cpu_count()} logical; torch runs with {THREADS} thread(s) here and in every "
                 "subprocess (--threads)",
        "Python": platform.python_version(),
        "torch": torch.__version__,
        "OS": platform.platform(),
    }
    try:
        info["load average at start"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        pass
    if torch.cuda.is_available():
        info["GPU"] = torch.cuda.get_device_name(0)
    return info


def build_module(model_file: Path, out_dir: Path):
    """Generate ``out_dir/<stem>.py`` from a .model file with graphc's API and import it.
    Returns (python module, Compilation)."""
    import graphc

    comp = graphc.compile(str(model_file))
    comp.raise_for_errors()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{comp.module_stem}.py"
    path.write_text(comp.python_source(), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"bench_generated_{comp.module_stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, comp


def model_class(mod):
    return mod.MODEL
