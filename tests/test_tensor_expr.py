"""Tensor expressions (docs/language.md, "Tensor expressions"): lowering, the folded forward
line, diagnostics, fmt, and models/vae.model against a hand-written torch reference."""

import pytest
from conftest import MODELS, import_generated

from graphc.api import compile, compile_source
from graphc.fmt import format_text

torch = pytest.importorskip("torch")
nn = torch.nn


def _model(body: str, inputs: str = "    input x: [B, 16]\n    input g: [B, 16]\n") -> str:
    return f"const d = 16\nmodel M {{\n{inputs}{body}\n}}\n"


def _forward(src: str) -> list[str]:
    comp = compile_source(src, "t.model")
    assert comp.ok, [str(d) for d in comp.diagnostics]
    code = comp.python_source()
    body = code[code.index("    def forward"):].split("\n\n")[0].splitlines()[1:]
    return [line.split("#")[0].strip() for line in body]


def _errors(src: str) -> list[str]:
    comp = compile_source(src, "t.model")
    return [f"{d.span.line}:{d.span.col} {d.message} | {d.hint}" for d in comp.errors]


def test_the_reparameterisation_is_one_line():
    lines = _forward(_model("    z = x + exp(0.5 * g) * randn_like(x)\n    output z"))
    assert lines == ["z = x + torch.exp(0.5 * g) * torch.randn_like(x)", "return z"]


@pytest.mark.parametrize("written,python", [
    ("x * 0.5", "x * 0.5"),
    ("1 - sigmoid(g)", "1 - torch.sigmoid(g)"),
    ("x / sqrt(d)", "x / 4.0"),
    ("-(x - g) / (2 * g)", "-(x - g) / (2 * g)"),
    ("x - (g - x)", "x - (g - x)"),
    ("(x - g) - x", "x - g - x"),
    ("x / (g * x)", "x / (g * x)"),
    ("clamp(x * 2, min=-1, max=1)", "torch.clamp(x * 2, min=-1, max=1)"),
    ("softmax(x + g, 1)", "torch.softmax(x + g, dim=1)"),
    ("--x", "-(-x)"),
])
def test_folded_lines_keep_python_precedence(written, python):
    assert _forward(_model(f"    y = {written}\n    output y"))[0] == f"y = {python}"


def test_an_expression_can_start_a_chain_and_a_call_can_take_one():
    lines = _forward(_model("    y = x * g -> Linear(8)\n    z = concat(y * 2, y, dim=1)\n    output z"))
    assert lines[:3] == ["y = x * g", "y = self.linear(y)", "z = torch.cat([y * 2, y], dim=1)"]


@pytest.mark.parametrize("body,wanted", [
    ("    y = x * h\n    output y", "needs shapes that broadcast, got (B, 16) and (B, 4)"),
    ("    y = n - 1\n    output y", "cannot subtract with a bool tensor"),
    ("    y = randn_like(n)\n    output y", "randn_like: makes floating-point numbers; the tensor it copies is bool"),
    ("    y = x + randn_like(3)\n    output y", "'randn_like' takes a tensor, and its arguments here are constants"),
    ("    y = x // 2\n    output y", "'//' on tensors is not in the language yet"),
    ("    y = x * \"a\"\n    output y", "'*' combines a tensor with a number, not the string"),
    ("    y = 2 * d\n    output y", "a statement's value is a tensor, and this expression mentions none"),
    ("    const k = exp(x)\n    y = x\n    output y", "'x' is a tensor, not a constant"),
    ("    y = x -> mul(0.5)\n    output y", "write it as an expression, 'y = x * 0.5'"),
    ("    y = mul(h, 2)\n    output y", "write it as an expression, 'y = h * 2'"),
    ("    y = sqrt(-1) * x\n    output y", "sqrt(-1) has no value"),
    ("    y = x.exp()\n    output y", "attribute access ('a.b') is not in the language"),
    ("    y = x ** 2\n    output y", "'**' is not in the language yet"),
    ("    y = x[0]\n    output y", "indexing ('x[0]') is not in the language"),
])
def test_what_does_not_fit_is_diagnosed(body, wanted):
    errors = _errors(_model(body, "    input x: [B, 16]\n    input h: [B, 4]\n    input n: bool[B, 4]\n"))
    assert any(wanted in e for e in errors), errors


def test_a_labelled_expression_names_its_value():
    lines = _forward(_model("    y = e: exp(x * 2) -> Linear(4)\n    z = e + 1\n    output y, z"))
    assert lines[:3] == ["e = torch.exp(x * 2)", "y = self.linear(e)", "z = e + 1"]


