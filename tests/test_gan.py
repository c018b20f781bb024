"""Two-player training (a GAN): the section's checks, with the numbers and a fix; the generated
script's steps against the same steps written in plain torch; models/gan.model smoke-trains."""

import json
import subprocess
import sys

import pytest
from conftest import MODELS, ROOT, import_generated

from graphc.api import compile_source

GAN = (MODELS / "gan.model").read_text(encoding="utf-8")


def _errors(src):
    comp = compile_source(src, "gan.model")
    return [(d.span.line, d.span.col, d.code, d.message, d.hint) for d in comp.errors]


def test_models_gan_checks_and_builds_one_script_for_both():
    comp = compile_source(GAN, "gan.model")
    assert comp.ok, [str(d) for d in comp.diagnostics]
    spec = comp.trained.training
    assert (spec.task, spec.discriminator, spec.noise_shape, spec.sample_shape) == \
        ("gan", "Discriminator", (16,), (1, 8, 8))
    script = comp.train_source()
    assert "_graphc_generator, _graphc_discriminator = _graphc_models.Generator, _graphc_models.Discriminator" \
        in script
    assert script == compile_source(GAN, "gan.model").train_source()  # deterministic
    compile(script, "train_gan.py", "exec")


@pytest.mark.parametrize("edit,code,needle,hint", [
    (("discriminator = Discriminator", "discriminator = Discrimnator"), "invalid-train",
     "'discriminator' names another model of this file, and 'Discrimnator' is none", "Discriminator"),
    (("-> Linear(1)  #", "-> Linear(1) -> Sigmoid  #"), "invalid-train", "ends with a Sigmoid", "remove the Sigmoid"),
    (("-> Linear(1)  #", "-> Linear(2)  #"), "invalid-train", "gives one logit per sample, (B,) or (B, 1), but "
                                                                 "Discriminator gives (B, 2)", "Linear(1)"),
    (("input image: [B, 1, 8, 8]", "input image: [B, 1, 8, 9]\n    x = image -> Flatten"),
     None, None, None),  # replaced below: a shape mismatch between the players
    (("discriminator = Discriminator", "discriminator = Generator"), "invalid-train",
     "the discriminator must be another model than the generator Generator", "models: Discriminator"),
    (("discriminator = Discriminator", "discriminator = 3"), "invalid-train",
     "'discriminator' takes the name of another model of this file", "Discriminator"),
    (("optimizer = Adam(", "optimizer = Adamm("), "unknown-component", "unknown optimizer 'Adamm'", "Adam"),
    (("discriminator_optimizer = Adam(lr=2e-3, betas=(0.5, 0.999))", "discriminator_optimizer = 3"),
     "invalid-train", "'discriminator_optimizer' takes an optimizer, e.g.", "Adam"),
    (("seed = 0", "seed = 0\n        loss = BCEWithLogitsLoss()"), "invalid-train", "a GAN's losses are fixed",
     "remove the loss setting"),
    (("seed = 0", "seed = 0\n        epochz = 3"), "unknown-argument", "a GAN's training section has no setting "
                                                                     "'epochz'", "epochs"),
    (("data = digits()", "data = digits(flatten=true)"), "data-mismatch",
     "digits() gives samples of shape (64,), but the generator Generator gives (B, 1, 8, 8)", "same shape"),
])
def test_gan_section_errors(edit, code, needle, hint):
    """Each mistake is an error at the section with the numbers and a fix."""
    if code is None:  # the discriminator takes another shape than the generator gives
        src = GAN.replace("input image: [B, 1, 8, 8]", "input image: [B, 1, 8, 9]")
        errs = _errors(src)
        assert errs and errs[0][2] == "invalid-train"
        assert "the generator Generator gives (B, 1, 8, 8), but the discriminator Discriminator takes " \
               "(B, 1, 8, 9)" in errs[0][3], errs
        return
    old, new = edit
    assert old in GAN
    errs = _errors(GAN.replace(old, new))
    assert [e for e in errs if e[2] == code and needle in e[3] and hint in (e[4] or "")], errs
    assert all(e[0] > 0 and e[1] > 0 for e in errs)  # file:line:col


