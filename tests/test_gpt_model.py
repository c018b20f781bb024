"""models/gpt.model against a small GPT written by hand in torch (nanoGPT's structure and names):
the same state_dict keys, the same logits for the same weights, the output layer's weight the
token embedding's one tensor, causal attention, and the parameter count graphc reports."""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from graphc.api import compile  # noqa: E402

MODELS = Path(__file__).resolve().parent.parent / "models"
V, CTX, D, HEADS, LAYERS = 65, 64, 128, 4, 4


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn, self.c_proj = nn.Linear(D, 3 * D), nn.Linear(D, D)

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = self.c_attn(x).split(D, dim=2)
        q, k, v = (z.view(b, t, HEADS, D // HEADS).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, D))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.attn, self.ln_2 = nn.LayerNorm(D), CausalSelfAttention(), nn.LayerNorm(D)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wpe = nn.Parameter(torch.zeros(CTX, D))
        self.wte = nn.Embedding(V, D)
        self.blocks = nn.Sequential(*[Block() for _ in range(LAYERS)])
        self.ln_f = nn.LayerNorm(D)
        self.lm_head = nn.Linear(D, V, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, tokens):
        return self.lm_head(self.ln_f(self.blocks(self.wte(tokens) + self.wpe)))


@pytest.fixture(scope="module")
def built():
    comp = compile(MODELS / "gpt.model")
    assert comp.ok, [str(d) for d in comp.diagnostics]
    torch.manual_seed(0)
    return comp, comp.to_module().eval()


def test_gpt_equals_a_hand_written_gpt(built):
    comp, m = built
    ref = GPT().eval()
    assert list(m.state_dict()) == list(ref.state_dict())
    ref.load_state_dict(m.state_dict(), strict=True)
    tokens = torch.randint(0, V, (3, CTX))
    with torch.no_grad():
        assert torch.equal(m(tokens), ref(tokens))
    n = sum(p.numel() for p in m.parameters())  # the tied tensor once
    assert n == sum(p.numel() for p in ref.parameters()) == comp.summary().total_params


def test_the_output_layer_is_the_token_embedding(built):
    _, m = built
    assert m.lm_head.weight is m.wte.weight
    state = m.state_dict()
    assert state["lm_head.weight"].data_ptr() == state["wte.weight"].data_ptr()


def test_attention_is_causal(built):
    _, m = built
    tokens = torch.randint(0, V, (2, CTX))
    later = tokens.clone()
    later[:, 40:] = (later[:, 40:] + 1) % V  # change every token from position 40 on
    with torch.no_grad():
        a, b = m(tokens), m(later)
    assert torch.equal(a[:, :40], b[:, :40])  # what comes before 40 never sees what follows
    assert not torch.allclose(a[:, 40:], b[:, 40:])


def test_initialized_as_written(built):
    _, m = built
    for w in (m.wte.weight, m.wpe, m.blocks[0].attn.c_attn.weight):
        assert abs(w.std().item() - 0.02) < 0.002 and abs(w.mean().item()) < 0.002
    assert all(torch.count_nonzero(mod.bias) == 0 for mod in m.modules()
               if isinstance(mod, nn.Linear) and mod.bias is not None)
