"""Convolutions, transposed convolutions and pooling in 1, 2 and 3 dims: the rules that
the samples and the fuzzing do not show by themselves (messages, explain lines,
symbolic sizes, torch's special cases), each checked against torch where it can be."""

import pytest

torch = pytest.importorskip("torch")

from graphc.layers.base import ShapeError, TensorType, load_all  # noqa: E402
from graphc.shapes import Sym, substitute  # noqa: E402

REG = load_all()


def run(kind, params, *shapes, dtype="float32"):
    layer = REG[kind]
    p = layer.Params.model_validate(params)
    ins = [TensorType(tuple(s), dtype) for s in shapes]
    return layer, p, ins, layer.infer(p, ins)


def error(kind, params, *shapes, dtype="float32") -> ShapeError:
    with pytest.raises(ShapeError) as e:
        run(kind, params, *shapes, dtype=dtype)
    return e.value


def torch_shapes(kind, params, shape):
    layer, p, ins, _ = run(kind, params, shape)
    out = getattr(torch.nn, kind)(**layer.ctor(p, ins))(torch.randn(shape))
    return [tuple(o.shape) for o in (out if isinstance(out, tuple) else (out,))]


def test_explain_conv_and_transposed():
    layer, p, ins, outs = run("Conv2d", {"out_channels": 6, "kernel_size": 5}, (1, 1, 32, 32))
    assert layer.explain(p, ins, outs) == [f"{a}_out = floor((32 + 2·0 − 1·(5−1) − 1)/1) + 1 = 28" for a in "HW"]
    layer, p, ins, outs = run("Conv1d", {"out_channels": 2, "kernel_size": 3, "padding": "same"}, (1, 2, 7))
    assert layer.explain(p, ins, outs) == ["L_out = 7 (padding='same' keeps the size)"]
    layer, p, ins, outs = run("ConvTranspose3d", {"out_channels": 2, "kernel_size": (1, 3, 2), "stride": 2,
                                                  "padding": (0, 1, 0), "output_padding": (1, 0, 0)},
                              (1, 1, 4, 5, 6))
    assert layer.explain(p, ins, outs) == [
        "D_out = (4 − 1)·2 − 2·0 + 1·(1−1) + 1 + 1 = 8",
        "H_out = (5 − 1)·2 − 2·1 + 1·(3−1) + 0 + 1 = 9",
        "W_out = (6 − 1)·2 − 2·0 + 1·(2−1) + 0 + 1 = 12",
    ]
    assert outs[0].shape == (1, 2, 8, 9, 12) == torch_shapes("ConvTranspose3d", p.model_dump(), (1, 1, 4, 5, 6))[0]


def test_explain_pooling_names_ceil_and_the_last_window_rule():
    layer, p, ins, outs = run("MaxPool1d", {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True},
                              (1, 1, 5))
    assert layer.explain(p, ins, outs) == [
        "L_out = ceil((5 + 2·1 − 1·(2−1) − 1)/2) + 1 − 1 = 3 "
        "(the last window would start in the right padding, so it is dropped)"]
    assert torch_shapes("MaxPool1d", p.model_dump(), (1, 1, 5)) == [(1, 1, 3)]
    layer, p, ins, outs = run("AvgPool3d", {"kernel_size": (1, 3, 2), "stride": 2}, (1, 2, 3, 7, 4))
    assert layer.explain(p, ins, outs) == ["D_out = floor((3 + 2·0 − 1)/2) + 1 = 2",
                                           "H_out = floor((7 + 2·0 − 3)/2) + 1 = 3",
                                           "W_out = floor((4 + 2·0 − 2)/2) + 1 = 2"]
    layer, p, ins, outs = run("AdaptiveMaxPool2d", {"output_size": (None, 3)}, (2, 5, 4))
    assert layer.explain(p, ins, outs) == ["H_out = 5 (none in output_size keeps the input size)", "W_out = 3 (output_size)"]


def test_explain_shows_symbolic_sizes_as_text():
    H = Sym("H")
    layer, p, ins, outs = run("Conv2d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
                              (Sym("B"), 3, H, 8))
    line = layer.explain(p, ins, outs)[0]
    assert line == f"H_out = floor((H + 2·1 − 1·(3−1) − 1)/2) + 1 = {outs[0].shape[2]}"
    layer, p, ins, outs = run("ConvTranspose1d", {"out_channels": 2, "kernel_size": 4, "stride": 2}, (1, outs[0].shape[2]))
    assert layer.explain(p, ins, outs)[0].startswith("L_out = (floor((H - 1)/2) + 1 − 1)·2 − 2·0")


def test_symbolic_transposed_size_agrees_with_torch():
    T = Sym("T")
    params = {"out_channels": 1, "kernel_size": 3, "stride": 3, "padding": 1, "output_padding": 2, "dilation": 2}
    out = run("ConvTranspose1d", params, (1, 1, T))[3][0].shape[-1]
    for t in range(1, 9):
        assert substitute(out, {"T": t}) == torch_shapes("ConvTranspose1d", params, (1, 1, t))[0][-1]