def test_gan_steps_are_torchs(tmp_path):
    """Two steps of the generated script equal two steps written by hand in plain torch: the
    discriminator's BCE-with-logits on real (1) and detached fake (0) samples, then the generator's
    non-saturating BCE(D(G(z)), 1); both models, both Adams, the losses it records."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    F = torch.nn.functional
    comp = compile_source(GAN.replace("epochs = 20", "epochs = 1"), "gan_steps.model")
    gen = tmp_path / "gen"
    gen.mkdir()
    (gen / "gan_steps.py").write_text(comp.python_source())
    (gen / "train_gan_steps.py").write_text(comp.train_source())
    script = import_generated(gen / "train_gan_steps.py", "train_gan_steps_main")
    script.main(["--out", str(tmp_path / "run"), "--max-steps", "2", "--quiet", "--device", "cpu"])
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)

    mod = import_generated(gen / "gan_steps.py", "gan_steps_models")
    torch.manual_seed(0)
    g, d = mod.Generator(), mod.Discriminator()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-3, betas=(0.5, 0.999))
    x = torch.tensor(load_digits().data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    noise = torch.Generator().manual_seed(1)
    d_losses, g_losses = [], []
    for step in range(2):
        real = x[perm[64 * step:64 * (step + 1)]]
        z = torch.randn(64, 16, generator=noise)
        fake = g(z)
        loss_d = F.binary_cross_entropy_with_logits(d(real), torch.ones(64, 1)) + \
            F.binary_cross_entropy_with_logits(d(fake.detach()), torch.zeros(64, 1))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = F.binary_cross_entropy_with_logits(d(fake), torch.ones(64, 1))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        d_losses.append(loss_d.item())
        g_losses.append(loss_g.item())
    for name, model in (("generator", g), ("discriminator", d)):
        for k, v in model.state_dict().items():
            torch.testing.assert_close(ckpt[name][k], v, rtol=1e-5, atol=1e-6, msg=f"{name}.{k}")
    assert ckpt["epoch"] == 1 and set(ckpt) >= {"g_optimizer", "d_optimizer"}
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert row["steps"] == 2
    assert row["d_loss"] == pytest.approx(sum(d_losses) / 2, rel=1e-5)
    assert row["g_loss"] == pytest.approx(sum(g_losses) / 2, rel=1e-5)
    # --predict: the generator's samples from given noise, the discriminator's logits and probabilities
    np = pytest.importorskip("numpy")
    z = torch.randn(5, 16, generator=torch.Generator().manual_seed(7))
    np.save(tmp_path / "noise.npy", z.numpy())
    script.main(["--predict", str(tmp_path / "run" / "last.pt"), "--data", str(tmp_path / "noise.npy"),
                 "--output", str(tmp_path / "samples.npy"), "--device", "cpu"])
    g.eval()
    d.eval()
    with torch.no_grad():
        want = g(z)
        logits = d(want)
    np.testing.assert_allclose(np.load(tmp_path / "samples.npy"), want.numpy(), rtol=1e-5, atol=1e-6)
    np.save(tmp_path / "samples_in.npy", want.numpy())
    script.main(["--predict", str(tmp_path / "run" / "last.pt"), "--data", str(tmp_path / "samples_in.npy"),
                 "--model", "Discriminator", "--output", str(tmp_path / "d.csv"), "--device", "cpu"])
    rows = [r.split(",") for r in (tmp_path / "d.csv").read_text().splitlines()]
    assert rows[0] == ["row", "real", "probability", "logit"]
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], torch.sigmoid(logits[:, 0]).numpy(), rtol=1e-5)
    assert [int(r[1]) for r in rows[1:]] == (logits[:, 0] > 0).long().tolist()
    with pytest.raises(script.DataError, match=r"has shape \(5, 16\), but Discriminator takes \(N, 1, 8, 8\)"):
        script.main(["--predict", str(tmp_path / "run" / "last.pt"), "--data", str(tmp_path / "noise.npy"),
                     "--model", "Discriminator"])
    # a CSV of noise with Excel's byte-order mark, and a path with a newline in one line
    (tmp_path / "noise.csv").write_text("a,b\n" + "\n".join(",".join(f"{v:.6f}" for v in r) for r in z.tolist()),
                                        encoding="utf-8-sig")
    np.testing.assert_allclose(script.read_array(str(tmp_path / "noise.csv")).numpy(), z.numpy(), atol=1e-6)
    (tmp_path / "a\nb.csv").write_text("a\nnot a number\n")
    with pytest.raises(script.DataError) as e:
        script.read_array(str(tmp_path / "a\nb.csv"))
    assert "\n" not in str(e.value) and "a\\nb.csv" in str(e.value)
    png = tmp_path / "run" / "samples_epoch001.png"
    image = pytest.importorskip("PIL.Image")
    with image.open(png) as img:  # 16 samples of 8×8, a 4×4 grid with 1-pixel lines, scaled up
        assert img.mode == "L" and img.width == img.height and img.width % 37 == 0


def test_graphc_train_smoke_runs_models_gan(tmp_path, capsys):
    """`graphc train models/gan.model --epochs 1 --max-steps 3`: offline, seconds; refused flags; predict's
    checks of a GAN before torch runs (noise of another shape, an unknown player); eval refuses a GAN."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from graphc.cli import main

    assert main(["train", str(MODELS / "gan.model"), "--out", str(tmp_path / "run"), "--epochs", "1",
                 "--max-steps", "3", "--quiet"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["steps"] for r in rows] == [3]
    assert (tmp_path / "run" / "last.pt").is_file() and (tmp_path / "run" / "samples_epoch001.png").is_file()
    assert main(["train", str(MODELS / "gan.model"), "--out", str(tmp_path / "run"), "--resume"]) == 2
    np = pytest.importorskip("numpy")
    np.save(tmp_path / "noise.npy", np.zeros((3, 15), "float32"))  # the noise is (B, 16)
    assert main(["predict", str(MODELS / "gan.model"), "--checkpoint", str(tmp_path / "run" / "last.pt"),
                 "--data", str(tmp_path / "noise.npy")]) == 2
    assert main(["predict", str(MODELS / "gan.model"), "--checkpoint", str(tmp_path / "run" / "last.pt"),
                 "--data", str(tmp_path / "noise.npy"), "--model", "Critic"]) == 2
    err = capsys.readouterr().err
    assert "noise.npy has samples of shape (15,), but Generator takes (B, 16)" in err
    assert "--model Critic: a GAN's players are Generator and Discriminator" in err
    assert main(["eval", str(MODELS / "gan.model"), "--checkpoint", str(tmp_path / "run" / "last.pt")]) == 2


def test_a_loss_that_is_not_finite_stops_before_the_epoch_is_saved(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    comp = compile_source(GAN, "gan_nan.model")
    (tmp_path / "gan_nan.py").write_text(comp.python_source())
    (tmp_path / "train_gan_nan.py").write_text(comp.train_source())
    script = import_generated(tmp_path / "train_gan_nan.py", "train_gan_nan_main")
    nan = torch.tensor(float("nan"))
    script.gan_step = lambda *args: (nan, torch.tensor(0.5), nan, nan)  # a step whose losses blew up
    with pytest.raises(script.DataError, match=r"the losses are not finite at epoch 1 \(d_loss nan, g_loss 0.5\)"):
        script.main(["--out", str(tmp_path / "run"), "--max-steps", "1", "--quiet", "--device", "cpu"])
    assert not (tmp_path / "run" / "last.pt").exists()
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == ""


def test_real_samples_from_an_npz_without_targets(tmp_path, monkeypatch):
    """A GAN's data has no labels: an .npz of one array 'x' trains (the readers ask no 'y')."""
    np = pytest.importorskip("numpy")
    pytest.importorskip("torch")
    np.savez(tmp_path / "real.npz", x=np.random.default_rng(0).random((40, 1, 8, 8), dtype=np.float32))
    comp = compile_source(GAN.replace("data = digits()", 'data = npz("real.npz")'), "gan_npz.model")
    assert comp.ok, [str(d) for d in comp.diagnostics]
    (tmp_path / "gan_npz.py").write_text(comp.python_source())
    (tmp_path / "train_gan_npz.py").write_text(comp.train_source())
    monkeypatch.chdir(tmp_path)
    script = import_generated(tmp_path / "train_gan_npz.py", "train_gan_npz_main")
    script.main(["--out", "run", "--max-steps", "1", "--quiet", "--device", "cpu"])
    assert json.loads((tmp_path / "run" / "metrics.jsonl").read_text())["steps"] == 1


def test_the_documented_hand_written_loop_runs(tmp_path, monkeypatch):
    """docs/training.md's loop around the two generated classes (for what the GAN script does not do
    yet) and its sampling snippet run as written, on a checkpoint of the script."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    import re
    import sys

    text = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    section = text[text.index("## Two-player training (GANs)"):text.index("## The generated script")]
    loop, sample = re.findall(r"```python\n(.*?)```", section, re.S)
    comp = compile_source(GAN, "gan.model")
    (tmp_path / "gan.py").write_text(comp.python_source())
    (tmp_path / "train_gan.py").write_text(comp.train_source())
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "gan", raising=False)
    ns: dict = {}
    exec(compile(loop, "training.md", "exec"), ns)
    real = torch.rand(8, 1, 8, 8)
    loss_d, loss_g = ns["step"](real)
    assert loss_d > 0 and loss_g > 0
    script = import_generated(tmp_path / "train_gan.py", "train_gan_docs")
    script.main(["--out", "runs/gan", "--max-steps", "1", "--quiet", "--device", "cpu"])
    exec(compile(sample, "training.md", "exec"), ns)
    assert tuple(ns["images"].shape) == (64, 1, 8, 8)


CLASHING = """const PLAYERS = 16
const SAMPLES = 8
const NOISE_SHAPE = 2

block main(n) {
    input x
    y = x -> Linear(n) -> LeakyReLU(0.2)
    output y
}

block pick_device() {
    input x
    y = x -> Flatten -> main(PLAYERS)
    output y
}

model gan_step {
    input noise: [B, SAMPLES]
    parse_args = noise -> main(PLAYERS) -> Linear(64) -> Sigmoid -> Unflatten(1, (1, 8, 8))
    output parse_args
    train {
        data = digits()
        discriminator = save_samples
        epochs = 1
        samples = NOISE_SHAPE
    }
}

model save_samples {
    input DataError: [B, 1, 8, 8]
    run_predict = DataError -> pick_device -> Linear(1)
    output run_predict
}
"""


def test_models_named_like_the_gan_scripts_own_names(tmp_path):
    """A generator, discriminator, blocks, constants, values and outputs named like the GAN script's
    own functions and variables (gan_step, save_samples, main, pick_device, PLAYERS, SAMPLES, ...)
    shadow none of them: the script reaches its models only through its alias of their module, so
    none of them is a name of the script (the same top-level names as models/gan.model's), and a
    step and --predict run."""
    from test_generated_safety import _top_level_names

    comp = compile_source(CLASHING, "gan_names.model")
    assert comp.ok, [str(d) for d in comp.diagnostics]
    code = comp.train_source()
    assert _top_level_names(code) == _top_level_names(compile_source(GAN, "gan.model").train_source())
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    (tmp_path / "gan_names.py").write_text(comp.python_source())
    (tmp_path / "train_gan_names.py").write_text(code)
    run = subprocess.run([sys.executable, "train_gan_names.py", "--out", "run", "--max-steps", "1", "--device",
                          "cpu"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "max steps: stopped after 1 steps" in run.stdout
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert (tmp_path / "run" / "samples_epoch001.png").is_file()  # SAMPLES = 8 of the model: not the script's
    module = import_generated(tmp_path / "gan_names.py", "gan_names_models")
    g, d = module.gan_step(), module.save_samples()
    g.load_state_dict(ckpt["generator"])
    d.load_state_dict(ckpt["discriminator"])
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    np.save(tmp_path / "z.npy", z.numpy())
    run = subprocess.run([sys.executable, "train_gan_names.py", "--predict", "run/last.pt", "--data", "z.npy",
                          "--output", "out.npz", "--device", "cpu"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    g.eval()
    with torch.no_grad(), np.load(tmp_path / "out.npz") as got:
        np.testing.assert_allclose(got["parse_args"], g(z).numpy(), rtol=1e-5, atol=1e-6)
