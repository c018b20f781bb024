"""Sizes written with symbols: ``input image: [B, 1, 16 * h, 16 * w]`` declares a height and width
divisible by 16, so a U-Net is checked once for every valid size, and runs in torch at each."""

from pathlib import Path

import pytest

from graphc.api import compile, compile_source

MODELS = Path(__file__).resolve().parent.parent / "models"
UNET = (MODELS / "unet.model").read_text()
DECLARED = "[B, 1, 16 * h, 16 * w]"


def _errors(src):
    return [(d.span.line, d.code, d.message) for d in compile_source(src).diagnostics if d.severity == "error"]


def test_unet_checks_for_every_multiple_of_16_and_runs_in_torch_at_each():
    torch = pytest.importorskip("torch")
    assert DECLARED in UNET
    comp = compile(MODELS / "unet.model")
    assert comp.ok, [str(d) for d in comp.diagnostics]
    out = comp.program.type_of(comp.program.outputs[0][1]).shape
    assert [str(d) for d in out] == ["B", "2", "16*h", "16*w"]
    ns = {}
    exec(comp.python_source(), ns)  # noqa: S102 - the generated module
    m = ns["MODEL"]().eval()
    with torch.no_grad():
        for h, w in [(1, 1), (1, 3), (2, 1)]:
            (x,) = ns["example_inputs"](1, h, w)
            assert tuple(x.shape) == (1, 1, 16 * h, 16 * w)
            assert tuple(m(x).shape) == (1, 2, 16 * h, 16 * w)


def test_a_plain_symbol_is_not_enough_for_the_unet_and_torch_agrees():
    errs = _errors(UNET.replace(DECLARED, "[B, 1, H, W]"))
    assert errs and errs[0][1] == "shape-mismatch"
    torch = pytest.importorskip("torch")
    m = compile(MODELS / "unet.model").to_module().eval()
    with pytest.raises(RuntimeError), torch.no_grad():  # a height not divisible by 16 fails in torch
        m(torch.randn(1, 1, 24, 16))


def test_a_multiple_too_small_for_the_halvings_is_an_error():
    assert any(code == "shape-mismatch" for _, code, _ in _errors(UNET.replace(DECLARED, "[B, 1, 8 * h, 8 * w]")))


@pytest.mark.parametrize("dim,needle", [
    ("h - 1", "may only add and multiply"),
    ("h / 2", "may only add and multiply"),
    ("0 * h", "positive integer, got 0"),
    ("16 * h + 0", "positive integer, got 0"),
])
def test_only_sizes_that_are_at_least_1_for_every_symbol(dim, needle):
    errs = _errors(f"model M {{ input x: [B, {dim}] y = x -> ReLU output y }}")
    assert len(errs) == 1 and errs[0][1] == "invalid-input" and needle in errs[0][2], errs


def test_constants_and_bindings_in_a_symbolic_size():
    src = "const S = 4\nmodel M { input x: [B, 3, S * 2 * h + 1] y = x -> Conv1d(2, 3, stride=2) output y }"
    comp = compile_source(src)
    assert comp.ok, comp.diagnostics
    assert str(comp.program.type_of(comp.program.outputs[0][1]).shape[2]) == "4*h"
    bound = compile_source(src, bindings={"h": 2})
    assert bound.ok and bound.program.type_of(bound.program.outputs[0][1]).shape[2] == 8


def test_a_mask_with_a_symbolic_first_dim_is_not_the_batch():
    """[T, T] beside [B, T, 16]: the batch is B (the first dim of most inputs), so the summary keeps
    T in the MACs and example_inputs() sizes the mask by T, not by the batch size."""
    pytest.importorskip("torch")
    comp = compile_source("""model M {
    input x: [B, T, 16]
    input causal: bool[T, T]
    y = MultiheadAttention(x, x, x, 2, attn_mask=causal)
    output y
}
""")
    assert comp.ok, [str(d) for d in comp.diagnostics]
    assert comp.program.batch_symbol == "B"
    assert "T" in str(comp.summary().total_macs)
    ns = {}
    exec(comp.python_source(), ns)  # noqa: S102 - the generated module
    x, mask = ns["example_inputs"](3, T=5)
    assert tuple(x.shape) == (3, 5, 16) and tuple(mask.shape) == (5, 5)
    assert tuple(ns["MODEL"]()(x, mask).shape) == (3, 5, 16)
