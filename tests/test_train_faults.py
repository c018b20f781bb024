"""Training under faults: signals to `graphc train`, a second writer, a kill between the
checkpoint writes, a NaN or infinite loss, bad files, and a DDP peer that stops answering.

Every check is on what real processes do: exit codes, what they print, whether they are
still running, and the files they leave."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import ROOT, run_graphc
from conftest import build_scripts as build

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

LINUX = sys.platform.startswith("linux")
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

TINY = """model {name} {{
    input x: [B, 4]
    y = x -> Linear({hidden}) -> ReLU -> Linear(3)
    output y
    train {{
        data = {data}
        loss = CrossEntropyLoss()
        optimizer = {optimizer}
        epochs = {epochs}
        batch_size = 8
        {extra}
    }}
}}
"""


def model_src(data, *, name="Tiny", hidden=8, optimizer="Adam(lr=0.01)", epochs=3, extra=""):
    if not data.startswith(("npz(", "csv(")):
        data = f'npz("{data}")'
    return TINY.format(name=name, hidden=hidden, data=data, optimizer=optimizer, epochs=epochs, extra=extra)


def classes(path, n=48, bad=None, seed=0):
    """n samples of 4 features and 3 learnable classes; `bad` puts that value into sample 5."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0)
    if bad is not None:
        x[5, 2] = bad
    np.savez(path, x=x, y=y)
    return path


def strict_records(out):
    """metrics.jsonl read as strict JSON: a bare NaN or Infinity token fails."""
    def refuse(token):
        raise ValueError(f"{token} in metrics.jsonl is not JSON")
    return [json.loads(line, parse_constant=refuse) for line in (out / "metrics.jsonl").read_text().splitlines()]


def epoch_of(path):
    return torch.load(path, map_location="cpu", weights_only=True)["epoch"]


