"""Recurrent state: an initial state in (h0; LSTM h0 and c0) and the final state out (state=true),
checked statically as torch checks it; models/seq2seq.model against a hand-written torch seq2seq."""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from graphc.api import compile, compile_source  # noqa: E402
from graphc.layers.base import REGISTRY, ShapeError, TensorType, load_all  # noqa: E402

load_all()
MODELS = Path(__file__).resolve().parent.parent / "models"


def infer(kind, params, *shapes):
    layer = REGISTRY[kind]
    return layer.infer(layer.Params.model_validate(params), [TensorType(s) for s in shapes])


def test_lstm_state_unpacks_as_torch_returns_it():
    comp = compile_source("""model M {
    input x: [B, 5, 3]
    input h0: [2, B, 4]
    input c0: [2, B, 4]
    out, h, c = LSTM(x, h0, c0, 4, bidirectional=true, state=true)
    output out, h, c
}
""")
    assert comp.ok, comp.diagnostics
    src = comp.python_source()
    assert "out, (h, c) = self.lstm(x, (h0, c0))" in src
    m = comp.to_module()
    x, h0, c0 = torch.randn(2, 5, 3), torch.randn(2, 2, 4), torch.randn(2, 2, 4)
    out, h, c = m(x, h0, c0)
    want_out, (want_h, want_c) = m.lstm(x, (h0, c0))
    assert torch.equal(out, want_out) and torch.equal(h, want_h) and torch.equal(c, want_c)


@pytest.mark.parametrize("kind,params,shapes,message", [
    ("GRU", {"hidden_size": 4}, [(2, 5, 3), (1, 3, 4)], "h0 must be (1, 2, 4)"),
    ("GRU", {"hidden_size": 4, "batch_first": False}, [(5, 2, 3), (1, 5, 4)], "h0 must be (1, 2, 4)"),
    ("RNN", {"hidden_size": 4, "num_layers": 2}, [(2, 5, 3), (1, 2, 4)], "h0 must be (2, 2, 4)"),
    ("GRU", {"hidden_size": 4}, [(2, 5, 3), (2, 4)], "must be 3-d"),
    ("GRU", {"hidden_size": 4}, [(5, 3), (1, 2, 4)], "must be 2-d"),
    ("LSTM", {"hidden_size": 4}, [(2, 5, 3), (1, 2, 4)], "initial state of 2 tensors"),
    ("LSTM", {"hidden_size": 6, "proj_size": 2}, [(2, 5, 3), (1, 2, 6), (1, 2, 6)], "h0 must be (1, 2, 2)"),
    ("LSTM", {"hidden_size": 6, "proj_size": 2}, [(2, 5, 3), (1, 2, 2), (1, 2, 2)], "c0 must be (1, 2, 6)"),
    ("GRU", {"hidden_size": 4, "state": True, "output": "last"}, [(2, 5, 3)], "cannot go with it"),
])
def test_state_errors(kind, params, shapes, message):
    with pytest.raises(ShapeError) as e:
        infer(kind, params, *shapes)
    assert message in e.value.message


def test_state_dtype_must_match():
    layer = REGISTRY["GRU"]
    with pytest.raises(ShapeError, match="dtype"):
        layer.infer(layer.Params.model_validate({"hidden_size": 4}),
                    [TensorType((2, 5, 3)), TensorType((1, 2, 4), "float64")])


def test_arity_of_state_in_a_model():
    comp = compile_source("""model M {
    input x: [B, 5, 3]
    input h0: [1, B, 4]
    y = GRU(x, h0, h0, 4)
    output y
}
""")
    assert not comp.ok and any(d.code == "arity" for d in comp.errors)


class Seq2Seq(nn.Module):
    """The textbook GRU encoder-decoder, written by hand."""

    def __init__(self):
        super().__init__()
        self.src_embed = nn.Embedding(1000, 64)
        self.encoder = nn.GRU(64, 128, batch_first=True)
        self.tgt_embed = nn.Embedding(1200, 64)
        self.decoder = nn.GRU(64, 128, batch_first=True)
        self.out = nn.Linear(128, 1200)

    def forward(self, src, tgt):
        _, h = self.encoder(self.src_embed(src))
        dec, _ = self.decoder(self.tgt_embed(tgt), h)
        return self.out(dec)


def test_seq2seq_matches_a_hand_written_reference():
    comp = compile(MODELS / "seq2seq.model")
    assert comp.ok, comp.diagnostics
    model = comp.to_module()
    ref = Seq2Seq()
    # the same weights, in module order
    gen, want = list(model.state_dict().values()), ref.state_dict()
    assert [tuple(t.shape) for t in gen] == [tuple(t.shape) for t in want.values()]
    ref.load_state_dict(dict(zip(want, gen)))
    torch.manual_seed(0)
    src, tgt = torch.randint(0, 1000, (3, 7)), torch.randint(0, 1200, (3, 5))
    assert torch.allclose(model(src, tgt), ref(src, tgt), atol=1e-6)
    # the decoder really starts from the encoder's state: another source changes every step
    other = model(torch.randint(0, 1000, (3, 7)), tgt)
    assert not torch.allclose(other[:, -1], model(src, tgt)[:, -1])
