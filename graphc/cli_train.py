"""``graphc train`` and ``graphc eval``: both run the generated training script.

``train`` builds the model and its script into the run directory and runs it;
``eval`` builds them into a temporary directory and runs the script's ``--eval``
mode on a checkpoint, so the standalone script and graphc measure the same way.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from graphc.api import Compilation
from graphc.cli import UsageError, _report_failure, build_outputs, load


def _trainable(file: str, command: str):
    """The compiled file, which must have a train section and torch to run it; or an exit code."""
    comp = load(file)
    if not comp.ok:
        return _report_failure(comp)
    if comp.trained is None or comp.trained.training is None:
        raise UsageError(f"{file} has no train section: add 'train {{ data = ... loss = ... }}' "
                         "to the model (see docs/training.md)")
    if importlib.util.find_spec("torch") is None:
        raise UsageError(f"{command} runs the generated script, which needs torch: pip install 'graphc[train]'")
    return comp


def not_gan(comp, command: str) -> None:
    """eval measures one model: a GAN's pair is refused with the way to use it."""
    if comp.trained.training.task == "gan":
        raise UsageError(f"{command} takes a model with one player; {comp.trained.name} is a GAN's generator: "
                         "its samples are in the run's samples_epochNNN.png, and graphc predict --data NOISE gives "
                         "more (docs/training.md, Two-player training)")


def _check_not_in_use(out: Path) -> None:
    """A run folder whose training still runs is not rewritten: the script locks
    OUT/train.lock while it runs (a second script would stop at that lock, but only after
    graphc had replaced the files of the running one)."""
    lock = out / "train.lock"
    if os.name == "nt" or not lock.is_file():
        return
    import fcntl

    try:
        with open(lock, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.seek(0)
                pid = f.read().strip()
                raise UsageError(f"{out} is in use by another training process"
                                 f"{f' (pid {pid})' if pid else ''}: wait for it to end, or pass "
                                 "another --out (nothing was written)") from None
    except OSError:
        return  # unreadable: the script reports it


def run_child(cmd: list[str]) -> int:
    """Run the script and wait for it, passing on the signals that would end graphc; its exit
    code, or 128 plus the number of the signal that ended it, as a shell reports it."""
    preexec = None
    if sys.platform.startswith("linux"):
        # The child gets SIGKILL when graphc dies, even by SIGKILL (which no handler sees).
        # Elsewhere the OS has no such thing: only the forwarded signals below reach it.
        import ctypes

        prctl, parent = ctypes.CDLL(None, use_errno=True).prctl, os.getpid()

        def preexec():  # in the child, between fork and exec
            prctl(ctypes.c_int(1), ctypes.c_ulong(signal.SIGKILL))  # 1: PR_SET_PDEATHSIG
            if os.getppid() != parent:  # graphc died before that
                os._exit(128 + signal.SIGKILL)

    proc = subprocess.Popen(cmd, preexec_fn=preexec)

    def forward(signum, frame):  # graphc stops when the training process does, not before
        if os.name != "nt":  # Windows delivers Ctrl-C to the child itself; it has no SIGHUP
            proc.send_signal(signum)

    forwarded = [s for s in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, s)]
    previous = {s: signal.signal(getattr(signal, s), forward) for s in forwarded}
    try:
        code = proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(getattr(signal, s), handler)
    return 128 - code if code < 0 else code  # killed by a signal: the shell's convention


def train(args) -> int:
    """graphc train: build the model and its training script into --out, then run it."""
    comp = _trainable(args.file, "graphc train")
    if not isinstance(comp, Compilation):
        return comp
    out = Path(args.out or f"runs/{comp.module_stem}")
    gan = comp.trained.training.task == "gan"
    if gan:  # the two-player script (graphc.training_gan) takes fewer flags
        unsupported = [f"--{f}" for f in ("precision", "compile", "resume", "tensorboard") if getattr(args, f)]
        if unsupported:
            raise UsageError(f"{' and '.join(unsupported)}: a GAN's training script does not take "
                             f"{'it' if len(unsupported) == 1 else 'them'} yet (docs/training.md, Two-player training)")
    _check_not_in_use(out)
    build_outputs(comp, out)
    script = out / f"train_{comp.module_stem}.py"
    # an absolute script path and --out=...: a folder named '-c...' is no interpreter option
    cmd = [sys.executable, str(script.resolve()), f"--out={out}"]
    for flag in ("epochs", "batch_size", "lr", "device", "precision", "seed", "max_steps"):
        v = getattr(args, flag)
        if v is not None:
            cmd += [f"--{flag.replace('_', '-')}", str(v)]
    for flag in ("compile", "resume", "quiet", "tensorboard"):
        if getattr(args, flag):
            cmd.append(f"--{flag}")
    if not args.quiet:
        print(f"graphc: training with {script}", file=sys.stderr)
    code = run_child(cmd)
    if code == 0 and not gan and importlib.util.find_spec("matplotlib") is not None:  # a GAN draws samples
        from graphc.plot import PlotError, plot

        try:
            png = plot(out)
            if not args.quiet:
                print(f"graphc: wrote {png}", file=sys.stderr)
        except PlotError as e:
            print(f"graphc: note: no curves: {e}", file=sys.stderr)
    return code


def evaluate(args) -> int:
    """graphc eval: the metrics of a checkpoint, through the generated script's --eval."""
    ckpt = Path(args.checkpoint)
    if not ckpt.is_file():
        raise UsageError(f"no checkpoint {ckpt}" + (": it is a directory" if ckpt.is_dir() else ""))
    if args.data is not None and not Path(args.data).exists():
        raise UsageError(f"no data file {args.data}")
    comp = _trainable(args.file, "graphc eval")
    if not isinstance(comp, Compilation):
        return comp
    not_gan(comp, "graphc eval")
    with tempfile.TemporaryDirectory(prefix="graphc-eval-") as tmp:
        build_outputs(comp, Path(tmp))
        script = Path(tmp) / f"train_{comp.module_stem}.py"
        cmd = [sys.executable, str(script), f"--eval={ckpt.resolve()}", f"--format={args.format}"]
        if args.data is not None:
            cmd.append(f"--data={Path(args.data).resolve()}")
        for flag in ("device", "batch_size", "seed"):
            v = getattr(args, flag)
            if v is not None:
                cmd.append(f"--{flag.replace('_', '-')}={v}")
        return run_child(cmd)