def alive(pid):
    """Whether the process still runs (a zombie, ended but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False


def children(pid):
    """The processes whose parent is pid (Linux: read from /proc)."""
    found = []
    for entry in os.listdir("/proc") if LINUX else []:
        try:
            with open(f"/proc/{entry}/stat") as f:
                if entry.isdigit() and int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except (OSError, ValueError):
            pass
    return found


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def one_error_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr, stderr
    return lines[0]


# ----------------------------------------------------------------------------- graphc train and signals
def start_graphc_train(model, out, stderr):
    """`graphc train` in the background, at the lowest priority and on one thread, so that the
    other processes of a test (and its other runs) start quickly beside it. Its stderr goes to a
    file: a pipe would stay open as long as a training process that outlived graphc."""
    with open(stderr, "w") as err:
        return subprocess.Popen([sys.executable, "-m", "graphc", "train", str(model), "--out", str(out), "--quiet"],
                                cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, preexec_fn=lambda: os.nice(19),
                                stdout=subprocess.DEVNULL, stderr=err)


@pytest.mark.slow
@posix_only
def test_signals_end_the_training_process_and_the_run_directory_is_locked(tmp_path):
    data = classes(tmp_path / "data.npz")
    model = tmp_path / "tiny.model"
    model.write_text(model_src(str(data), epochs=100000))
    names = ["SIGTERM", "SIGINT"] + (["SIGKILL"] if LINUX else [])  # dying with the parent: Linux only
    started = {}
    runs = {}  # signal name: (run directory, graphc, the training process's pid)
    try:
        started.update({name: (tmp_path / name, start_graphc_train(model, tmp_path / name, tmp_path / f"{name}.err"))
                        for name in names})
        for name, (out, graphc) in started.items():
            # by its first checkpoint, the training process holds the lock (its pid inside)
            wait_for(lambda out=out, graphc=graphc: graphc.poll() is not None or (out / "last.pt").exists(),
                     120, f"{name}'s first checkpoint")
            assert graphc.poll() is None, (tmp_path / f"{name}.err").read_text()
            runs[name] = (out, graphc, int((out / "train.lock").read_text()))
            assert children(graphc.pid) == ([runs[name][2]] if LINUX else [])

        # a second writer (a --resume while the first runs) stops at once, and changes nothing
        out, _, pid = runs["SIGTERM"]
        script = out / "train_tiny.py"
        second = subprocess.run([sys.executable, str(script), "--out", str(out), "--resume", "--quiet"],
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert one_error_line(second.stderr) == (f"error: {out} is in use by another training process "
                                                 f"(pid {pid}): wait for it to end, or pass another --out")
        time.sleep(0.2)
        epochs = [r["epoch"] for r in strict_records(out)]
        assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) >= 1 and alive(pid)
        # graphc train on that folder stops before it rewrites the running process's files
        written = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.glob("*.py")}
        again = run_graphc("train", model, "--out", out, "--resume", "--quiet")
        assert again.returncode == 2 and "in use by another training process" in again.stderr, again.stderr
        assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.glob("*.py")} == written

        for name, (_, graphc, pid) in runs.items():
            assert alive(pid)
            os.kill(graphc.pid, getattr(signal, name))
        for name, (_, graphc, pid) in runs.items():
            code = graphc.wait(timeout=60)
            stderr = (tmp_path / f"{name}.err").read_text()
            if name == "SIGKILL":
                assert code == -signal.SIGKILL
                wait_for(lambda pid=pid: not alive(pid), 10, "the training process to die with graphc")
                continue
            # graphc waited for its child and exits with its code: 128 + the signal, as a shell does
            assert code == 128 + getattr(signal, name), (name, code, stderr)
            assert not alive(pid), name
            assert "Traceback" not in stderr, stderr
            if name == "SIGINT":  # the script's own message, once
                assert stderr.count("interrupted: --resume continues after the last finished epoch") == 1, stderr

        # the kill released the lock: --resume takes over and records every epoch once
        out = runs["SIGKILL" if LINUX else "SIGTERM"][0]
        last = epoch_of(out / "last.pt")
        done = subprocess.run([sys.executable, str(out / "train_tiny.py"), "--out", str(out), "--resume", "--quiet",
                               "--epochs", str(last + 1)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert [r["epoch"] for r in strict_records(out)] == list(range(1, last + 2))
    finally:
        for _, graphc in started.values():
            for pid in children(graphc.pid) if graphc.poll() is None else []:
                os.kill(pid, signal.SIGKILL)
            graphc.kill()
            graphc.wait()
        for _, _, pid in runs.values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


# ----------------------------------------------------------------------------- a kill between last.pt and best.pt
KILL_AT_BEST = """
import os, runpy, signal, sys

writes = 0
real_replace = os.replace


def replace(src, dst):  # the script renames each checkpoint into place: die before the chosen best.pt
    global writes
    if os.path.basename(dst) == "best.pt":
        writes += 1
        if writes == int(os.environ["KILL_AT_BEST"]):
            os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)


