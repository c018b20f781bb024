"""Sharing and tying: a labelled layer or block use applied again (``b = x2 -> tower``) is one
module, and ``tie head.weight = tok.weight`` makes one parameter tensor.  Each generated module is
compared with the same network written by hand in torch: the same state_dict keys, the same
outputs, one tensor where graphc says one, and the parameter count torch counts (each shared
tensor once), which is also the count ``graphc summary`` gives."""

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from graphc.api import compile_source  # noqa: E402
from graphc.summary import summarize  # noqa: E402

SIAMESE = """
block Tower(w) {
    input x
    y = x -> Linear(w) -> ReLU -> Linear(w)
    output y
}

model Siamese {
    input a: [B, 16]
    input b: [B, 16]
    ea = a -> tower: Tower(32)
    eb = tower(b)
    d = ea - eb
    output d
}
"""


def _build(src):
    comp = compile_source(src)
    assert comp.ok, [str(d) for d in comp.diagnostics]
    return comp, comp.to_module()


def _n_params(m):
    return sum(p.numel() for p in m.parameters())  # parameters() counts a shared tensor once


def _same_outputs(ours, ref, *inputs):
    ref.load_state_dict(ours.state_dict(), strict=True)  # the keys are the reference's
    torch.manual_seed(0)
    a = ours(*inputs)
    b = ref(*inputs)
    for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
        assert torch.equal(x, y)


def test_siamese_tower_is_one_module():
    comp, m = _build(SIAMESE)

    class Tower(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear, self.relu, self.linear_1 = nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32)

        def forward(self, x):
            return self.linear_1(self.relu(self.linear(x)))

    class Ref(nn.Module):
        def __init__(self):
            super().__init__()
            self.tower = Tower()

        def forward(self, a, b):
            return self.tower(a) - self.tower(b)

    ref = Ref()
    assert list(m.state_dict()) == list(ref.state_dict())
    assert _n_params(m) == _n_params(ref) == 1600
    assert summarize(comp.program).total_params == 1600
    a, b = torch.randn(3, 16), torch.randn(3, 16)
    _same_outputs(m, ref, a, b)
    assert torch.equal(m(a, a), torch.zeros(3, 32))  # one tower: the same input gives the same embedding
    # training moves the one tower: both uses see the step
    loss = m(a, b).pow(2).sum()
    loss.backward()
    ref_grad = m.tower.linear.weight.grad
    assert ref_grad is not None and ref_grad.abs().sum() > 0


