"""Standard output closed early (``... | head -1``): graphc and the generated training scripts
end quietly with exit status 141 (128 + SIGPIPE, what a shell reports for a tool that a closed
pipe ended), never with a BrokenPipeError traceback or Python's "Exception ignored" at exit;
a BrokenPipeError from anywhere else is still an error."""

import os
import subprocess
import sys

import pytest
from conftest import MODELS, ROOT, build_scripts

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def closed_stdout(cmd, cwd=None):
    """Run ``cmd`` with standard output a pipe whose reader is already gone: its first write fails."""
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run([str(c) for c in cmd], stdout=w, stderr=subprocess.PIPE, text=True, timeout=180,
                              cwd=cwd or ROOT, env=ENV)
    finally:
        os.close(w)


def into_head(cmd, head_args, cwd=None):
    """``cmd | head ...`` as a shell runs it: (cmd's exit status, its stderr, what head printed)."""
    producer = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=cwd or ROOT, env=ENV)
    head = subprocess.run(["head", *head_args], stdin=producer.stdout, capture_output=True, timeout=180)
    producer.stdout.close()  # head alone reads the pipe: once it has gone, the pipe has no reader
    err = producer.stderr.read().decode()
    producer.stderr.close()
    return producer.wait(timeout=180), err, head.stdout.decode()


@pytest.fixture(scope="module")
def big_models(tmp_path_factory):
    """A 3,000-layer chain (a summary far larger than a pipe's buffer) and one with 3,000 errors."""
    d = tmp_path_factory.mktemp("big")
    chain = "\n".join(["model Big {", "  input x: [B, 8]", "  y = x", *["    -> Linear(8)"] * 3000, "  output y", "}"])
    (d / "big.model").write_text(chain + "\n")
    (d / "bad.model").write_text(chain.replace("Linear(8)", "Linearr(8)") + "\n")
    return d


@pytest.mark.parametrize("args,file", [
    (["summary"], "big.model"),
    (["check", "--format", "json"], "bad.model"),
    (["check"], "bad.model"),
    (["fmt", "--diff"], "bad.model"),
    (["--help"], None),
])
def test_cli_into_a_closed_pipe_ends_quietly_with_141(big_models, args, file):
    proc = closed_stdout([sys.executable, "-m", "graphc", *args, *([big_models / file] if file else [])])
    assert (proc.returncode, proc.stderr) == (141, "")


def test_cli_into_head(big_models):
    code, err, out = into_head([sys.executable, "-m", "graphc", "summary", big_models / "big.model"], ["-n", "1"])
    assert out == "model Big\n"
    assert (code, err) == (141, "")


def test_cli_broken_pipe_elsewhere_is_an_internal_error(tmp_path):
    """A BrokenPipeError that standard output did not raise (a pipe of graphc's own) is no quiet exit."""
    code = ("import sys, graphc.cli as c\n"
            "def boom(args):\n    raise BrokenPipeError(32, 'Broken pipe')\n"
            "c.cmd_check = boom\nsys.exit(c.main(['check', 'x.model']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env=ENV)
    assert proc.returncode == 2
    assert "graphc: internal error: BrokenPipeError: [Errno 32] Broken pipe" in proc.stderr


@pytest.fixture(scope="module")
def gan(tmp_path_factory):
    """models/gan.model built, a checkpoint of its untrained players (no training run needed for
    --predict), and noise for 3,000 samples: a csv far larger than a pipe's buffer."""
    torch = pytest.importorskip("torch")
    np = pytest.importorskip("numpy")
    from conftest import import_generated

    d = tmp_path_factory.mktemp("gan")
    script = build_scripts(d, (MODELS / "gan.model").read_text(encoding="utf-8"), "gan")
    mod = import_generated(script.parent / "gan.py", "gan_broken_pipe_models")
    torch.save({"generator": mod.Generator().state_dict(), "discriminator": mod.Discriminator().state_dict(),
                "seed": 0}, d / "last.pt")
    np.save(d / "noise.npy", np.random.default_rng(0).standard_normal((3000, 16)).astype("float32"))
    return script, d


def test_gan_predict_into_head(gan):
    """The issue's case: the GAN script's predictions piped into head."""
    script, d = gan
    code, err, out = into_head([sys.executable, script, "--predict", d / "last.pt", "--data", d / "noise.npy",
                                "--device", "cpu"], ["-c", "10"])
    assert out == "row,value_"
    assert (code, err) == (141, "")


def test_generated_scripts_ask_the_pipe(gan, tmp_path, monkeypatch):
    """stdout_closed() is true for a pipe without a reader only: a BrokenPipeError raised while
    standard output is a working pipe (or a file) is re-raised, not swallowed."""
    from conftest import import_generated

    for path in (gan[0], _normal_script(tmp_path)):
        script = import_generated(path, f"{path.stem}_pipe_probe")
        r, w = os.pipe()
        with open(w, "w") as working:
            monkeypatch.setattr(sys, "stdout", working)
            assert not script.stdout_closed()
            os.close(r)
            assert script.stdout_closed()
        with open(tmp_path / "out.txt", "w") as file:
            monkeypatch.setattr(sys, "stdout", file)
            assert not script.stdout_closed()
        monkeypatch.undo()


NET = """model Net {
  input x: [B, 4]
  y = x -> Linear(3)
  output y
  train {
    data = npz("d.npz")
    loss = CrossEntropyLoss()
    optimizer = SGD(lr=0.1)
    epochs = 1
  }
}
"""


def _normal_script(tmp_path):
    if not (tmp_path / "gen_net").exists():
        build_scripts(tmp_path, NET, "net")
    return tmp_path / "gen_net" / "train_net.py"


def test_training_script_predict_into_head(tmp_path, monkeypatch):
    """The normal training script's --predict csv on standard output, piped into head."""
    np = pytest.importorskip("numpy")
    from conftest import import_generated

    script = _normal_script(tmp_path)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.standard_normal((40, 4)).astype("float32"), y=rng.integers(0, 3, 40))
    monkeypatch.chdir(tmp_path)
    import_generated(script, "train_net_broken_pipe").main(
        ["--out", str(tmp_path / "run"), "--max-steps", "1", "--quiet", "--device", "cpu"])
    np.save(tmp_path / "new.npy", rng.standard_normal((3000, 4)).astype("float32"))
    cmd = [sys.executable, script, "--predict", tmp_path / "run" / "last.pt", "--data", tmp_path / "new.npy",
           "--device", "cpu"]
    code, err, out = into_head(cmd, ["-n", "1"], cwd=tmp_path)
    assert out.startswith("row,class,")
    assert (code, err) == (141, "")


def test_graphc_train_passes_141_on(tmp_path):
    """graphc train runs the script as a child: the child's quiet 141 is graphc's exit status."""
    pytest.importorskip("torch")
    model = tmp_path / "gan.model"
    model.write_text((MODELS / "gan.model").read_text(encoding="utf-8").replace("epochs = 20", "epochs = 1"))
    proc = closed_stdout([sys.executable, "-m", "graphc", "train", model, "--out", tmp_path / "run",
                          "--max-steps", "1", "--device", "cpu"], cwd=tmp_path)
    assert proc.returncode == 141, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
