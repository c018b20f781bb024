"""``graphc train`` and ``graphc eval``: both run the generated training script.

``train`` builds the model and its script into the run directory and runs it;
``eval`` builds them into a temporary directory and runs the script's ``--eval``
mode on a checkpoint, so the standalone script and graphc measure the same way.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from graphc.cli import UsageError, _report_failure, build_outputs, load

DEVICES = ("auto", "cpu", "cuda", "mps")

#: The generated script's training flags, which ``graphc train`` takes and passes on: (flag,
#: the argparse keywords of graphc's parser, the scripts that take it: "all", "one" (the script
#: of one model, not a GAN's), "gan" (the two-player script) or "stream" (one model's script
#: when its data is streamed through a DataLoader)).  No default here: what is not given is
#: the script's configuration block's.  tests/test_cli_train_flags.py compares this list with
#: the argparse of generated scripts of each kind.
SCRIPT_FLAGS: tuple[tuple[str, dict, str], ...] = (
    ("--epochs", {"type": int, "metavar": "N"}, "all"),
    ("--batch-size", {"type": int, "metavar": "N", "help": "per process"}, "all"),
    ("--lr", {"type": float, "metavar": "X"}, "all"),
    ("--d-lr", {"type": float, "metavar": "X", "help": "a GAN's: the discriminator's learning rate"}, "gan"),
    ("--pretrained", {"metavar": "FILE", "help": "start from these weights ('none': from scratch)"}, "one"),
    ("--device", {"choices": DEVICES}, "all"),
    ("--precision", {"choices": ("fp32", "bf16", "fp16")}, "one"),
    ("--compile", {"action": "store_true", "help": "torch.compile the model"}, "one"),
    ("--strategy", {"choices": ("ddp", "fsdp"), "help": "under torchrun: replicate the model (ddp) or shard it "
                                                        "(fsdp)"}, "one"),
    ("--activation-checkpointing", {"action": argparse.BooleanOptionalAction,
                                    "help": "recompute each block's activations in the backward pass"}, "one"),
    ("--resume", {"action": "store_true", "help": "continue from OUT/last.pt"}, "one"),
    ("--seed", {"type": int}, "all"),
    ("--quiet", {"action": "store_true", "help": "no progress bars or epoch lines"}, "all"),
    ("--tensorboard", {"action": "store_true", "help": "also log to OUT/tensorboard"}, "one"),
    ("--timeout", {"type": float, "metavar": "SECONDS",
                   "help": "under torchrun: seconds to wait for another process before the run ends"}, "one"),
    ("--max-steps", {"type": int, "metavar": "N", "help": "stop after N optimizer steps (a smoke run)"}, "all"),
    ("--num-workers", {"type": int, "metavar": "N",
                       "help": "streamed data: DataLoader worker processes reading it"}, "stream"),
)


def add_script_flags(parser: argparse.ArgumentParser) -> None:
    """graphc train's flags that the generated script takes (SCRIPT_FLAGS)."""
    for flag, kw, _ in SCRIPT_FLAGS:
        parser.add_argument(flag, **kw)


def _dest(flag: str) -> str:
    return flag[2:].replace("-", "_")


def script_args(args, comp) -> list[str]:
    """The script flags given to graphc train, as the script's command line; a flag the script
    of this model does not take is refused before anything is written."""
    from graphc.emit.train_script import _streams

    spec = comp.trained.training
    kinds = {"all", "gan"} if spec.task == "gan" else {"all", "one", *(["stream"] if _streams(spec) else [])}
    given = []
    for flag, kw, kind in SCRIPT_FLAGS:
        v = getattr(args, _dest(flag))
        if v is not None and (v is not False or kw.get("action") is argparse.BooleanOptionalAction):
            given.append((flag, kind, v))  # a store_true flag is False when not given
    refused = [(flag, kind) for flag, kind, _ in given if kind not in kinds]
    if refused:
        names = " and ".join(f for f, _ in refused)
        it = "it" if len(refused) == 1 else "them"
        if spec.task == "gan":
            raise UsageError(f"{names}: a GAN's training script does not take {it} yet (docs/training.md, "
                             "Two-player training)")
        if any(kind == "gan" for _, kind in refused):
            raise UsageError(f"{names}: the discriminator's learning rate of a GAN, and {comp.trained.name} is "
                             "not one: --lr sets the learning rate")
        raise UsageError(f"{names}: {comp.trained.name}'s data is held in memory, not streamed through a "
                         "DataLoader, so there are no workers to set: num_workers = N in its train section "
                         "streams it (docs/training.md)")
    out = []
    for flag, _, v in given:
        if v is True:
            out.append(flag)
        elif v is False:  # --no-activation-checkpointing
            out.append(f"--no-{flag[2:]}")
        else:  # FLAG=VALUE: a value that starts with '-' is no flag
            out.append(f"{flag}={v}")
    return out


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
    from graphc.api import Compilation

    comp = _trainable(args.file, "graphc train")
    if not isinstance(comp, Compilation):
        return comp
    out = Path(args.out or f"runs/{comp.module_stem}")
    gan = comp.trained.training.task == "gan"
    flags = script_args(args, comp)  # the two-player script (graphc.training_gan) takes fewer
    _check_not_in_use(out)
    build_outputs(comp, out)
    script = out / f"train_{comp.module_stem}.py"
    # an absolute script path and --out=...: a folder named '-c...' is no interpreter option
    cmd = [sys.executable, str(script.resolve()), f"--out={out}", *flags]
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
    from graphc.api import Compilation

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