def test_layer_applied_again_in_a_chain():
    """ALBERT-style: one layer applied three times, its weights counted once."""
    comp, m = _build("""
model Deep {
    input x: [B, 8]
    h = x -> fc: Linear(8) -> Tanh -> fc -> Tanh -> fc
    output h
}
""")
    assert "self.fc_1" not in comp.python_source() and "nn.Linear" in comp.python_source()

    class Ref(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.tanh = nn.Linear(8, 8), nn.Tanh()
            self.tanh_1 = nn.Tanh()

        def forward(self, x):
            return self.fc(self.tanh_1(self.fc(self.tanh(self.fc(x)))))

    ref = Ref()
    assert _n_params(m) == _n_params(ref) == 72 == summarize(comp.program).total_params
    _same_outputs(m, ref, torch.randn(4, 8))


LM = """
model TinyLM {
    input tokens: long[B, 8]
    h = tokens -> tok: Embedding(50, 16) -> LayerNorm
    logits = h -> head: Linear(50, bias=false)
    tie head.weight = tok.weight
    output logits
}
"""


def test_tied_weights_are_one_tensor():
    comp, m = _build(LM)
    assert m.head.weight is m.tok.weight

    class Ref(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.layer_norm = nn.Embedding(50, 16), nn.LayerNorm(16)
            self.head = nn.Linear(16, 50, bias=False)
            self.head.weight = self.tok.weight

        def forward(self, tokens):
            return self.head(self.layer_norm(self.tok(tokens)))

    ref = Ref()
    assert list(m.state_dict()) == list(ref.state_dict()) == ["tok.weight", "layer_norm.weight",
                                                             "layer_norm.bias", "head.weight"]
    assert _n_params(m) == _n_params(ref) == 50 * 16 + 32 == summarize(comp.program).total_params
    tokens = torch.randint(0, 50, (2, 8))
    _same_outputs(m, ref, tokens)
    # after an optimizer step the two layers still hold one tensor, moved by both gradients
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    m(tokens).sum().backward()
    opt.step()
    assert m.head.weight is m.tok.weight
    assert torch.equal(m.head.weight, m.tok.weight)


def test_tie_inside_a_block_used_twice():
    src = """
block Pair(d) {
    input a
    input b
    x = a -> t: Linear(d)
    y = b -> t
    z = add(x, y) -> n: LayerNorm
    tie t.bias = n.bias
    output z
}

model M {
    input a: [B, 16]
    input b: [B, 16]
    p = pair: Pair(a, b, 16)
    q = pair(b, a)
    r = Pair(a, b, 16)
    output p, q, r
}
"""
    comp, m = _build(src)
    assert m.pair.t.bias is m.pair.n.bias and m.pair_2.t.bias is m.pair_2.n.bias
    assert m.pair.t.bias is not m.pair_2.t.bias
    assert not hasattr(m, "pair_1")
    per = 16 * 16 + 16 + 32 - 16
    assert _n_params(m) == 2 * per == summarize(comp.program).total_params
    a, b = torch.randn(2, 16), torch.randn(2, 16)
    p, q, r = m(a, b)
    t, n = m.pair.t, m.pair.n
    assert torch.equal(p, n(t(a) + t(b))) and torch.equal(q, n(t(b) + t(a)))
    assert torch.equal(r, m.pair_2.n(m.pair_2.t(a) + m.pair_2.t(b)))


def _errors(src):
    comp = compile_source(src)
    return [(d.span.line, d.code, f"{d.message} | {d.hint}") for d in comp.diagnostics if d.severity == "error"]


def test_a_shared_layer_needs_inputs_of_its_size_as_torch_does():
    errs = _errors("""
model M {
    input a: [B, 16]
    input c: [B, 8]
    f = a -> fc: Linear(4)
    g = c -> fc
    output f, g
}
""")
    assert [(line, code) for line, code, _ in errs] == [(6, "invalid-sharing")]
    assert "in_features would be 8 here, 16 there" in errs[0][2]
    fc = nn.Linear(16, 4)
    with pytest.raises(RuntimeError):
        fc(torch.randn(2, 8))  # torch agrees: one module cannot take both


def test_tied_tensors_of_two_shapes_fail_in_torch_too():
    errs = _errors(LM.replace("Linear(50, bias=false)", "Linear(40, bias=false)"))
    assert len(errs) == 1 and errs[0][1] == "invalid-sharing" and "(40, 16)" in errs[0][2] and "(50, 16)" in errs[0][2]
    tok, head = nn.Embedding(50, 16), nn.Linear(16, 40, bias=False)
    head.weight = tok.weight
    out = head(torch.randn(2, 16))
    assert out.shape == (2, 50)  # torch runs it, and computes a model of 50 outputs, not 40: a wrong model


@pytest.mark.parametrize("body,line,code,needle", [
    ("g = a -> fc(3)", 5, "invalid-sharing", "takes only tensors"),
    ("g = a -> v: fc", 5, "invalid-sharing", "takes no label"),
    ("g = a -> (fc -> ReLU)", 5, "invalid-sharing", "inside a repeat or group"),
    ("s = a -> t: add(a)\n    g = a -> t", 6, "invalid-sharing", "nothing to share"),
    ("z = a * 2\n    g = a -> z", 6, "unknown-layer", "a tensor value, not a layer"),
    ("tie fc.wieght = fc.bias\n    g = f", 5, "invalid-sharing", "no parameter 'wieght'"),
    ("tie fc.weight = fc.weight\n    g = f", 5, "invalid-sharing", "tied to itself"),
    ("tie nope.weight = fc.weight\n    g = f", 5, "undefined-name", "no layer or block use labelled 'nope'"),
    ("tie fc.bias = later.bias\n    g = f -> later: Linear(4)", 5, "undefined-name", "labelled below"),
    ("g = f -> o: Linear(4)\n    tie o.weight = fc.weight", 6, "invalid-sharing", "(4, 4) but fc.weight is (4, 16)"),
    ("g = f -> o: Linear(4)\n    tie o.bias = fc.bias\n    tie fc.bias = o.bias", 7, "invalid-sharing",
     "is itself tied"),
])
def test_sharing_and_tie_errors(body, line, code, needle):
    errs = _errors(f"""
model M {{
    input a: [B, 16]
    f = a -> fc: Linear(4)
    {body}
    output f, g
}}
""")
    assert any(ln == line and c == code and needle in msg for ln, c, msg in errs), errs


def test_fmt_keeps_shares_and_ties():
    from graphc.fmt import format_text

    text = format_text(LM)
    assert "tie head.weight = tok.weight" in text
    assert format_text(text) == text
    assert "eb = tower(b)" in format_text(SIAMESE)


def test_viz_and_summary_name_what_is_shared():
    comp, _ = _build(SIAMESE)
    rows = {r.name: r for r in summarize(comp.program).rows}
    shared = [r for r in rows.values() if "shares tower" in r.kind]
    assert shared and all(r.params == 0 for r in shared)
    from graphc.emit.dot import to_dot

    assert "shares tower" in to_dot(comp.program)


def test_models_siamese_equals_a_hand_written_siamese():
    from pathlib import Path

    from graphc.api import compile as compile_file

    comp = compile_file(str(Path(__file__).resolve().parent.parent / "models" / "siamese.model"))
    assert comp.ok, [str(d) for d in comp.diagnostics]
    m = comp.to_module()

    class Tower(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv2d, self.relu, self.max_pool2d = nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)
            self.conv2d_1, self.relu_1 = nn.Conv2d(16, 32, 3, padding=1), nn.ReLU()
            self.max_pool2d_1, self.flatten, self.linear = nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128, 64)

        def forward(self, x):
            x = self.max_pool2d(self.relu(self.conv2d(x)))
            return self.linear(self.flatten(self.max_pool2d_1(self.relu_1(self.conv2d_1(x)))))

    class Ref(nn.Module):
        def __init__(self):
            super().__init__()
            self.tower, self.head = Tower(), nn.Linear(64, 1)

        def forward(self, left, right):
            return self.head(torch.abs(self.tower(left) - self.tower(right)))

    ref = Ref()
    assert list(m.state_dict()) == list(ref.state_dict())
    assert _n_params(m) == _n_params(ref) == summarize(comp.program).total_params
    left, right = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8)
    _same_outputs(m, ref, left, right)
    assert torch.equal(m(left, right), m(right, left))  # one tower: the score is symmetric


