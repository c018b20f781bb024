"""Sequence layers: Embedding, RNN/LSTM/GRU, MultiheadAttention, transformer layers."""

import pytest

torch = pytest.importorskip("torch")

from graphc.api import compile_source  # noqa: E402
from graphc.layers.base import REGISTRY, ShapeError, TensorType, load_all  # noqa: E402
from graphc.shapes import Sym  # noqa: E402
from tests.fuzz.harness import compare  # noqa: E402

load_all()
KINDS = ("Embedding", "RNN", "LSTM", "GRU", "MultiheadAttention", "TransformerEncoderLayer",
         "TransformerDecoderLayer")
CASES = [(k, i, s) for k in KINDS for i, s in enumerate(REGISTRY[k].samples)]
B, T = Sym("B"), Sym("T")


def run(kind, params, *shapes, dtype="float32"):
    layer = REGISTRY[kind]
    p = layer.Params.model_validate(params)
    ins = [TensorType(s, dtype) for s in shapes]
    outs = layer.infer(p, ins)
    return layer, p, ins, outs


def error(kind, params, *shapes, dtype="float32") -> ShapeError:
    with pytest.raises(ShapeError) as e:
        run(kind, params, *shapes, dtype=dtype)
    return e.value


@pytest.mark.parametrize("kind,i,sample", CASES, ids=[f"{k}-{i}" for k, i, _ in CASES])
def test_samples_through_forward_text_match_torch(kind, i, sample):
    """Shape, dtype and parameter count of the module called through the emitted forward text."""
    out = compare(kind, sample.params, list(sample.inputs), sample.dtype)
    assert out.ok and out.accepted, out


@pytest.mark.parametrize("params,forward", [
    ({"hidden_size": 4}, "self.m(x)[0]"),
    ({"hidden_size": 4, "output": "last"}, "self.m(x)[0][..., -1, :]"),
    ({"hidden_size": 4, "output": "last", "batch_first": False}, "self.m(x)[0][-1]"),
    ({"hidden_size": 4, "output": "hidden"}, "self.m(x)[1][0][-1]"),
    ({"hidden_size": 4, "output": "hidden", "bidirectional": True},
     "torch.cat(self.m(x)[1][0][-2:].unbind(), dim=-1)"),
])
def test_lstm_forward_text(params, forward):
    layer = REGISTRY["LSTM"]
    assert layer.forward(layer.Params.model_validate(params), "self.m", ["x"]) == forward


def test_gru_hidden_reads_h_n():
    layer = REGISTRY["GRU"]
    p = layer.Params.model_validate({"hidden_size": 4, "output": "hidden"})
    assert layer.forward(p, "self.m", ["x"]) == "self.m(x)[1][-1]"


def test_attention_inputs_default_to_self_attention():
    layer = REGISTRY["MultiheadAttention"]
    p = layer.Params.model_validate({"num_heads": 2})
    assert layer.forward(p, "a", ["q"]) == "a(q, q, q, need_weights=False)[0]"
    assert layer.forward(p, "a", ["q", "m"]) == "a(q, m, m, need_weights=False)[0]"


def test_symbolic_batch_and_time():
    _, _, _, outs = run("LSTM", {"hidden_size": 4, "bidirectional": True}, (B, T, 3))
    assert outs[0].shape == (B, T, 8)
    _, _, _, outs = run("GRU", {"hidden_size": 4, "batch_first": False, "output": "last"}, (T, B, 3))
    assert outs[0].shape == (B, 4)
    layer, p, ins, outs = run("MultiheadAttention", {"num_heads": 2}, (B, T, 8), (B, Sym("S"), 8))
    assert outs[0].shape == (B, T, 8)
    assert str(layer.macs(p, ins, outs)) != "0"
    _, _, _, outs = run("Embedding", {"num_embeddings": 9, "embedding_dim": 3}, (B, T), dtype="int32")
    assert outs == [TensorType((B, T, 3), "float32")]