def test_symbolic_sizes_broadcast():
    src = _model("    y = x * s + 1\n    output y", "    input x: [B, C, H]\n    input s: [C, 1]\n")
    comp = compile_source(src, "t.model")
    assert comp.ok, comp.diagnostics
    assert str(comp.program.type_of(comp.program.outputs[0][1])) == "(B, C, H)"


def test_int_tensors_promote_like_torch():
    src = _model("    y = n * 0.5\n    z = n + 1\n    w = n / 2\n    output y, z, w",
                 "    input n: int32[B, 4]\n")
    comp = compile_source(src, "t.model")
    types = [comp.program.type_of(r).dtype for _, r in comp.program.outputs]
    assert types == ["float32", "int32", "float32"]


def test_fmt_prints_expressions_back():
    src = "model M {\n    input x: [B, 4]\n    y = -(x-1)/( 2*x )  +  exp( ( 0.5*x ) )\n    output y\n}\n"
    once = format_text(src, "t.model")
    assert "    y = -(x - 1) / (2 * x) + exp(0.5 * x)\n" in once
    assert format_text(once, "t.model") == once


class ReferenceVAE(nn.Module):
    """models/vae.model written by hand."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(64, 32), nn.ReLU())
        self.to_mu = nn.Linear(32, 2)
        self.to_logvar = nn.Linear(32, 2)
        self.decoder = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 64), nn.Sigmoid())

    def forward(self, image):
        h = self.encoder(image)
        mu, logvar = self.to_mu(h), self.to_logvar(h)
        std = torch.exp(0.5 * logvar)
        z = mu + std * torch.randn_like(std)
        return self.decoder(z), mu, logvar


def test_vae_equals_a_hand_written_reference(tmp_path):
    comp = compile(MODELS / "vae.model")
    assert comp.ok, comp.diagnostics
    path = tmp_path / "vae.py"
    path.write_text(comp.python_source())
    mod = import_generated(path, "gen_vae_ref")
    ours, ref = mod.VAE(), ReferenceVAE()
    ref.load_state_dict(ours.state_dict())
    image = torch.rand(5, 64)
    torch.manual_seed(7)
    got = ours(image)
    torch.manual_seed(7)
    want = ref(image)
    for a, b in zip(got, want):
        assert torch.equal(a, b)
    torch.manual_seed(8)
    assert not torch.equal(ours(image)[0], got[0])  # new noise each forward
    assert comp.summary().total_params == sum(p.numel() for p in ref.parameters())


FOLDS = """const d = 16
const drop = sqrt(d) / d / 4

block B(c, s = 1 / sqrt(d)) {
    input x
    y = x -> Linear(c) -> Dropout(s)
    output y
}

model T {
    input a: [B, 3, 4]
    input b: [B, 3, 4]
    t = transpose(a + b, 1, 2)
    u = unsqueeze(-a, 1)
    v = StochasticDepth(a, 0.2, "row") + b
    w = 2.0 * StochasticDepth(b, 0.5, "batch")
    r = randn_like(a) -> Flatten -> Dropout(drop) -> B(5)
    output t, u, v, w, r
}
"""


def test_an_expression_is_folded_only_into_an_expression():
    """A method call (x.transpose), a conditional (StochasticDepth) or a form that repeats its
    argument never takes a folded operand, nor is written inside one: the results are torch's
    for the expressions as written. Constants made with math functions build (their values)."""
    import torch

    comp = compile_source(FOLDS, "t.model")
    assert not comp.errors, comp.errors
    ns = {}
    exec(comp.python_source(), ns)
    model = ns["MODEL"]().eval()
    a, b = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    t, u, v, w, r = model(a, b)
    assert torch.equal(t, (a + b).transpose(1, 2))
    assert torch.equal(u, (-a).unsqueeze(1))
    assert torch.equal(v, a + b) and torch.equal(w, 2.0 * b)
    assert r.shape == (2, 5)
    assert "DROP = 0.0625" in comp.python_source()


@pytest.mark.parametrize("bound,fits", [(2**31 - 1, True), (2**31, False), (-2**31, True), (-2**31 - 1, False)])
def test_clamp_bounds_must_fit_an_integer_tensor(bound, fits):
    """torch converts clamp's bounds to the tensor's integer dtype and raises on overflow; so
    does graphc's check, as it does for x + number."""
    import torch

    src = f"model C {{\n    input x: int32[B, 4]\n    y = clamp(x, min={bound})\n    output y\n}}\n"
    errors = compile_source(src, "c.model").errors
    assert [e.code for e in errors] == ([] if fits else ["dtype"])
    try:
        torch.clamp(torch.zeros(2, 4, dtype=torch.int32), min=bound)
        raised = False
    except RuntimeError:
        raised = True
    assert raised == (not fits)
