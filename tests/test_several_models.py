"""A file of several models (a GAN's generator and discriminator): each checked and built to a
class of its own in one module, a block both use built to one class right for both; summary, viz
and training choose a model."""

import json

import pytest
from conftest import run_graphc

from graphc.api import compile_source
from graphc.summary import summarize

GAN = """# A DCGAN-style pair for 8×8 images.
const Z = 16

block Conv(c) {
    input x
    y = x -> Conv2d(c, 3, padding=1) -> LeakyReLU(0.2)
    output y
}

model Generator {
    input z: [B, Z]
    img = z -> Linear(32 * 4 * 4) -> Unflatten(1, (32, 4, 4)) -> Upsample(scale_factor=2) -> body: Conv(16)
        -> Conv2d(1, 3, padding=1) -> Tanh
    output img
}

model Discriminator {
    input img: [B, 1, 8, 8]
    score = img -> body: Conv(8) -> MaxPool2d(2) -> Flatten -> head: Linear(1)
    output score
}
"""


def _ok(src):
    comp = compile_source(src, "gan.model")
    assert comp.ok, [str(d) for d in comp.diagnostics]
    return comp


def test_each_model_is_its_own_class_and_equals_torch():
    torch = pytest.importorskip("torch")
    from torch import nn

    comp = _ok(GAN)
    assert [p.name for p in comp.programs] == ["Generator", "Discriminator"]
    src = comp.python_source()
    assert src.count("class Conv(nn.Module)") == 1 and "class Conv_2" not in src  # one class, both uses
    ns = {}
    exec(src, ns)  # noqa: S102 - the generated module
    assert ns["MODELS"] == {"Generator": ns["Generator"], "Discriminator": ns["Discriminator"]}
    assert ns["MODEL"] is ns["Generator"]

    class Conv(nn.Module):
        def __init__(self, cin, c):
            super().__init__()
            self.conv2d, self.leaky_relu = nn.Conv2d(cin, c, 3, padding=1), nn.LeakyReLU(0.2)

        def forward(self, x):
            return self.leaky_relu(self.conv2d(x))

    class D(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.max_pool2d, self.flatten = Conv(1, 8), nn.MaxPool2d(2), nn.Flatten()
            self.head = nn.Linear(8 * 4 * 4, 1)

        def forward(self, img):
            return self.head(self.flatten(self.max_pool2d(self.body(img))))

    g, d = comp.to_module("Generator"), comp.to_module("Discriminator")
    ref = D()
    ref.load_state_dict(d.state_dict(), strict=True)
    (img,) = ns["example_inputs_discriminator"](3)
    assert torch.equal(d(img), ref(img))
    (z,) = ns["example_inputs"](3)
    fake = g(z)
    assert fake.shape == (3, 1, 8, 8) and d(fake).shape == (3, 1)  # the two fit together
    for prog, m in ((comp.model("Generator"), g), (comp.model("Discriminator"), d)):
        assert summarize(prog).total_params == sum(p.numel() for p in m.parameters())
    with pytest.raises(KeyError):
        comp.to_module("Critic")


@pytest.mark.parametrize("src,code,needle", [
    (GAN.replace("model Discriminator", "model Generator"), "duplicate-name", "a second model named 'Generator'"),
    (GAN.replace("model Discriminator", "model Conv"), "duplicate-name", "has the name of a block"),
    (GAN.replace("    output score\n", "    output score\n    train { data = digits() loss = MSELoss() }\n")
        .replace("    output img\n", "    output img\n    train { data = digits() loss = MSELoss() }\n"),
     "invalid-train", "training two models together"),
])
def test_several_models_errors(src, code, needle):
    comp = compile_source(src, "gan.model")
    assert any(d.code == code and needle in d.message for d in comp.diagnostics), [str(d) for d in comp.diagnostics]


def test_an_error_in_each_model_is_reported():
    bad = GAN.replace("Linear(32 * 4 * 4)", "Linear(32 * 4 * 5)").replace("head: Linear(1)", "head: Lnear(1)")
    errs = [(d.span.line, d.code) for d in compile_source(bad, "gan.model").errors]
    assert errs == [(12, "shape-mismatch"), (19, "unknown-layer")], errs


def test_the_training_script_trains_the_model_with_the_train_section(tmp_path):
    src = GAN.replace("    output score\n", "    output score\n    train { data = digits() loss = MSELoss() }\n")
    comp = compile_source(src, "gan.model")
    # digits' targets are classes: the loss check answers for the Discriminator, not the Generator
    assert comp.trained is comp.model("Discriminator")


def test_cli_summary_and_viz_choose_a_model(tmp_path):
    f = tmp_path / "gan.model"
    f.write_text(GAN)
    proc = run_graphc("summary", f)
    assert proc.returncode == 0 and "model Generator" in proc.stdout and "model Discriminator" in proc.stdout
    data = json.loads(run_graphc("summary", f, "--format", "json").stdout)
    assert [m["model"] for m in data["models"]] == ["Generator", "Discriminator"]
    one = json.loads(run_graphc("summary", f, "--format", "json", "--model", "Discriminator").stdout)
    assert one["model"] == "Discriminator"
    bad = run_graphc("summary", f, "--model", "Critic")
    assert bad.returncode == 2 and "has no model 'Critic'; it has Generator, Discriminator" in bad.stderr
    viz = run_graphc("viz", f, "-o", tmp_path / "d.dot", "--model", "Discriminator")
    assert viz.returncode == 0 and '"head"' in (tmp_path / "d.dot").read_text()
