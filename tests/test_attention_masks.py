"""Attention masks (docs/language.md, "Attention masks"): MultiheadAttention's, the Transformer
layers' and scaled_dot_product_attention's.

Each mask kind: the generated module equals the same torch call written by hand here (the same
weights, loaded into a module built by hand; equal outputs in training and in inference, where
torch takes its fused fast paths).  Each bad mask: a diagnostic with the numbers, and torch raises
for the same configuration, so the rejection is real.
"""

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from graphc.api import compile_source  # noqa: E402
from graphc.layers.base import TensorType, load_all  # noqa: E402
from tests.fuzz.harness import instantiate  # noqa: E402

REG = load_all()
B, T, S, D, H = 2, 5, 7, 16, 4

HEADER = f"""model M {{
    input x: [{B}, {T}, {D}]
    input mem: [{B}, {S}, {D}]
    input causal: bool[{T}, {T}]
    input pad: bool[{B}, {T}]
    input mpad: bool[{B}, {S}]
    input cross: bool[{T}, {S}]
    input add3: [{B * H}, {T}, {T}]
    input addx: [{B * H}, {T}, {S}]
"""


def _inputs():
    g = torch.Generator().manual_seed(0)
    pad = torch.zeros(B, T, dtype=torch.bool)
    pad[1, 3:] = True  # the second sequence is 3 long
    mpad = torch.zeros(B, S, dtype=torch.bool)
    mpad[0, 5:] = True
    return {
        "x": torch.randn(B, T, D, generator=g), "mem": torch.randn(B, S, D, generator=g),
        "causal": torch.triu(torch.ones(T, T, dtype=torch.bool), 1),
        "pad": pad, "mpad": mpad,
        "cross": torch.triu(torch.ones(T, S, dtype=torch.bool), 1),  # upper-left causal, (T, S)
        "add3": torch.randn(B * H, T, T, generator=g), "addx": torch.randn(B * H, T, S, generator=g),
    }


def _hand(module_cls, generated, *args, **kwargs):
    """The torch module built by hand with the generated one's weights."""
    m = module_cls(*args, **kwargs)
    m.load_state_dict(generated.state_dict())
    return m


