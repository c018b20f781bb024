"""graphc export: the .pt2 / ONNX files torch and onnxruntime load give the module's outputs at
sizes the export never saw, carry the checkpoint's weights, and a failure writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import graphc  # noqa: E402
from graphc.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"

TINY_LSTM = """
model TinyLSTM {
    input tokens: long[B, T]
    h = tokens -> embed: Embedding(50, 8) -> lstm: LSTM(12, output="hidden")
    logits = h -> fc: Linear(3)
    output logits
}
"""

TINY_TRANSFORMER = """
model TinyTransformer {
    input tokens: long[B, T]
    tok = tokens -> tok_embed: Embedding(100, 16)
    pos = tokens -> positions -> pos_embed: Embedding(64, 16)
    x = add(tok, pos)
        -> encoder: TransformerEncoder(2, 1, dim_feedforward=32, enable_nested_tensor=false)
        -> mean(dim=1)
    logits = x -> head: Linear(4)
    output logits
}
"""


def module_with(path, state=None):
    m = graphc.compile(str(path)).to_module().eval()
    if state is not None:
        m.load_state_dict(state)
    return m


def export(*argv) -> int:
    return main(["export", *map(str, argv), "-q"])


def assert_same(ref, got, atol=1e-5):
    ref = ref if isinstance(ref, (tuple, list)) else (ref,)
    got = got if isinstance(got, (tuple, list)) else (got,)
    assert len(ref) == len(got)
    for r, g in zip(ref, got):
        g = torch.as_tensor(g)
        assert tuple(g.shape) == tuple(r.shape)
        torch.testing.assert_close(g, r.detach(), rtol=1e-4, atol=atol)


def fake_checkpoint(path, tmp_path, epoch=3):
    """A checkpoint as the generated training script writes one (train/loop.py.tmpl), with weights
    that are not the module's initial ones."""
    torch.manual_seed(123)
    m = module_with(path)
    state = {k: (v + 0.1 * torch.randn_like(v)).abs() + 0.5 if "running_var" in k
             else v + 0.1 * torch.randn_like(v) if v.is_floating_point() else v
             for k, v in m.state_dict().items()}
    ckpt = tmp_path / "last.pt"
    torch.save({"model": state, "optimizer": {}, "epoch": epoch, "rng": {}, "best": 0.5}, ckpt)
    return ckpt, state


def test_pt2_carries_the_checkpoint_and_a_dynamic_batch(tmp_path, capsys):
    ckpt, state = fake_checkpoint(MODELS / "digits.model", tmp_path)
    out = tmp_path / "digits.pt2"
    assert export(MODELS / "digits.model", "--checkpoint", ckpt, "-o", out) == 0
    ep = torch.export.load(out)
    sd = ep.state_dict
    for k, v in state.items():
        if k in sd:  # parameters and running statistics
            assert torch.equal(sd[k], v), k
    assert {k for k in state if "num_batches" not in k} <= set(sd) | set(dict(ep.named_buffers()))
    ref = module_with(MODELS / "digits.model", state)
    for b in (1, 5):  # sizes the verification did not use
        x = torch.randn(b, 1, 8, 8)
        assert_same(ref(x), ep.module()(x))


def test_pt2_symbolic_sequence_length(tmp_path):
    path = MODELS / "transformer_classifier.model"
    out = tmp_path / "t.pt2"
    assert export(path, "-o", out) == 0
    ep = torch.export.load(out)
    ref = module_with(path, ep.state_dict)
    for b, t in ((4, 9), (1, 33)):
        x = torch.randint(0, 30000, (b, t))
        assert_same(ref(x), ep.module()(x), atol=1e-4)


def test_pt2_unet_multiples_of_16(tmp_path):
    path = MODELS / "unet.model"
    out = tmp_path / "unet.pt2"
    assert export(path, "-o", out) == 0
    ep = torch.export.load(out)
    ref = module_with(path, ep.state_dict)
    x = torch.randn(1, 1, 64, 48)  # h=4, w=3: neither verified nor traced
    assert_same(ref(x), ep.module()(x))
    with pytest.raises(Exception):  # noqa: B017 - a height that is no multiple of 16 is refused
        ep.module()(torch.randn(1, 1, 40, 48))


