"""`graphc predict -o preds.npz` with outputs named like np.savez's own keywords (`file`,
`allow_pickle`): each is an array of the .npz like any other, under its own name, with the values
torch gives for the checkpoint (np.savez(f, file=..., ...) would take them as its arguments)."""

import pytest
from conftest import MODELS, build_scripts, import_generated, run_graphc

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

CLASH = """model Clash {
    input x: [B, 4]
    h = x -> Linear(8) -> ReLU
    file = h -> Linear(3)
    allow_pickle = h -> Linear(2)
    output file, allow_pickle
    train {
        data = npz("clash.npz")
        loss = CrossEntropyLoss(file)
        optimizer = SGD(lr=0.1)
        epochs = 1
    }
}
"""


def test_npz_outputs_named_file_and_allow_pickle(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 4)).astype("float32")
    np.savez(tmp_path / "clash.npz", x=x, y=rng.integers(0, 3, 24))
    (tmp_path / "clash.model").write_text(CLASH)
    script = build_scripts(tmp_path, CLASH, "clash")
    monkeypatch.chdir(tmp_path)
    import_generated(script, "train_clash_npz").main(["--out", "run", "--quiet", "--max-steps", "2",
                                                      "--device", "cpu"])
    new = rng.standard_normal((5, 4)).astype("float32")
    np.save(tmp_path / "new.npy", new)
    run = run_graphc("predict", tmp_path / "clash.model", "--checkpoint", tmp_path / "run" / "last.pt",
                     "--data", tmp_path / "new.npy", "-o", tmp_path / "preds.npz")
    assert run.returncode == 0, run.stderr
    model = import_generated(script.parent / "clash.py", "clash_npz_models").Clash()
    model.load_state_dict(torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"])
    model.eval()
    with torch.no_grad():
        file, allow_pickle = model(torch.from_numpy(new))
    with np.load(tmp_path / "preds.npz", allow_pickle=False) as got:
        assert sorted(got.files) == ["allow_pickle", "file"]
        assert got["file"].shape == (5, 3) and got["allow_pickle"].shape == (5, 2)
        np.testing.assert_allclose(got["file"], file.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got["allow_pickle"], allow_pickle.numpy(), rtol=1e-5, atol=1e-6)


def test_gan_npz_output_named_file(tmp_path):
    """The GAN script writes its own .npz: a generator whose output is `file`, and a discriminator
    whose output is `allow_pickle`."""
    src = (MODELS / "gan.model").read_text(encoding="utf-8")
    for old, new in (("image = noise", "file = noise"), ("output image\n\n    train", "output file\n\n    train"),
                     ("logit = image", "allow_pickle = image"), ("output logit", "output allow_pickle")):
        assert old in src
        src = src.replace(old, new)
    (tmp_path / "gan.model").write_text(src)
    script = build_scripts(tmp_path, src, "gan")
    mod = import_generated(script.parent / "gan.py", "gan_npz_models")
    torch.manual_seed(0)
    g, d = mod.Generator(), mod.Discriminator()
    torch.save({"generator": g.state_dict(), "discriminator": d.state_dict(), "seed": 0}, tmp_path / "last.pt")
    z = torch.randn(6, 16, generator=torch.Generator().manual_seed(3))
    np.save(tmp_path / "noise.npy", z.numpy())
    g.eval()
    d.eval()
    with torch.no_grad():
        samples = g(z)
        logits = d(samples)
    np.save(tmp_path / "samples.npy", samples.numpy())
    for model, data, name, want in (("Generator", "noise.npy", "file", samples),
                                    ("Discriminator", "samples.npy", "allow_pickle", logits)):
        run = run_graphc("predict", tmp_path / "gan.model", "--checkpoint", tmp_path / "last.pt", "--model", model,
                         "--data", tmp_path / data, "-o", tmp_path / f"{model}.npz")
        assert run.returncode == 0, run.stderr
        with np.load(tmp_path / f"{model}.npz", allow_pickle=False) as got:
            assert got.files == [name]
            np.testing.assert_allclose(got[name], want.numpy(), rtol=1e-5, atol=1e-6)