# name, the statement, the attribute, (module built by hand, its call on the inputs)
CASES = [
    ("mha-causal", f"y = x -> att: MultiheadAttention({H}, dropout=0.0, attn_mask=causal, is_causal=true)",
     lambda g: _hand(nn.MultiheadAttention, g, D, H, batch_first=True),
     lambda m, i: m(i["x"], i["x"], i["x"], attn_mask=i["causal"], is_causal=True, need_weights=False)[0]),
    ("mha-padding-3d", f"y = att: MultiheadAttention(x, mem, {H}, dropout=0.0, attn_mask=addx, "
     "key_padding_mask=mpad)",
     lambda g: _hand(nn.MultiheadAttention, g, D, H, batch_first=True),
     lambda m, i: m(i["x"], i["mem"], i["mem"], key_padding_mask=i["mpad"], attn_mask=i["addx"],
                    need_weights=False)[0]),
    ("encoder-layer-causal", f"y = x -> att: TransformerEncoderLayer({H}, 32, dropout=0.0, src_mask=causal, "
     "is_causal=true)",
     lambda g: _hand(nn.TransformerEncoderLayer, g, D, H, 32, dropout=0.0, batch_first=True),
     lambda m, i: m(i["x"], src_mask=i["causal"], is_causal=True)),
    ("encoder-layer-padding", f"y = x -> att: TransformerEncoderLayer({H}, 32, dropout=0.0, "
     "src_key_padding_mask=pad)",
     lambda g: _hand(nn.TransformerEncoderLayer, g, D, H, 32, dropout=0.0, batch_first=True),
     lambda m, i: m(i["x"], src_key_padding_mask=i["pad"])),
    ("encoder-layer-3d-padding", f"y = x -> att: TransformerEncoderLayer({H}, 32, dropout=0.0, "
     "norm_first=true, src_mask=add3, src_key_padding_mask=pad)",
     lambda g: _hand(nn.TransformerEncoderLayer, g, D, H, 32, dropout=0.0, norm_first=True, batch_first=True),
     lambda m, i: m(i["x"], src_mask=i["add3"], src_key_padding_mask=i["pad"])),
    ("encoder-causal-padding", f"y = x -> att: TransformerEncoder({H}, 2, 32, dropout=0.0, mask=causal, "
     "src_key_padding_mask=pad, is_causal=true)",
     lambda g: _hand(nn.TransformerEncoder, g, nn.TransformerEncoderLayer(D, H, 32, dropout=0.0,
                                                                          batch_first=True), 2),
     lambda m, i: m(i["x"], mask=i["causal"], src_key_padding_mask=i["pad"], is_causal=True)),
    ("encoder-padding", f"y = x -> att: TransformerEncoder({H}, 2, 32, dropout=0.0, src_key_padding_mask=pad)",
     lambda g: _hand(nn.TransformerEncoder, g, nn.TransformerEncoderLayer(D, H, 32, dropout=0.0,
                                                                          batch_first=True), 2),
     lambda m, i: m(i["x"], src_key_padding_mask=i["pad"])),
    ("decoder-layer-tgt", f"y = att: TransformerDecoderLayer(x, mem, {H}, 32, dropout=0.0, tgt_mask=causal, "
     "tgt_is_causal=true, tgt_key_padding_mask=pad, memory_key_padding_mask=mpad)",
     lambda g: _hand(nn.TransformerDecoderLayer, g, D, H, 32, dropout=0.0, batch_first=True),
     lambda m, i: m(i["x"], i["mem"], tgt_mask=i["causal"], tgt_key_padding_mask=i["pad"],
                    memory_key_padding_mask=i["mpad"], tgt_is_causal=True)),
    ("decoder-layer-memory", f"y = att: TransformerDecoderLayer(x, mem, {H}, 32, dropout=0.0, memory_mask=cross, "
     "memory_is_causal=true)",
     lambda g: _hand(nn.TransformerDecoderLayer, g, D, H, 32, dropout=0.0, batch_first=True),
     lambda m, i: m(i["x"], i["mem"], memory_mask=i["cross"], memory_is_causal=True)),
    ("decoder-layer-3d", f"y = att: TransformerDecoderLayer(x, mem, {H}, 32, dropout=0.0, memory_mask=addx, "
     "tgt_mask=add3)",
     lambda g: _hand(nn.TransformerDecoderLayer, g, D, H, 32, dropout=0.0, batch_first=True),
     lambda m, i: m(i["x"], i["mem"], tgt_mask=i["add3"], memory_mask=i["addx"])),
]


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("name,stmt,build,call", CASES, ids=[c[0] for c in CASES])
def test_generated_module_equals_torch_written_by_hand(name, stmt, build, call, mode):
    comp = compile_source(HEADER + f"    {stmt}\n    output y\n}}\n")
    assert comp.ok, comp.diagnostics
    gen = comp.to_module()
    ref = build(gen.att)
    inputs = _inputs()
    getattr(gen, mode)(), getattr(ref, mode)()
    with torch.no_grad() if mode == "eval" else torch.enable_grad():  # eval: torch's fast paths
        got = gen(*[inputs[n] for n in ("x", "mem", "causal", "pad", "mpad", "cross", "add3", "addx")])
        want = call(ref, inputs)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("kind,stmt,want", [
    ("encoder-layer", f"y = x -> TransformerEncoderLayer({H}, 32, dropout=0.0, src_mask=causal, is_causal=true)",
     lambda m, i: m(i["x"], src_mask=i["causal"])),
    ("mha", f"y = x -> MultiheadAttention({H}, dropout=0.0, attn_mask=causal, is_causal=true)",
     lambda m, i: m(i["x"], i["x"], i["x"], attn_mask=i["causal"], need_weights=False)[0]),
], ids=["encoder-layer", "mha"])
def test_the_causal_hint_attends_as_the_mask_does(kind, stmt, want):
    """is_causal=true with the causal mask gives what the mask alone gives: each position sees only
    itself and the positions before it (the hint selects a kernel, the result is the mask's)."""
    comp = compile_source(HEADER + f"    {stmt}\n    output y\n}}\n")
    assert comp.ok, comp.diagnostics
    gen = comp.to_module().train()
    inputs = _inputs()
    got = gen(*inputs.values())
    sub = next(iter(gen.children()))
    torch.testing.assert_close(got, want(sub, inputs))
    # position 0's output does not depend on the positions after it
    later = dict(inputs, x=torch.cat([inputs["x"][:, :1], torch.randn(B, T - 1, D)], 1))
    torch.testing.assert_close(gen(*later.values())[:, 0], got[:, 0])