FROZEN = """
block Enc(d) {
    input x
    y = x -> proj: Linear(d) -> norm: LayerNorm
    output y
}

model M {
    input tokens: long[B, 8]
    param pos: [8, 16] = normal(std=0.02)
    h = tokens -> tok: Embedding(50, 16)
    e = h + pos -> encoder: Enc(16) -> layers: Linear(16) * 2
    logits = e -> head: Linear(50, bias=false)
    tie head.weight = tok.weight
    freeze encoder.norm, layers.1, pos, head
    output logits
}
"""


def test_freeze_stops_exactly_those_tensors_and_the_summary_counts_them():
    comp, m = _build(FROZEN)
    frozen = {n for n, p in m.named_parameters() if not p.requires_grad}
    # head is tied to tok: one tensor, frozen with either layer (named once, as tok.weight)
    assert frozen == {"pos", "tok.weight", "encoder.norm.weight", "encoder.norm.bias", "layers.1.weight",
                      "layers.1.bias"}
    s = comp.summary()
    assert s.trainable_params == sum(p.numel() for p in m.parameters() if p.requires_grad)
    assert s.total_params - s.trainable_params == sum(p.numel() for p in m.parameters() if not p.requires_grad)
    # an optimizer step moves only what trains
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.5)
    m(torch.randint(0, 50, (2, 8))).square().mean().backward()
    opt.step()
    moved = {n for n, p in m.named_parameters() if not torch.equal(p, before[n])}
    assert moved and not (moved & frozen)
    from graphc.fmt import format_text

    assert "freeze encoder.norm, layers.1, pos, head" in format_text(FROZEN)


@pytest.mark.parametrize("line,needle", [
    ("freeze nope", "no layer or block use labelled 'nope'"),
    ("freeze encoder.nrom", "did you mean 'norm'"),
    ("freeze layers.5", "'layers' has no '5'"),
    ("freeze tok.weight", "is a layer: it has no 'weight' to name here"),
])
def test_freeze_errors(line, needle):
    errs = _errors(FROZEN.replace("    freeze encoder.norm, layers.1, pos, head", "    " + line))
    assert any(needle in msg for _, _, msg in errs), errs
