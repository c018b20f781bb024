"""Learned tensors (docs/language.md, "Learned tensors"): ``param NAME: [dims] = init()``.

A ViT-like head (class token, position table, layer scale) and a GPT-like learned position
table against hand-written torch modules: the reference's state_dict loads into the generated
module by key (strict, so the keys are the same) and both compute the same outputs.  Every
initializer gives the values torch's gives with the same seed; block classes build the right
sizes and values for each use; the mistakes are diagnostics at their line.
"""

import re

import pytest
from conftest import import_generated
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphc import pyfmt
from graphc.api import compile_source
from graphc.fmt import format_text, same_meaning
from graphc.initializers import INITIALIZERS
from graphc.syntax import parse

torch = pytest.importorskip("torch")
nn = torch.nn
from tests.fuzz.harness import compare  # noqa: E402

VIT = """const D = 16
const P = 4

# the encoder: a position table and a layer-scaled MLP
block Encoder(n, d) {
    input x
    param pos_embedding: [1, n, d] = normal(std=0.02)
    h = x + pos_embedding
    y = h -> ln: LayerNorm(d) -> mlp: Linear(d)
    param gamma: [d] = constant(0.1)  # layer scale
    z = h + y * gamma
    output z
}

model ViT {
    input image: [B, 3, 16, 16]
    param class_token: [1, 1, D]
    p = image -> conv_proj: Conv2d(D, P, stride=P) -> Flatten(2) -> transpose(1, 2)
    h = concat(expand(class_token, p), p, dim=1)
    e = h -> encoder: Encoder(16 // P * (16 // P) + 1, D)
    c = slice(e, 1, 0, 1) -> squeeze(1) -> head: Linear(10)
    output c
}
"""


class RefEncoder(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, n, d).normal_(std=0.02))
        self.ln = nn.LayerNorm(d)
        self.mlp = nn.Linear(d, d)
        self.gamma = nn.Parameter(torch.full((d,), 0.1))

    def forward(self, x):
        h = x + self.pos_embedding
        return h + self.mlp(self.ln(h)) * self.gamma