def test_messages_carry_the_numbers_and_a_fix():
    e = error("Conv1d", {"out_channels": 2, "kernel_size": 5, "dilation": 2}, (1, 3, 6))
    assert (e.code, e.message, e.hint) == (
        "shape-nonpositive", "output length would be -2: input length 6 + 2×padding 0 is smaller than "
        "the effective kernel 9 (kernel 5, dilation 2)", "use a smaller kernel or add padding=2")
    e = error("Conv3d", {"out_channels": 2, "kernel_size": 1}, (3, 4, 4, 4, 4, 1))
    assert e.message == "expects a 4-d or 5-d input (N, C, D, H, W), got 6-d (3, 4, 4, 4, 4, 1)"
    e = error("ConvTranspose2d", {"out_channels": 2, "kernel_size": 3, "stride": 2, "output_padding": (0, 2)},
              (1, 1, 4, 4))
    assert (e.arg, e.message, e.hint) == (
        "output_padding", "output_padding 2 (width) must be smaller than either stride 2 or dilation 1",
        "use output_padding < 2")
    e = error("ConvTranspose1d", {"out_channels": 2, "kernel_size": 2, "padding": 2}, (1, 1, 2))
    assert e.code == "shape-nonpositive" and e.hint == "use padding <= 1"
    e = error("ConvTranspose1d", {"out_channels": 4, "kernel_size": 2, "groups": 2}, (1, 3, 2))
    assert e.message == "in_channels 3 is not divisible by groups=2"
    e = error("AvgPool3d", {"kernel_size": (1, 3, 3), "padding": (0, 1, 1)}, (1, 1, 4, 2, 5))
    assert e.message == "input height 2 is smaller than the kernel 3 (AvgPool3d does not count the padding here)"
    e = error("MaxPool3d", {"kernel_size": 3, "padding": (0, 2, 0)}, (1, 1, 4, 4, 4))
    assert (e.arg, e.hint) == ("padding", "use padding <= 1")


@pytest.mark.parametrize("kind,params,shape,dtype", [
    ("MaxPool3d", {"kernel_size": 2}, (1, 4, 4, 4), "bool"),
    ("AvgPool2d", {"kernel_size": 2}, (1, 4, 4), "int32"),
    ("AvgPool3d", {"kernel_size": 2}, (1, 4, 4, 4), "bfloat16"),
])
def test_dtype_errors_where_torch_has_no_kernel(kind, params, shape, dtype):
    assert error(kind, params, shape, dtype=dtype).code == "dtype"
    module, tdt = getattr(torch.nn, kind)(**params), getattr(torch, dtype)
    with pytest.raises(RuntimeError):
        (module.to(tdt) if tdt.is_floating_point else module)(torch.ones(shape, dtype=tdt))


def test_integer_pooling_where_torch_has_a_kernel():
    assert run("MaxPool2d", {"kernel_size": 2}, (1, 4, 4), dtype="int32")[3] == [TensorType((1, 2, 2), "int32")]
    assert run("AvgPool3d", {"kernel_size": 2}, (1, 4, 4, 4), dtype="int64")[3][0].dtype == "int64"
    assert REG["MaxPool1d"].needs_float and not REG["MaxPool2d"].needs_float


@pytest.mark.parametrize("kind,params,shape", [
    ("AdaptiveAvgPool2d", {"output_size": 1}, (5, 6)),                  # a mean: any rank >= 2
    ("AdaptiveAvgPool2d", {"output_size": (1, None)}, (2, 3, 4, 5, 1)),  # resolves to (1, 1)
    ("AdaptiveAvgPool2d", {"output_size": (1, 1)}, (5, 6)),             # a tuple needs rank >= 3
    ("AdaptiveAvgPool2d", {"output_size": (1, None)}, (2, 3, 4, 5, 2)),
    ("AdaptiveAvgPool3d", {"output_size": 1}, (2, 3, 4, 5, 6, 7)),
    ("AdaptiveMaxPool2d", {"output_size": 1}, (2, 3, 4, 5, 6)),
    ("AdaptiveAvgPool1d", {"output_size": 1}, (2, 3, 4, 5)),
])
def test_adaptive_ranks_follow_torchs_mean_shortcut(kind, params, shape):
    try:
        want = tuple(getattr(torch.nn, kind)(**params)(torch.randn(shape)).shape)
    except (RuntimeError, ValueError):
        want = None
    try:
        got = run(kind, params, shape)[3][0].shape
    except ShapeError:
        got = None
    assert got == want


def test_replicate_padding_may_exceed_the_input_reflect_may_not():
    assert run("Conv1d", {"out_channels": 1, "kernel_size": 1, "padding": 4, "padding_mode": "replicate"},
               (1, 1, 2))[3][0].shape == (1, 1, 10)
    e = error("Conv1d", {"out_channels": 1, "kernel_size": 1, "padding": 2, "padding_mode": "reflect"}, (1, 1, 2))
    assert e.message == "padding_mode='reflect' with padding 2 needs input length > 2, got 2"


def test_a_model_of_every_dimensionality_compiles_and_runs():
    from graphc.api import compile_source

    comp = compile_source("""model M {
    input s: [B, 2, 12]
    input v: [B, 1, 4, 6, 6]
    q = s -> Conv1d(4, 3, padding="same") -> MaxPool1d(2, stride=2, padding=1, ceil_mode=true)
          -> ConvTranspose1d(2, 4, stride=2) -> AdaptiveMaxPool1d(3)
    w = v -> Conv3d(2, (1, 3, 3)) -> AvgPool3d(2, padding=1, ceil_mode=true)
          -> ConvTranspose3d(2, 2, stride=2) -> AdaptiveAvgPool3d((1, none, 2))
    output q, w
}
""")
    assert comp.ok, comp.diagnostics
    q, w = comp.to_module()(torch.randn(3, 2, 12), torch.randn(3, 1, 4, 6, 6))
    assert [tuple(q.shape), tuple(w.shape)] == [(3, 2, 3), (3, 2, 1, 6, 2)]