def test_lstm_time_axis_is_one_clear_line_and_writes_nothing(tmp_path, capsys):
    src = tmp_path / "tiny.model"
    src.write_text(TINY_LSTM)
    out = tmp_path / "tiny.pt2"
    out.write_bytes(b"old")
    assert export(src, "-o", out) == 1
    err = capsys.readouterr().err
    assert "--set T=16" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == b"old"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tiny.pt2")]
    assert export(src, "--set", "T=7", "-o", out) == 0  # the fix it names works
    ep = torch.export.load(out)
    x = torch.randint(0, 50, (5, 7))
    assert_same(module_with_bound(src, ep.state_dict)(x), ep.module()(x))


def module_with_bound(src, state):
    m = graphc.compile(str(src), T=7).to_module().eval()
    m.load_state_dict(state)
    return m


def test_another_models_weights_are_refused(tmp_path, capsys):
    ckpt, _ = fake_checkpoint(MODELS / "lenet.model", tmp_path)
    out = tmp_path / "d.pt2"
    assert export(MODELS / "digits.model", "--checkpoint", ckpt, "-o", out) == 2
    err = capsys.readouterr().err
    assert "another model's weights" in err and "Traceback" not in err
    assert not out.exists()


def test_safetensors_weights(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    _, state = fake_checkpoint(MODELS / "digits.model", tmp_path)
    f = tmp_path / "w.safetensors"
    st.save_file({k: v.contiguous() for k, v in state.items()}, str(f))
    out = tmp_path / "d.pt2"
    assert export(MODELS / "digits.model", "--checkpoint", f, "-o", out) == 0
    sd = torch.export.load(out).state_dict
    assert torch.equal(sd["fc2.weight"], state["fc2.weight"])


def test_onnx_under_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    src = tmp_path / "tiny.model"
    src.write_text(TINY_TRANSFORMER)
    ckpt, state = fake_checkpoint(src, tmp_path)
    out = tmp_path / "t.onnx"
    assert export(src, "--checkpoint", ckpt, "-o", out) == 0
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["tokens"]
    assert sess.get_inputs()[0].shape == ["B", "T"]
    assert [o.name for o in sess.get_outputs()] == ["logits"]
    ref = module_with(src, state)
    for b, t in ((3, 11), (1, 40)):
        x = torch.randint(0, 64, (b, t))
        assert_same(ref(x), sess.run(None, {"tokens": x.numpy()})[0], atol=1e-4)


def test_an_export_that_fixes_a_size_is_caught_and_not_written(tmp_path, capsys):
    """The TorchScript exporter traces nn.MultiheadAttention's reshapes with T constant: the
    verification at a second T finds it."""
    pytest.importorskip("onnxruntime")
    src = tmp_path / "tiny.model"
    src.write_text(TINY_TRANSFORMER)
    out = tmp_path / "t.onnx"
    assert export(src, "--onnx-exporter", "torchscript", "-o", out) == 1
    err = capsys.readouterr().err
    assert "fails at B=3, T=17" in err and "nothing was written" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_onnx_lstm_keeps_its_time_axis(tmp_path, capsys):
    """torch.export fixes an LSTM's time axis; auto falls back to the TorchScript exporter (ONNX's LSTM)."""
    ort = pytest.importorskip("onnxruntime")
    src = tmp_path / "tiny.model"
    src.write_text(TINY_LSTM)
    ckpt, state = fake_checkpoint(src, tmp_path)
    out = tmp_path / "tiny.onnx"
    assert export(src, "--checkpoint", ckpt, "-o", out) == 0
    assert "TorchScript exporter instead" in capsys.readouterr().err
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    ref = module_with(src, state)
    for b, t in ((2, 23), (1, 3)):
        x = torch.randint(0, 50, (b, t))
        assert_same(ref(x), sess.run(None, {"tokens": x.numpy()})[0], atol=1e-4)