# ------------------------------------------------------- scaled_dot_product_attention
SDPA_HEADER = """model M {
    input q: [2, 4, 5, 8]
    input k: [2, 2, 7, 8]
    input v: [2, 2, 7, 6]
    input kf: [2, 4, 7, 8]
    input vf: [2, 4, 7, 6]
    input allow: bool[5, 7]
    input bias: [2, 1, 5, 7]
    input r: [2, 4, 5, 6]
    input keys: bool[7]
    input q1: [1, 4, 5, 8]
"""
SDPA_CASES = [
    ("plain", "y = scaled_dot_product_attention(q, kf, vf)", lambda i: F.scaled_dot_product_attention(
        i["q"], i["kf"], i["vf"])),
    ("bool-mask", "y = scaled_dot_product_attention(q, kf, vf, attn_mask=allow)",
     lambda i: F.scaled_dot_product_attention(i["q"], i["kf"], i["vf"], attn_mask=i["allow"])),
    ("float-mask-scale", "y = scaled_dot_product_attention(q, kf, vf, attn_mask=bias, scale=0.5)",
     lambda i: F.scaled_dot_product_attention(i["q"], i["kf"], i["vf"], attn_mask=i["bias"], scale=0.5)),
    ("causal", "y = scaled_dot_product_attention(q, kf, vf, is_causal=true)",
     lambda i: F.scaled_dot_product_attention(i["q"], i["kf"], i["vf"], is_causal=True)),
    ("gqa", "y = scaled_dot_product_attention(q, k, v, enable_gqa=true, attn_mask=allow)",
     lambda i: F.scaled_dot_product_attention(i["q"], i["k"], i["v"], attn_mask=i["allow"], enable_gqa=True)),
    ("1d-mask-broadcast-batch", "y = scaled_dot_product_attention(q1, kf, vf, attn_mask=keys)",
     lambda i: F.scaled_dot_product_attention(i["q1"], i["kf"], i["vf"], attn_mask=i["keys"])),
    ("in-expression", "y = scaled_dot_product_attention(q * 2, kf, vf) + r",
     lambda i: F.scaled_dot_product_attention(i["q"] * 2, i["kf"], i["vf"]) + i["r"]),
]


def _sdpa_inputs():
    g = torch.Generator().manual_seed(1)
    shapes = {"q": (2, 4, 5, 8), "k": (2, 2, 7, 8), "v": (2, 2, 7, 6), "kf": (2, 4, 7, 8), "vf": (2, 4, 7, 6)}
    out = {n: torch.randn(s, generator=g) for n, s in shapes.items()}
    out["allow"] = torch.rand(5, 7, generator=g) < 0.7
    out["allow"][:, 0] = True  # every query may attend somewhere
    out["bias"] = torch.randn(2, 1, 5, 7, generator=g)
    out["r"] = torch.randn(2, 4, 5, 6, generator=g)
    out["keys"] = torch.arange(7) < 5
    out["q1"] = torch.randn(1, 4, 5, 8, generator=g)
    return out


@pytest.mark.parametrize("name,stmt,want", SDPA_CASES, ids=[c[0] for c in SDPA_CASES])
def test_sdpa_equals_torch(name, stmt, want):
    comp = compile_source(SDPA_HEADER + f"    {stmt}\n    output y\n}}\n")
    assert comp.ok, comp.diagnostics
    i = _sdpa_inputs()
    torch.testing.assert_close(comp.to_module()(*i.values()), want(i), rtol=0, atol=0)