os.replace = replace
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_all(commands, env=None):
    """Run the commands side by side (their start-up, torch's import, overlaps); their results."""
    procs = [subprocess.Popen([sys.executable, *map(str, c)], env=env and {**os.environ, **e},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for c, e in zip(commands, env or [None] * len(commands))]
    results = []
    try:
        for p in procs:
            _, stderr = p.communicate(timeout=120)
            results.append((p.returncode, stderr))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results


@pytest.fixture(scope="module")
def killed_between_checkpoints(tmp_path_factory):
    """Runs killed just before they rename their first (best.pt missing) or second (best.pt older
    than last.pt) best.pt into place, then resumed with nothing left to train."""
    tmp = tmp_path_factory.mktemp("kills")
    script = build(tmp, model_src(str(classes(tmp / "data.npz"))), "tiny")
    kill_at = {"best-missing": 1, "best-stale": 2}
    killed = run_all([["-c", KILL_AT_BEST, script, "--out", tmp / name, "--epochs", 4, "--quiet"] for name in kill_at],
                     env=[{"KILL_AT_BEST": str(n)} for n in kill_at.values()])
    runs = {}
    for name, (code, stderr) in zip(kill_at, killed):
        assert code == -signal.SIGKILL, stderr  # it got there: the n-th improvement
        out = tmp / name
        best = epoch_of(out / "best.pt") if (out / "best.pt").exists() else None
        runs[name] = {"out": out, "killed_at": epoch_of(out / "last.pt"), "best_left": best}
    resumed = run_all([[script, "--out", r["out"], "--epochs", r["killed_at"], "--resume", "--quiet"]
                       for r in runs.values()])
    for run, (code, stderr) in zip(runs.values(), resumed):
        run["code"], run["stderr"] = code, stderr
    return runs


@posix_only
@pytest.mark.parametrize("case", ["best-missing", "best-stale"])
def test_resume_repairs_best_after_a_kill_between_the_checkpoints(killed_between_checkpoints, case):
    run = killed_between_checkpoints[case]
    out, killed_at = run["out"], run["killed_at"]
    if case == "best-missing":  # what the kill left
        assert run["best_left"] is None
    else:
        assert run["best_left"] < killed_at
    assert run["code"] == 0, run["stderr"]
    recs = strict_records(out)
    assert [r["epoch"] for r in recs] == list(range(1, killed_at + 1))
    best_epoch = min(recs, key=lambda r: r["val_loss"])["epoch"]  # what best.pt must hold, by the metrics
    assert best_epoch == killed_at
    best = torch.load(out / "best.pt", map_location="cpu", weights_only=True)
    last = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert best["epoch"] == best_epoch
    assert best["model"].keys() == last["model"].keys()
    assert all(torch.equal(best["model"][k], last["model"][k]) for k in best["model"])


# ----------------------------------------------------------------------------- bad files and non-finite losses
RUN_CASES = """
import contextlib, io, json, os, runpy, sys, traceback

results = {}
for name, script, args in json.loads(sys.argv[1]):
    sys.argv = [script, *args]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as e:
            code = e.code
        except BaseException:
            traceback.print_exc(file=err)  # as python would
            code = 1
    results[name] = {"code": code, "stderr": err.getvalue()}
    sys.modules.pop(os.path.basename(script)[len("train_"):-len(".py")], None)
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """Runs of generated scripts, in order, each as `python train_x.py ARGS` would run it, but in
    one process: torch is imported once for all of them."""
    tmp = tmp_path_factory.mktemp("cases")
    good = str(classes(tmp / "good.npz"))
    a = build(tmp, model_src(good, epochs=1), "a")
    b = build(tmp, model_src(good, name="Wider", hidden=16, epochs=1), "b")
    sgd = build(tmp, model_src(good, name="Other", optimizer="SGD(lr=0.1)", epochs=1), "sgd")

    with open(good, "rb") as f:  # a download or copy cut short
        (tmp / "cut.npz").write_bytes(f.read()[:300])
    (tmp / "empty.csv").write_text("")
    (tmp / "header.csv").write_text("a,b,c,d,label\n")
    corrupt = {name: build(tmp, model_src(data, name=f"M{i}"), name) for i, (name, data) in enumerate([
        ("cut_npz", f'npz("{tmp / "cut.npz"}")'),
        ("empty_csv", f'csv("{tmp / "empty.csv"}", target="label")'),
        ("header_csv", f'csv("{tmp / "header.csv"}", target="label")')])}

    rng = np.random.default_rng(0)  # a regression that diverges: SGD with too large a step
    x = rng.normal(size=(48, 4)).astype("float32")
    np.savez(tmp / "reg.npz", x=x, y=x.sum(axis=1))
    diverge = build(tmp, f"""model Div {{
    input x: [B, 4]
    y = x -> Linear(1)
    output y
    train {{
        data = npz("{tmp / 'reg.npz'}")
        loss = MSELoss()
        optimizer = SGD(lr=4.0)
        epochs = 30
        batch_size = 8
        val_split = 0
    }}
}}
""", "div")
    nan_data = str(classes(tmp / "nan.npz", bad=float("nan")))
    stop = build(tmp, model_src(nan_data, name="Stop", extra="val_split = 0"), "stop")
    classes(tmp / "val_nan.npz", n=16, bad=float("inf"), seed=1)
    skip = build(tmp, model_src(nan_data, name="Skip", extra=f'nonfinite_loss = "skip"\n'
                                f'        val_data = npz("{tmp / "val_nan.npz"}")'), "skip")

    runs = [
        ("a", a, ["--out", tmp / "ab"]),
        ("other_model", b, ["--out", tmp / "ab", "--resume"]),
        ("other_optimizer", sgd, ["--out", tmp / "ab", "--resume"]),
        *((name, script, ["--out", tmp / name]) for name, script in corrupt.items()),
        ("diverge", diverge, ["--out", tmp / "diverge"]),
        ("earlier_run", a, ["--out", tmp / "stop", "--epochs", "2"]),
        ("stop", stop, ["--out", tmp / "stop"]),
        ("skip", skip, ["--out", tmp / "skip"]),
    ]
    proc = subprocess.run([sys.executable, "-c", RUN_CASES, json.dumps([[n, str(s), list(map(str, a))]
                                                                         for n, s, a in runs])],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    results["dir"] = tmp
    return results


def test_checkpoint_of_another_model_or_optimizer_is_a_one_line_error(cases):
    assert cases["a"]["code"] == 0, cases["a"]["stderr"]
    ab = cases["dir"] / "ab" / "last.pt"
    assert cases["other_model"]["code"] == 2
    assert one_error_line(cases["other_model"]["stderr"]) == (
        f"error: {ab} holds another model's weights (3 of another shape, e.g. 'linear.weight' (8, 4) in the file "
        "but (16, 4) here); remove it to start over, or pass another --out")
    assert cases["other_optimizer"]["code"] == 2
    assert one_error_line(cases["other_optimizer"]["stderr"]) == (
        f"error: {ab} was written with Adam, but this script uses SGD; remove it to start over, or pass another --out")
    assert epoch_of(ab) == 1  # left as it was


@pytest.mark.parametrize("name, message", [
    ("cut_npz", "error: cannot load the data: BadZipFile: "),
    ("empty_csv", "error: "),  # the path, then: is empty: it needs a header row naming the columns
    ("header_csv", "error: training data has no samples"),
])
def test_bad_data_file_is_a_one_line_error(cases, name, message):
    assert cases[name]["code"] == 2
    assert one_error_line(cases[name]["stderr"]).startswith(message)
    if name == "empty_csv":
        assert one_error_line(cases[name]["stderr"]).endswith("empty.csv is empty: it needs a header row naming "
                                                              "the columns")


def test_nonfinite_loss_stops_naming_epoch_and_step(cases):
    out = cases["dir"] / "diverge"
    recs = strict_records(out)
    assert cases["diverge"]["code"] == 2
    line = one_error_line(cases["diverge"]["stderr"])
    epoch = len(recs) + 1  # the epochs before it were recorded and checkpointed; this one was not
    assert epoch > 1 and epoch_of(out / "last.pt") == epoch - 1
    assert line.startswith(f"error: the training loss is inf at epoch {epoch}, step ")
    assert line.endswith(' of 6: lower the learning rate, set clip_grad_norm, look for NaN or infinite values in '
                         'the data, or set nonfinite_loss = "skip"')
    assert 1 <= int(line.split(", step ")[1].split()[0]) <= 6


def test_a_new_run_stopped_in_its_first_epoch_leaves_no_checkpoint_of_an_earlier_run(cases):
    out = cases["dir"] / "stop"
    assert cases["earlier_run"]["code"] == 0
    assert cases["stop"]["code"] == 2
    assert one_error_line(cases["stop"]["stderr"]).startswith("error: the training loss is nan at epoch 1, step ")
    # a --resume now starts over instead of continuing the earlier run's weights
    assert not (out / "last.pt").exists() and not (out / "best.pt").exists()
    assert strict_records(out) == []


def test_nonfinite_loss_skip(cases):
    out = cases["dir"] / "skip"
    assert cases["skip"]["code"] == 0, cases["skip"]["stderr"]
    recs = strict_records(out)  # valid JSON: the non-finite validation loss is null
    assert [r["epoch"] for r in recs] == [1, 2, 3]
    assert all(r["skipped_steps"] == 1 for r in recs)  # one batch per epoch holds the NaN sample
    assert all(r["val_loss"] is None and r["train_loss"] > 0 for r in recs)
    last = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert all(torch.isfinite(t).all() for t in last["model"].values())  # no NaN step was applied
    assert not (out / "best.pt").exists()  # no epoch had a finite validation loss to improve on


# ----------------------------------------------------------------------------- DDP (torchrun, gloo on CPU)
def torchrun(script, *args):
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(script),
            "--device", "cpu", "--quiet", *map(str, args)]


@pytest.mark.serial
def test_ddp_processes_stop_together_on_a_nonfinite_loss(tmp_path):
    nan_data = classes(tmp_path / "nan.npz", bad=float("nan"))  # one sample: one process sees it
    script = build(tmp_path, model_src(str(nan_data), extra="val_split = 0"), "tiny")
    # the two processes torchrun would start, started here: torchrun ends the second as soon as
    # the first exits, and this test is about how each ends by itself
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2", "OMP_NUM_THREADS": "1"}
    results = run_all([[script, "--out", tmp_path / "run", "--device", "cpu", "--quiet"]] * 2,
                      env=[{**env, "RANK": str(rank), "LOCAL_RANK": str(rank)} for rank in (0, 1)])
    assert [code for code, _ in results] == [2, 2], results
    errors = sorted(one_error_line(stderr) for _, stderr in results)
    assert errors[0].startswith("error: the training loss is nan at epoch 1, step ")
    assert errors[1].startswith("error: the training loss is not finite in another process at epoch 1, step ")
    assert errors[0].split(" at ", 1)[1] == errors[1].split(" at ", 1)[1]  # at the same step


@pytest.mark.serial
@pytest.mark.slow
@pytest.mark.skipif(not LINUX, reason="finds torchrun's worker processes through /proc")
def test_ddp_peer_that_stops_answering_ends_the_run(tmp_path):
    script = build(tmp_path, model_src(str(classes(tmp_path / "data.npz")), epochs=100000), "tiny")
    out = tmp_path / "run"
    run = subprocess.Popen(torchrun(script, "--out", out, "--timeout", 5), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    workers = []
    try:
        wait_for(lambda: run.poll() is not None or (out / "last.pt").exists(), 120, "the first epoch")
        assert run.poll() is None, run.communicate()
        rank0 = int((out / "train.lock").read_text())
        workers = children(run.pid)
        assert rank0 in workers and len(workers) == 2, workers
        (rank1,) = set(workers) - {rank0}
        os.kill(rank1, signal.SIGSTOP)  # still there, but answers nothing
        stopped = time.monotonic()
        wait_for(lambda: not alive(rank0), 5 + 15, "process 0 to give up on process 1")
        assert time.monotonic() - stopped >= 4  # it did wait (about) --timeout seconds
        os.kill(rank1, signal.SIGKILL)  # torchrun would wait 30 s more for the stopped one
        run.wait(timeout=60)
        assert "error: another process stopped answering (waited --timeout seconds): " in run.stderr.read()
    finally:
        for pid in [*(workers or children(run.pid)), run.pid]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        run.wait()


def test_an_out_folder_named_like_an_interpreter_option_is_a_folder(tmp_path):
    """graphc train runs `python SCRIPT --out=OUT`: a folder named '-c...' is not code."""
    data = classes(tmp_path / "data.npz")
    model = tmp_path / "tiny.model"
    model.write_text(model_src(str(data), epochs=1))
    out = '-cprint("INJECTED")#'
    proc = run_graphc("train", model, f"--out={out}", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "INJECTED" not in proc.stdout
    assert [r["epoch"] for r in strict_records(tmp_path / out)] == [1]