def test_recurrent_macs():
    # per step, layer and direction: gates·H·(inputs + H_out), plus proj_size·H for the projection
    layer, p, ins, outs = run("LSTM", {"hidden_size": 8}, (2, 5, 3))
    assert layer.macs(p, ins, outs) == 2 * 5 * 32 * (3 + 8)
    layer, p, ins, outs = run("LSTM", {"hidden_size": 6, "proj_size": 2, "num_layers": 2,
                                       "bidirectional": True}, (2, 5, 3))
    assert layer.macs(p, ins, outs) == 10 * 2 * (24 * (3 + 2) + 12 + 24 * (4 + 2) + 12)
    layer, p, ins, outs = run("GRU", {"hidden_size": 4}, (5, 3))
    assert layer.macs(p, ins, outs) == 5 * 12 * (3 + 4)


def test_errors():
    e = error("Embedding", {"num_embeddings": 5, "embedding_dim": 2}, (2, 3))
    assert e.code == "dtype" and "int64" in e.message and e.hint
    e = error("Embedding", {"num_embeddings": 5, "embedding_dim": 2, "padding_idx": 5}, (2, 3),
              dtype="int64")
    assert e.arg == "padding_idx"
    assert error("LSTM", {"hidden_size": 4, "proj_size": 4}, (2, 5, 3)).arg == "proj_size"
    assert error("GRU", {"hidden_size": 4}, (2, 5, 3, 1)).code == "shape-rank"
    assert error("RNN", {"hidden_size": 4, "input_size": 2}, (2, 5, 3)).arg == "input_size"
    assert error("MultiheadAttention", {"num_heads": 3}, (2, 5, 8)).arg == "num_heads"
    assert error("MultiheadAttention", {"num_heads": 2}, (2, 5, 8), (2, 4)).code == "shape-rank"
    assert "batch" in error("MultiheadAttention", {"num_heads": 2}, (2, 5, 8), (3, 5, 8)).message
    assert error("MultiheadAttention", {"num_heads": 2}, (2, 5, 8), (2, 4, 8), (2, 3, 8)).code \
        == "shape-mismatch"
    assert error("TransformerEncoderLayer", {"nhead": 3}, (2, 5, 8)).arg == "nhead"
    assert "d_model" in error("TransformerDecoderLayer", {"nhead": 2}, (2, 5, 8), (2, 5, 6)).message


def test_encoder_layer_param_count_at_full_size():
    layer, p, ins, _ = run("TransformerEncoderLayer", {"nhead": 8}, (2, 10, 512))
    want = sum(x.numel() for x in torch.nn.TransformerEncoderLayer(512, 8).parameters())
    assert layer.param_count(p, ins) == want == 3_152_384


MODEL = """
model Tagger {
    input tokens: long[B, T]
    input memory: [B, 7, 6]
    e = tokens -> Embedding(50, 8, padding_idx=0)
    s = e -> LSTM(8, 2, bidirectional=true, proj_size=2)
    h = e -> gru: GRU(4, output="hidden", bidirectional=true)
    a = s -> attn: MultiheadAttention(memory, 2)
    y = a -> TransformerEncoderLayer(2, 16) -> dec: TransformerDecoderLayer(a, 1, 8)
    output y, h
}
"""


def test_generated_module_runs_and_writes_batch_first(tmp_path):
    comp = compile_source(MODEL)
    assert comp.ok, comp.diagnostics
    src = comp.python_source()
    for ctor in ("nn.LSTM(", "nn.GRU(", "nn.MultiheadAttention(", "nn.TransformerEncoderLayer(",
                 "nn.TransformerDecoderLayer("):
        call = src[src.index(ctor):]
        call = call[:call.index("\n        )") if call.index("\n") < len(ctor) + 2 else call.index("\n")]
        assert "batch_first=True" in call, call
    ns: dict = {}
    exec(compile(src, "tagger.py", "exec"), ns)
    model = ns["Tagger"]()
    y, h = model(*ns["example_inputs"](batch_size=3, T=5))
    assert tuple(y.shape) == (3, 5, 4) and tuple(h.shape) == (3, 8)
    assert sum(x.numel() for x in model.parameters()) == comp.summary().total_params