class RefViT(nn.Module):
    """torchvision's VisionTransformer in miniature: class token, position table, head on it."""

    def __init__(self, d=16, p=4):
        super().__init__()
        self.class_token = nn.Parameter(torch.zeros(1, 1, d))
        self.conv_proj = nn.Conv2d(3, d, p, stride=p)
        self.encoder = RefEncoder((16 // p) ** 2 + 1, d)
        self.head = nn.Linear(d, 10)

    def forward(self, image):
        x = self.conv_proj(image).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.head(self.encoder(x)[:, 0])


GPT = """const V = 50
const T = 12
const MAX_T = 32
const D = 24

model GPT {
    input idx: long[B, T]
    param wpe: [1, MAX_T, D] = normal(std=0.02)
    tok = idx -> wte: Embedding(V, D)
    h = tok + slice(wpe, 1, 0, T)
        -> ln_f: LayerNorm(D)
        -> lm_head: Linear(V, bias=false)
    output h
}
"""


class RefGPT(nn.Module):
    """nanoGPT's embedding and head, with the position table a tensor of its own."""

    def __init__(self):
        super().__init__()
        self.wpe = nn.Parameter(torch.zeros(1, 32, 24))
        self.wte = nn.Embedding(50, 24)
        self.ln_f = nn.LayerNorm(24)
        self.lm_head = nn.Linear(24, 50, bias=False)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe[:, :idx.shape[1]]
        return self.lm_head(self.ln_f(x))


def _compiled(src):
    comp = compile_source(src, "t.model")
    assert comp.ok, [str(d) for d in comp.diagnostics]
    return comp


def _same_as_reference(src, ref, *inputs):
    comp = _compiled(src)
    gen = comp.to_module()
    gen.load_state_dict(ref.state_dict())  # strict: the keys are the reference's, all of them
    assert sorted(gen.state_dict()) == sorted(ref.state_dict())
    with torch.no_grad():
        assert torch.equal(gen(*inputs), ref(*inputs))
    n = sum(p.numel() for p in ref.parameters())
    assert comp.summary().total_params == n
    assert f"Parameters: {n:,}" in comp.python_source()
    assert sum(p.numel() for p in gen.parameters()) == n
    return comp, gen


def test_vit_head_equals_a_hand_written_reference():
    torch.manual_seed(0)
    ref = RefViT()
    comp, gen = _same_as_reference(VIT, ref, torch.randn(3, 3, 16, 16))
    assert {"class_token", "encoder.pos_embedding", "encoder.gamma"} <= set(gen.state_dict())
    code = comp.python_source()
    assert "self.class_token = nn.Parameter(torch.zeros(1, 1, D))" in code
    assert "self.pos_embedding = nn.Parameter(torch.empty(1, n, d))" in code
    assert "nn.init.normal_(self.pos_embedding, std=0.02)" in code
    assert "h = x + self.pos_embedding" in code
    rows = {r.name: r for r in comp.summary().rows}
    assert rows["encoder.pos_embedding"].params == 17 * 16 and rows["encoder.pos_embedding"].kind == "param"
    assert rows["class_token"].activation_bytes == 0


def test_gpt_position_table_equals_a_hand_written_reference():
    torch.manual_seed(0)
    ref = RefGPT()
    with torch.no_grad():
        ref.wpe.normal_()  # not zeros: a wrong slice of it would show
    _same_as_reference(GPT, ref, torch.randint(0, 50, (2, 12)))


def test_the_generated_file_imports_and_runs(tmp_path):
    path = tmp_path / "vit.py"
    path.write_text(_compiled(VIT).python_source())
    mod = import_generated(path, "vit_learned")
    m = mod.MODEL()
    assert m(*mod.example_inputs()).shape == (2, 10)


# ------------------------------------------------------------------ initializers
INIT_CASES = [(name, i, s) for name, info in INITIALIZERS.items()
              for i, s in enumerate(info.samples) if not s.rejects]


@pytest.mark.parametrize("name,i,sample", INIT_CASES, ids=[f"{n}-{i}" for n, i, _ in INIT_CASES])
def test_each_initializer_gives_torchs_values(name, i, sample):
    args = ", ".join(f"{k}={pyfmt.literal(v)}" for k, v in sample.params.items())
    dims = ", ".join(map(str, sample.shape))
    src = f"model M {{\n    input x: [B, 2]\n    param w: [{dims}] = {name}({args})\n    y = x -> Linear(2)\n" \
          "    output y, w\n}\n"
    comp = _compiled(src)
    torch.manual_seed(7)
    got = comp.to_module().w  # drawn first: w is built before the Linear
    torch.manual_seed(7)
    want = torch.empty(sample.shape)
    getattr(nn.init, f"{name}_")(want, **sample.params)
    assert got.shape == want.shape and got.dtype == torch.float32 and got.requires_grad
    assert torch.equal(got.detach(), want)


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_graphc_accepts_the_dtypes_torch_initializes(name, dtype):
    """Every initializer on a 2-d tensor of each dtype: graphc checks clean exactly when torch runs it."""
    sample = next(s for s in INITIALIZERS[name].samples if len(s.shape) == 2 and not s.rejects)
    args = ", ".join(f"{k}={pyfmt.literal(v)}" for k, v in sample.params.items())
    line = f"    param w: {dtype}[{sample.shape[0]}, {sample.shape[1]}] = {name}({args})"
    comp = compile_source(f"model M {{\n    input x: [B, 2]\n{line}\n    output w\n}}\n", "t.model")
    try:
        getattr(nn.init, f"{name}_")(torch.empty(sample.shape, dtype=getattr(torch, dtype)), **sample.params)
        runs = True
    except (RuntimeError, NotImplementedError):
        runs = False
    assert comp.ok == runs, [str(d) for d in comp.errors]
    if runs:
        assert comp.to_module().w.dtype == getattr(torch, dtype)
    else:
        assert [(d.code, d.span.line, d.span.col) for d in comp.errors] == [("dtype", 3, line.index(name) + 1)]


def test_dtype_and_the_default_initializer():
    comp = _compiled("model M {\n    input x: [B, 3]\n    param s: double[3]\n    param k: []\n"
                     "    y = x * s * k\n    output y\n}\n")
    m = comp.to_module()
    assert m.s.dtype == torch.float64 and torch.equal(m.s, torch.zeros(3, dtype=torch.float64))
    assert m.k.shape == () and m.k.item() == 0.0
    assert m(torch.ones(2, 3)).dtype == torch.float64  # as torch promotes: float32 * float64
    assert comp.summary().param_bytes == 3 * 8 + 4


def test_a_block_class_builds_each_uses_sizes_and_values():
    comp = _compiled("""block Scale(d, s=1e-6) {
    input x
    param gamma: [d, 1, 1] = constant(s)
    param beta: [d, 1, 1] = uniform(-s, b=2 * s)
    y = x * gamma + beta
    output y
}

model Net {
    input x: [B, 8, 4, 4]
    a = x -> s1: Scale(8) -> Conv2d(16, 1) -> s2: Scale(16, s=0.5) -> s3: Scale(16, 0.25)
    output a
}
""")
    code = comp.python_source()
    assert code.count("class Scale(") == 1  # one class for the three uses
    assert "nn.init.constant_(self.gamma, val=s)" in code
    m = comp.to_module()
    for use, d, s in ((m.s1, 8, 1e-6), (m.s2, 16, 0.5), (m.s3, 16, 0.25)):
        assert torch.equal(use.gamma, torch.full((d, 1, 1), s))
        assert use.beta.shape == (d, 1, 1) and bool(((use.beta >= -s) & (use.beta < 2 * s)).all())
    assert comp.summary().total_params == sum(p.numel() for p in m.parameters())


# ------------------------------------------------------------------ expand
def test_expand_is_torchs_expand():
    comp = _compiled("model M {\n    input x: [B, 5, 4]\n    param t: [1, 5, 1] = normal()\n"
                     "    a = expand(t, x)\n    b = expand(t, x, dim=-1)\n    output a, b\n}\n")
    m = comp.to_module()
    x = torch.randn(3, 5, 4)
    a, b = m(x)
    assert torch.equal(a, m.t.expand(3, -1, -1)) and torch.equal(b, m.t.expand(-1, -1, 4))


@st.composite
def _expand_cases(draw):
    """Two tensors of one rank (a size-1 dim where t expands, now and then not), a dim that is
    sometimes out of range; sizes of 0 turn up, as torch takes them."""
    rank = draw(st.integers(0, 4))
    like = tuple(draw(st.lists(st.sampled_from([1, 2, 3, 4, 0]), min_size=rank, max_size=rank)))
    t = tuple(draw(st.sampled_from([1, 1, 1, d, 2])) for d in like)
    return {"dim": draw(st.integers(-rank - 1, rank))}, [t, like], draw(st.sampled_from(["float32", "int64"]))


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(_expand_cases())
def test_expand_accepts_what_torch_runs(case):
    """graphc's check against torch on the same tensors: the same output shape and dtype, or
    both refuse (tests/fuzz's harness)."""
    params, shapes, dtype = case
    out = compare("expand", params, shapes, dtype)
    assert out.ok, f"{params} {shapes}: {out}"


# ------------------------------------------------------------------ diagnostics
def _errors(body: str) -> list[str]:
    src = f"model M {{\n    input x: [B, T, 8]\n{body}\n    output x\n}}\n"
    return [f"{d.span.line}:{d.span.col} {d.code} {d.message} | {d.hint}"
            for d in compile_source(src, "t.model").errors]


@pytest.mark.parametrize("body,wanted", [
    ("    param pos: [1, T, 8]", r"3:20 shape-symbolic param 'pos': 'T' is a symbolic size .*const T = 16"),
    ("    param pos: [1, 2 * T]", r"3:20 shape-symbolic .*'T'"),
    ("    param pos: [8] = trunc_norml(std=0.02)", r"3:22 unknown-component unknown initializer 'trunc_norml' "
                                                  r"\| did you mean 'trunc_normal'"),
    ("    param pos: [8] = normal(sd=0.02)", r"3:29 unknown-argument .*'sd'"),
    ("    param pos: [8] = constant()", r"3:22 missing-argument .*val"),
    ("    param pos: [8]\n    param pos: [4]", r"4:11 duplicate-name 'pos' is already defined at line 3"),
    ("    param x: [8]", r"3:11 duplicate-name 'x' is already defined at line 2"),
    ("    param pos: long[8]", r"3:5 dtype param 'pos' is long, .*floating-point"),
    ("    param pos: [8, 0]", r"3:20 shape-nonpositive param 'pos': size 0"),
    ("    param pos: [2.5]", r"3:17 invalid-argument param 'pos': a size must be an integer"),
    ("    param pos: [8] = xavier_uniform()", r"3:22 invalid-argument xavier_uniform needs a tensor of at least 2"),
    ("    param model: [8]", r"3:11 reserved-name"),
    ("    param pos: [8]\n    y = pos + undefined_thing", r"4:15 undefined-name"),
    ("    param t: [2, 1, 8]\n    y = expand(t, x)", r"4:9 shape-mismatch expand: dim 0 of \(2, 1, 8\) is 2"),
    ("    param t: [1, 8]\n    y = expand(t, x)", r"4:9 shape-rank expand: .*same rank"),
])
def test_mistakes_are_diagnosed_at_their_place(body, wanted):
    errors = _errors(body)
    assert len(errors) == 1 and re.match(wanted, errors[0]), errors


def test_an_unknown_dtype_is_a_syntax_error_at_its_line():
    comp = compile_source("model M {\n    input x: [B, 8]\n    param p: floot[8]\n    output x\n}\n", "t.model")
    assert [(d.span.line, d.code) for d in comp.errors] == [(3, "syntax")]
    assert "dtype" in comp.errors[0].message


@pytest.mark.parametrize("line,wanted", [
    ("    param p [3]", "3:13 missing ':' before the shape | write 'param pos: [1, 16, 64]'"),
    ("    param p: [3] 4", "3:18 unexpected number 4; expected '}', '=' or a name"),
    ("    param p: [3] =", "4:1 unexpected '}'; expected an expression"),
    ("    input y: [3] 4", "3:18 unexpected number 4; expected '}' or a name"),  # no '=' after an input
])
def test_syntax_errors_of_the_statement(line, wanted):
    comp = compile_source(f"model M {{\n    input x: [B, 8]\n{line}\n}}\n", "t.model")
    assert [f"{d.span.line}:{d.span.col} {d.message} | {d.hint}" for d in comp.errors][0].startswith(wanted)


def test_param_is_a_keyword_only_at_the_start_of_a_statement():
    comp = _compiled("block K(param) {\n    input x\n    y = x -> Linear(param)\n    output y\n}\n"
                     "model M {\n    input x: [B, 3]\n    y = x -> K(param=4)\n    output y\n}\n")
    assert comp.to_module()(torch.randn(2, 3)).shape == (2, 4)


def test_unused_param_is_a_warning():
    comp = compile_source("model M {\n    input x: [B, 8]\n    param p: [8]\n    output x\n}\n", "t.model")
    assert comp.ok and [(d.code, d.span.line) for d in comp.warnings] == [("unused-value", 3)]


# ------------------------------------------------------------------ tools
def test_fmt_round_trips_the_statement():
    messy = ("model M {\n  input x: [B, 3]\n  # a table\n  param   pos :double[ 1,3 ,]=normal( std = 0.02 )  # t\n"
             "  param s:[]\n  y = x + pos * s\n  output y\n}\n")
    once = format_text(messy)
    assert "    param pos: double[1, 3] = normal(std=0.02)  # t\n    param s: []\n" in once
    assert format_text(once) == once and same_meaning(messy, once)
    for src in (VIT, GPT):
        assert format_text(src) == src
        assert [c.text for c in parse(src).comments] == [c.text for c in parse(format_text(src)).comments]


def test_viz_draws_a_param_as_a_node():
    from graphc.emit.dot import to_dot

    dot = to_dot(_compiled(VIT).program)
    assert re.search(r'"encoder.pos_embedding" \[label=<<b>pos_embedding</b><br/>param  normal\(std=0.02\)'
                     r'<br/>\(1, 17, 16\)<br/><font point-size="9">272 params', dot)
    assert '"encoder.pos_embedding" -> "encoder.h"' in dot


def test_the_lexer_knows_the_keyword():
    pygments = pytest.importorskip("pygments")
    from pygments.lexers import get_lexer_by_name
    from pygments.token import Keyword

    toks = [(t, v) for t, v in get_lexer_by_name("graphc").get_tokens(VIT) if v == "param"]
    assert toks and all(t in Keyword for t, _ in toks) and pygments