def test_sdpa_dropout_only_in_training():
    """dropout_p applies in training (as torch's call with dropout_p, same random stream) and not
    in eval, where torch's function would still drop: graphc writes p if self.training else 0.0."""
    comp = compile_source(SDPA_HEADER + "    y = scaled_dot_product_attention(q, kf, vf, dropout_p=0.5)\n"
                          "    output y\n}\n")
    assert comp.ok, comp.diagnostics
    assert "dropout_p=(0.5 if self.training else 0.0)" in comp.python_source()
    gen = comp.to_module()
    i = _sdpa_inputs()
    args = list(i.values())
    torch.manual_seed(3)
    got = gen.train()(*args)
    torch.manual_seed(3)
    torch.testing.assert_close(got, F.scaled_dot_product_attention(i["q"], i["kf"], i["vf"], dropout_p=0.5))
    assert not torch.allclose(got, F.scaled_dot_product_attention(i["q"], i["kf"], i["vf"]))
    torch.testing.assert_close(gen.eval()(*args), F.scaled_dot_product_attention(i["q"], i["kf"], i["vf"]))


def test_sdpa_macs_equal_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    layer = REG["scaled_dot_product_attention"]
    for s in layer.samples:
        p = layer.Params.model_validate(s.params)
        ins = [TensorType(shape, d) for shape, d in zip(s.inputs, s.dtypes())]
        outs = layer.infer(p, ins)
        tensors = [torch.rand(shape) < 0.5 if d == "bool" else torch.randn(shape, dtype=getattr(torch, d))
                   for shape, d in zip(s.inputs, s.dtypes())]
        names = [f"t{i}" for i in range(len(tensors))]
        counter = FlopCounterMode(display=False)
        with counter:
            eval(layer.forward(p, None, names), {"torch": torch, "self": nn.Module()}, dict(zip(names, tensors)))
        assert 2 * layer.macs(p, ins, outs) == counter.get_total_flops(), s


# ------------------------------------------------------------------ bad masks
SPELL = {"float32": "", "float64": "double", "float16": "half", "int64": "long", "bool": "bool"}
MHA, ENC, DEC, STACK, SDPA = ("MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer",
                              "TransformerEncoder", "scaled_dot_product_attention")
F32, F64, BOOL = "float32", "float64", "bool"
# q (2, 5, 8) attends to k (2, 7, 8): L = 5, S = 7, 2 heads, batch 2
BAD = [
    (MHA, {"num_heads": 2, "attn_mask": True}, [(2, 5, 8), (2, 7, 8), (5, 6)], [F32, F32, BOOL],
     ["attn_mask must be (5, 7)", "query of length 5", "keys of length 7", "got (5, 6)"], "train"),
    (MHA, {"num_heads": 2, "attn_mask": True}, [(2, 5, 8), (2, 7, 8), (2, 5, 7)], [F32, F32, BOOL],
     ["attn_mask must be (4, 5, 7)", "2 heads × batch 2", "got (2, 5, 7)"], "train"),
    (MHA, {"num_heads": 2, "attn_mask": True}, [(2, 5, 8), (1, 2, 5, 5)], [F32, BOOL],
     ["attn_mask must be 2-d (L, S) or 3-d", "got 4-d (1, 2, 5, 5)"], "train"),
    (MHA, {"num_heads": 2, "key_padding_mask": True}, [(2, 5, 8), (2, 7, 8), (2, 5)], [F32, F32, BOOL],
     ["key_padding_mask must be (2, 7)", "got (2, 5)"], "train"),
    (MHA, {"num_heads": 2, "key_padding_mask": True}, [(2, 5, 8), (2, 5)], [F32, "int64"],
     ["key_padding_mask must be bool or floating point, got int64"], "train"),
    (MHA, {"num_heads": 2, "attn_mask": True}, [(2, 5, 8), (5, 5)], [F32, F64],
     ["attn_mask must be bool or float32, got float64"], "train"),
    (MHA, {"num_heads": 2, "attn_mask": True, "key_padding_mask": True}, [(2, 5, 8), (2, 5), (5, 5)],
     [F32, F64, "float16"], ["attn_mask (float16) + key_padding_mask (float64) is float64"], "train"),
    (MHA, {"num_heads": 2, "is_causal": True}, [(2, 5, 8)], [F32],
     ["is_causal=true is a hint that attn_mask is the causal mask", "needs attn_mask"], "train"),
    # is_causal without a padding mask: torch's training path never reads the mask; inference does
    (MHA, {"num_heads": 2, "attn_mask": True, "is_causal": True}, [(2, 5, 8), (4, 4)], [F32, BOOL],
     ["attn_mask must be (5, 5)", "got (4, 4)"], "eval"),
    (ENC, {"nhead": 2, "src_mask": True}, [(2, 5, 8), (5, 4)], [F32, BOOL],
     ["src_mask must be (5, 5) for src of length 5, got (5, 4)"], "train"),
    (ENC, {"nhead": 2, "src_mask": True}, [(2, 5, 8), (2, 5, 5)], [F32, BOOL],
     ["src_mask must be (4, 5, 5)", "got (2, 5, 5)"], "train"),
    (ENC, {"nhead": 2, "src_key_padding_mask": True}, [(2, 5, 8), (2, 4)], [F32, BOOL],
     ["src_key_padding_mask must be (2, 5)", "got (2, 4)"], "train"),
    (ENC, {"nhead": 2, "src_key_padding_mask": True}, [(2, 5, 8), (5,)], [F32, BOOL],
     ["src_key_padding_mask must be (2, 5)", "got (5,)"], "train"),
    (ENC, {"nhead": 2, "src_key_padding_mask": True, "batch_first": False}, [(5, 2, 8), (5, 2)], [F32, BOOL],
     ["src_key_padding_mask must be (2, 5)", "got (5, 2)"], "train"),
    (ENC, {"nhead": 2, "src_key_padding_mask": True}, [(5, 8), (1, 5)], [F32, BOOL],
     ["src_key_padding_mask must be (5,)", "got (1, 5)"], "train"),
    (ENC, {"nhead": 2, "is_causal": True}, [(2, 5, 8)], [F32],
     ["is_causal=true is a hint that src_mask is the causal mask", "(5, 5) bool mask"], "train"),
    (ENC, {"nhead": 2, "is_causal": True, "src_key_padding_mask": True}, [(2, 5, 8), (2, 5)], [F32, BOOL],
     ["torch needs src_mask with it"], "train"),
    (ENC, {"nhead": 2, "src_mask": True}, [(2, 5, 8), (5, 5)], [F32, "int64"],
     ["src_mask must be bool or floating point, got int64"], "train"),
    (ENC, {"nhead": 2, "src_mask": True, "is_causal": True}, [(2, 5, 8), (5, 5)], [F32, "int64"],
     ["src_mask must be bool or floating point, got int64"], "train"),
    (ENC, {"nhead": 2, "src_mask": True, "is_causal": True}, [(2, 5, 8), (5, 6)], [F32, BOOL],
     ["src_mask must be (5, 5)", "got (5, 6)"], "eval"),
    (STACK, {"nhead": 2, "num_layers": 2, "mask": True}, [(2, 5, 8), (4, 4)], [F32, BOOL],
     ["mask must be (5, 5) for src of length 5, got (4, 4)"], "train"),
    (STACK, {"nhead": 2, "num_layers": 2, "src_key_padding_mask": True}, [(2, 5, 8), (3, 5)], [F32, BOOL],
     ["src_key_padding_mask must be (2, 5)", "got (3, 5)"], "train"),
    (STACK, {"nhead": 2, "num_layers": 2, "is_causal": True}, [(2, 5, 8)], [F32],
     ["is_causal=true is a hint that mask is the causal mask"], "train"),
    (DEC, {"nhead": 2, "tgt_mask": True}, [(2, 5, 8), (2, 7, 8), (5, 7)], [F32, F32, BOOL],
     ["tgt_mask must be (5, 5) for tgt of length 5, got (5, 7)"], "train"),
    (DEC, {"nhead": 2, "memory_mask": True}, [(2, 5, 8), (2, 7, 8), (7, 5)], [F32, F32, BOOL],
     ["memory_mask must be (5, 7) for tgt of length 5 and memory of length 7, got (7, 5)"], "train"),
    (DEC, {"nhead": 2, "memory_mask": True}, [(2, 5, 8), (2, 7, 8), (2, 5, 7)], [F32, F32, BOOL],
     ["memory_mask must be (4, 5, 7)", "got (2, 5, 7)"], "train"),
    (DEC, {"nhead": 2, "tgt_key_padding_mask": True}, [(2, 5, 8), (2, 7, 8), (2, 7)], [F32, F32, BOOL],
     ["tgt_key_padding_mask must be (2, 5) (batch, length of tgt), got (2, 7)"], "train"),
    (DEC, {"nhead": 2, "memory_key_padding_mask": True}, [(2, 5, 8), (2, 7, 8), (2, 5)], [F32, F32, BOOL],
     ["memory_key_padding_mask must be (2, 7) (batch, length of memory), got (2, 5)"], "train"),
    (DEC, {"nhead": 2, "tgt_is_causal": True}, [(2, 5, 8), (2, 7, 8)], [F32, F32],
     ["tgt_is_causal=true is a hint that tgt_mask is the causal mask"], "train"),
    (DEC, {"nhead": 2, "memory_is_causal": True}, [(2, 5, 8), (2, 7, 8)], [F32, F32],
     ["memory_is_causal=true is a hint that memory_mask is the causal mask", "(5, 7) bool mask"], "train"),
    (DEC, {"nhead": 2, "memory_mask": True}, [(2, 5, 8), (2, 7, 8), (5, 7)], [F32, F32, F64],
     ["memory_mask must be bool or float32, got float64"], "train"),
    (SDPA, {"attn_mask": True}, [(2, 5, 8), (2, 7, 8), (2, 7, 6), (5, 6)], [F32, F32, F32, BOOL],
     ["attn_mask (5, 6) must broadcast to the attention weights (2, 5, 7)", "L=5, S=7"], "train"),
    (SDPA, {"attn_mask": True}, [(2, 5, 8), (2, 7, 8), (2, 7, 6), (3, 5, 7)], [F32, F32, F32, BOOL],
     ["attn_mask (3, 5, 7) must broadcast to the attention weights (2, 5, 7)"], "train"),
    (SDPA, {"attn_mask": True}, [(2, 5, 8), (2, 7, 8), (2, 7, 6), (1, 2, 5, 7)], [F32, F32, F32, BOOL],
     ["attn_mask (1, 2, 5, 7) must broadcast to the attention weights (2, 5, 7)"], "train"),
    # 4-d query, key and value of one batch and head count: torch's fused CPU kernel (no dropout)
    (SDPA, {"attn_mask": True}, [(2, 2, 5, 8), (2, 2, 7, 8), (2, 2, 7, 6), (7,)], [F32, F32, F32, BOOL],
     ["attn_mask (7,) needs at least 2 dims here", "declare it (1, 7)"], "eval"),
    (SDPA, {"attn_mask": True, "is_causal": True}, [(2, 5, 8), (2, 7, 8), (2, 7, 6), (5, 7)],
     [F32, F32, F32, BOOL], ["is_causal=true makes the causal mask itself"], "train"),
    (SDPA, {"attn_mask": True}, [(2, 5, 8), (2, 7, 8), (2, 7, 6), (5, 7)], [F32, F32, F32, F64],
     ["attn_mask must be bool or float32, got float64"], "train"),
    (SDPA, {"attn_mask": True}, [(2, 5, 8), (2, 7, 8), (2, 7, 6), (5, 7)], [F64, F64, F64, "float16"],
     ["attn_mask must be bool, float32 or the query's dtype float64, got float16"], "train"),
    (SDPA, {}, [(2, 5, 8), (2, 7, 4), (2, 7, 6)], [F32] * 3,
     ["must have one feature size E", "got 8 and 4"], "train"),
    (SDPA, {}, [(2, 5, 8), (2, 7, 8), (2, 6, 6)], [F32] * 3, ["must have one length S", "got 7 and 6"], "train"),
    (SDPA, {}, [(2, 5, 8), (3, 7, 8), (3, 7, 6)], [F32] * 3, ["(2,) and (3,), do not broadcast"], "train"),
    (SDPA, {}, [(2, 5, 8), (1, 7, 8), (3, 7, 6)], [F32] * 3, ["the batch dims of the value (3, 7, 6), (3,), do not broadcast with the query's and key's (2,)"], "train"),
    (SDPA, {}, [(2, 5, 8), (2, 7, 8), (2, 7, 6)], [F64, F32, F32], ["query, key and value must have one dtype"],
     "train"),
    (SDPA, {"enable_gqa": True}, [(2, 4, 5, 8), (2, 3, 7, 8), (2, 3, 7, 6)], [F32] * 3,
     ["the key's 3 heads (dim -3) must divide the query's 4"], "train"),
    (SDPA, {"enable_gqa": True}, [(5, 8), (7, 8), (7, 6)], [F32] * 3, ["has no dim -3"], "train"),
    (SDPA, {}, [(8,), (7, 8), (7, 6)], [F32] * 3, ["the query must have at least 2 dims"], "train"),
    (SDPA, {}, [(2, 5, 8), (2, 7, 8), (2, 7, 6)], ["int64"] * 3, ["needs a floating-point input, got int64"],
     "train"),
]


def _literal(v) -> str:
    return {True: "true", False: "false"}.get(v, repr(v)) if isinstance(v, bool) else repr(v)


def _model(kind, params, shapes, dtypes) -> str:
    """The .model text that calls ``kind`` on inputs t0, t1, ... (the masks by keyword)."""
    layer = REG[kind]
    n_pos = len(shapes) - sum(1 for n in layer.tensor_args if params.get(n))
    inputs = [f"    input t{i}: {SPELL[d]}[{', '.join(map(str, s))}]" for i, (s, d) in enumerate(zip(shapes, dtypes))]
    args = [f"t{i}" for i in range(n_pos)]
    given = [n for n in layer.tensor_args if params.get(n)]
    args += [f"{k}={_literal(v)}" for k, v in params.items() if k not in layer.tensor_args]
    args += [f"{n}=t{n_pos + j}" for j, n in enumerate(given)]
    return "model M {\n" + "\n".join(inputs) + f"\n    y = {kind}({', '.join(args)})\n    output y\n}}\n"


def _torch_call(kind, params, shapes, dtypes, mode):
    """The same configuration in torch: the module from graphc's constructor, called with the
    forward text graphc writes, in training or in inference (eval, no grad)."""
    layer = REG[kind]
    p = layer.Params.model_validate(params)
    ins = [TensorType(s, d) for s, d in zip(shapes, dtypes)]
    tensors = [torch.zeros(s, dtype=torch.bool) if d == BOOL else torch.randn(s).to(getattr(torch, d))
               for s, d in zip(shapes, dtypes)]
    names = [f"t{i}" for i in range(len(tensors))]
    env = dict(zip(names, tensors))
    module = None
    if layer.torch_name is not None:
        module = instantiate(layer.torch_name, layer.ctor(p, ins))
        module.train(mode == "train")
    with torch.no_grad() if mode == "eval" else torch.enable_grad():
        return eval(layer.forward(p, "module", names), {"torch": torch, "module": module, "self": module}, env)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("kind,params,shapes,dtypes,fragments,mode", BAD,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_mask_is_a_diagnostic_and_torch_raises(kind, params, shapes, dtypes, fragments, mode):
    src = _model(kind, params, shapes, dtypes)
    comp = compile_source(src, "bad.model")
    assert not comp.ok
    (d,) = comp.errors
    assert d.span.path == "bad.model" and d.span.line == len(shapes) + 2 and d.span.col > 1
    assert d.hint
    for f in fragments:  # the numbers, in the message (or the fix, in the hint)
        assert f in f"{d.message} {d.hint}", (d.message, d.hint, f)
    with pytest.raises((RuntimeError, AssertionError, IndexError)):
        _torch_call(kind, params, shapes, dtypes, mode)


MASKED = [(i, b) for i, b in enumerate(BAD) if set(b[1]) & ({"is_causal", "tgt_is_causal", "memory_is_causal"}
                                                               | set(REG[b[0]].tensor_args))]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("kind,params,shapes,dtypes,fragments,mode", [b for _, b in MASKED],
                         ids=[f"{b[0]}-{i}" for i, b in MASKED])
def test_without_the_masks_torch_runs(kind, params, shapes, dtypes, fragments, mode):
    """The control for each case of a mask: the same call without the masks and the causal flags
    is accepted by graphc and runs in torch, in the same mode, to the shape graphc infers; so what
    torch raised for above was the mask."""
    layer = REG[kind]
    n_pos = len(shapes) - sum(1 for n in layer.tensor_args if params.get(n))
    bare = {k: v for k, v in params.items() if k not in layer.tensor_args and k not in {"is_causal", "tgt_is_causal", "memory_is_causal"}}
    shapes, dtypes = shapes[:n_pos], dtypes[:n_pos]
    (out,) = layer.infer(layer.Params.model_validate(bare), [TensorType(s, d) for s, d in zip(shapes, dtypes)])
    assert tuple(_torch_call(kind, bare, shapes, dtypes, mode).shape) == out.shape


# ------------------------------------------------------------ symbolic lengths
SYMBOLIC = """model M {
    input x: [B, T, 16]
    input mem: [B, S, 16]
    input causal: bool[T, T]
    input pad: bool[B, T]
    input cross: bool[T, S]
    input q: [B, 4, T, 8]
    input kv: [B, 4, S, 8]
    y = x -> TransformerEncoderLayer(4, 32, src_mask=causal, src_key_padding_mask=pad, is_causal=true)
    d = TransformerDecoderLayer(y, mem, 4, 32, memory_mask=cross, tgt_key_padding_mask=pad)
    a = scaled_dot_product_attention(q, kv, kv, attn_mask=cross)
    output d, a
}
"""


def test_symbolic_lengths_same_symbol_same_size():
    """A [T, T] mask fits a query of length T, [T, S] fits keys of length S, whatever T and S are;
    the module runs for sizes bound at call time."""
    comp = compile_source(SYMBOLIC)
    assert comp.ok, comp.diagnostics
    b, t, s = 3, 6, 4
    inputs = [torch.randn(b, t, 16), torch.randn(b, s, 16), torch.triu(torch.ones(t, t, dtype=torch.bool), 1),
              torch.zeros(b, t, dtype=torch.bool), torch.zeros(t, s, dtype=torch.bool),
              torch.randn(b, 4, t, 8), torch.randn(b, 4, s, 8)]
    d, a = comp.to_module().eval()(*inputs)
    assert d.shape == (b, t, 16) and a.shape == (b, 4, t, 8)


@pytest.mark.parametrize("old,new,message", [
    ("input causal: bool[T, T]", "input causal: bool[T, S]", "src_mask must be (T, T) for src of length T, got (T, S)"),
    ("input causal: bool[T, T]", "input causal: bool[T, 5]", "src_mask must be (T, T) for src of length T, got (T, 5)"),
    ("input pad: bool[B, T]", "input pad: bool[B, S]", "src_key_padding_mask must be (B, T)"),
    ("input cross: bool[T, S]", "input cross: bool[S, T]", "memory_mask must be (T, S) for tgt of length T and "
                                                            "memory of length S, got (S, T)"),
])
def test_symbolic_lengths_different_symbols_differ(old, new, message):
    comp = compile_source(SYMBOLIC.replace(old, new))
    assert not comp.ok
    assert message in comp.errors[0].message
