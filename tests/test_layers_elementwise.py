"""Activations, normalization, Bilinear, reshaping, resampling and padding at their edges.

bool inputs (which the fuzz harness cannot draw), symbolic dims, the one
deliberate difference from torch (padding may not crop a dim to 0), sizes the
module does not use, and the diagnostics a .model file gets.
"""

import warnings

import pytest

torch = pytest.importorskip("torch")

from graphc.api import compile_source  # noqa: E402
from graphc.layers.base import ShapeError, TensorType, load_all  # noqa: E402
from graphc.shapes import Sym  # noqa: E402

REG = load_all()
KINDS = ["ReLU", "ReLU6", "Hardtanh", "Tanh", "Sigmoid", "GELU", "LeakyReLU", "PReLU", "ELU", "SELU", "SiLU",
         "Mish", "LogSigmoid", "Softplus", "Hardsigmoid", "Hardswish", "Softmax", "LogSoftmax", "Dropout",
         "Dropout2d", "Identity", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d",
         "LayerNorm", "GroupNorm", "Flatten", "Unflatten", "Upsample", "PixelShuffle", "PixelUnshuffle",
         "ZeroPad2d", "ReflectionPad2d"]
B, H, T = Sym("B"), Sym("H"), Sym("T")


def graphc_run(kind, params, shapes, dtype="float32"):
    """Output shapes and dtype, or the ShapeError code."""
    layer = REG[kind]
    p = layer.Params.model_validate(params)
    if layer.needs_float and dtype not in ("float16", "bfloat16", "float32", "float64"):
        return "dtype"
    try:
        outs = layer.infer(p, [TensorType(tuple(s), dtype) for s in shapes])
    except ShapeError as e:
        return e.code
    return [(o.shape, o.dtype) for o in outs]


def torch_run(kind, ctor, shapes, dtype):
    module = getattr(torch.nn, REG[kind].torch_name[3:])(**ctor).train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = module(*[torch.ones(s, dtype=getattr(torch, dtype)) for s in shapes])
    return [(tuple(out.shape), str(out.dtype)[6:])]


BOOL_CASES = [(kind, i) for kind in KINDS for i in range(min(2, len(REG[kind].samples)))]


@pytest.mark.parametrize("kind,i", BOOL_CASES, ids=[f"{k}-{i}" for k, i in BOOL_CASES])
def test_bool_inputs_agree_with_torch(kind, i):
    s = REG[kind].samples[i]
    p = REG[kind].Params.model_validate(s.params)
    ins = [TensorType(tuple(x), "bool") for x in s.inputs]
    got = graphc_run(kind, s.params, s.inputs, "bool")
    try:
        want = torch_run(kind, REG[kind].ctor(p, ins), s.inputs, "bool")
    except Exception:  # noqa: BLE001 - any torch error is a rejection
        want = None
    assert (got if isinstance(got, list) else None) == want


SYMBOLIC = [
    ("Upsample", {"scale_factor": 2.0}, [(B, 3, H, 5)], (B, 3, H * 2, 10)),
    ("Upsample", {"size": (4, 6), "mode": "bilinear"}, [(B, 3, H, T)], (B, 3, 4, 6)),
    ("Upsample", {"scale_factor": 1.5}, [(B, 3, H, 8)], (B, 3, (H * 3) // 2, 12)),  # a binary-exact scale
    ("PixelShuffle", {"upscale_factor": 2}, [(B, 8, H, T)], (B, 2, H * 2, T * 2)),
    ("PixelShuffle", {"upscale_factor": 2}, [(B, T, 4, 4)], "shape-symbolic"),
    ("PixelUnshuffle", {"downscale_factor": 2}, [(B, 3, H * 2, 4)], (B, 12, H, 2)),
    ("PixelUnshuffle", {"downscale_factor": 2}, [(B, 3, H, 4)], "shape-symbolic"),
    ("Unflatten", {"dim": 1, "unflattened_size": (-1, 4)}, [(B, T * 4)], (B, T, 4)),
    ("Unflatten", {"dim": 0, "unflattened_size": (-1,)}, [(B, 3)], (B, 3)),
    ("Unflatten", {"dim": 1, "unflattened_size": (2, 3)}, [(B, T)], "shape-symbolic"),
    ("ZeroPad2d", {"padding": (1, 2, 0, -1)}, [(B, 3, H, 5)], (B, 3, H - 1, 8)),
    ("ReflectionPad2d", {"padding": 2}, [(3, H, T)], (3, H + 4, T + 4)),
    ("BatchNorm1d", {}, [(B, 3)], (B, 3)),
    ("BatchNorm1d", {}, [(B, T)], "shape-symbolic"),
    ("InstanceNorm1d", {}, [(B, 3, T)], (B, 3, T)),
    ("InstanceNorm1d", {"num_features": 4}, [(B, T, 5)], (B, T, 5)),  # unused by the module
    ("GroupNorm", {"num_groups": 4}, [(B, 4)], (B, 4)),
    ("LayerNorm", {}, [(B, T, 8)], (B, T, 8)),
    ("LayerNorm", {"normalized_shape": (4, 8)}, [(B, T, 8)], "shape-symbolic"),
    ("PReLU", {"num_parameters": 3}, [(B, T, 5)], "shape-symbolic"),
    ("PReLU", {}, [(B, T, 5)], (B, T, 5)),
    ("Bilinear", {"out_features": 2}, [(B, T, 3), (B, T, 4)], (B, T, 2)),
    ("Bilinear", {"out_features": 2}, [(B, 3), (T, 4)], "shape-mismatch"),
]


@pytest.mark.parametrize("kind,params,shapes,want", SYMBOLIC, ids=[f"{c[0]}-{i}" for i, c in enumerate(SYMBOLIC)])
def test_symbolic_dims(kind, params, shapes, want):
    got = graphc_run(kind, params, shapes)
    assert (got if isinstance(got, str) else got[0][0]) == want


@pytest.mark.parametrize("kind,padding,shape", [
    ("ZeroPad2d", -1, (1, 1, 2, 2)),
    ("ZeroPad2d", (-2, 0, 1, 1), (1, 1, 2, 2)),
    ("ReflectionPad2d", (-2, -1, 0, 0), (1, 1, 3, 3)),
])
def test_padding_to_an_empty_dim_is_rejected_although_torch_allows_it(kind, padding, shape):
    """graphc keeps every dim >= 1, as its input declarations do."""
    assert 0 in torch_run(kind, {"padding": padding}, [shape], "float32")[0][0]
    assert graphc_run(kind, {"padding": padding}, [shape]) == "shape-nonpositive"


@pytest.mark.parametrize("kind,params,shape", [
    ("InstanceNorm2d", {"num_features": 5}, (2, 3, 4, 4)),
    ("InstanceNorm1d", {"num_features": 2, "bias": False}, (3, 4)),
    ("BatchNorm1d", {"num_features": 5, "affine": False, "track_running_stats": False}, (2, 3)),
])
def test_num_features_the_module_does_not_use_may_differ(kind, params, shape):
    layer = REG[kind]
    p = layer.Params.model_validate(params)
    ins = [TensorType(shape)]
    assert layer.infer(p, ins)[0].shape == shape
    assert layer.ctor(p, ins)["num_features"] == params["num_features"]  # emitted as written
    torch_run(kind, layer.ctor(p, ins), [shape], "float32")
    for used in ({"affine": True}, {"track_running_stats": True}):
        assert graphc_run(kind, {**params, **used}, [shape]) == "shape-mismatch"
        with pytest.raises((ValueError, RuntimeError)):
            torch_run(kind, {**layer.ctor(p, ins), **used}, [shape], "float32")


def _diagnostics(body: str, inputs: str = "input x: [B, 3, 8, 8]"):
    comp = compile_source(f"model M {{\n    {inputs}\n    y = {body}\n    output y\n}}\n", "t.model")
    return [(d.code, d.span.col, d.message) for d in comp.diagnostics]


@pytest.mark.parametrize("body,code,at,words", [
    ("x -> Hardtanh(1.0, 0.5)", "invalid-argument", "0.5", "max_val=0.5 must be greater than min_val=1"),
    ("x -> Upsample(scale_factor=2, align_corners=true)", "invalid-argument", "true", "interpolating modes"),
    ("x -> Upsample(size=4, scale_factor=2)", "invalid-argument", "4", "exactly one of size and scale_factor"),
    ("x -> Upsample(scale_factor=2, mode=\"linear\")", "shape-rank", "Upsample",
     "3-d input (N, C, W) for mode='linear'"),
    ("x -> LayerNorm((3, 8))", "shape-mismatch", "(3, 8)", "normalized_shape=(3, 8) must equal the input's last 2"),
    ("x -> GroupNorm(2)", "shape-mismatch", "2", "num_channels 3 is not divisible by num_groups=2"),
    ("x -> PixelShuffle(2)", "shape-mismatch", "2", "is 3, which is not divisible by 4"),
    ("x -> ReflectionPad2d(8)", "shape-mismatch", "8", "padding 8 must be less than the input height 8"),
    ("x -> Unflatten(1, (-1, -1))", "invalid-argument", "(-1, -1)", "only one size may be -1"),
    ("x -> PReLU(4)", "shape-mismatch", "4", "must be 1 or the channel count"),
    ("x -> Upsample(scale_factor=0.5, mode=\"bicubic\") -> ZeroPad2d((0, 0, -4, 0))", "shape-nonpositive",
     "ZeroPad2d", "output height would be 0: input height 4 + padding -4 + 0"),
])
def test_diagnostics(body, code, at, words):
    got = _diagnostics(body)
    assert len(got) == 1 and got[0][0] == code and words in got[0][2], got
    assert got[0][1] == len("    y = ") + body.index(at) + 1, got


def test_single_values_per_channel():
    assert [d[0] for d in _diagnostics("x -> Flatten -> BatchNorm1d", "input x: [1, 3]")] == ["shape-mismatch"]
    assert _diagnostics("x -> Flatten -> BatchNorm1d", "input x: [B, 3]") == []
    assert "more than 1 value per group" in _diagnostics("x -> GroupNorm(3)", "input x: [1, 3, 1]")[0][2]


def test_dtype_diagnostics():
    assert [d[0] for d in _diagnostics("ids -> Dropout(0.5)", "input ids: long[B, 4]")] == ["dtype"]
    assert _diagnostics("ids -> Dropout(0.0) -> ReLU -> Hardtanh(0.0, 3.0)", "input ids: long[B, 4]") == []
    assert [d[0] for d in _diagnostics("m -> ReLU", "input m: bool[B, 4]")] == ["dtype"]
    assert [d[0] for d in _diagnostics("Bilinear(x, h, 2)", "input x: [B, 3]\n    input h: double[B, 4]")] \
        == ["dtype"]


def test_explain_lines():
    def explain(kind, params, shape):
        layer = REG[kind]
        p = layer.Params.model_validate(params)
        ins = [TensorType(shape)]
        return layer.explain(p, ins, layer.infer(p, ins))

    assert explain("Upsample", {"scale_factor": (1.5, 2.0), "mode": "bilinear"}, (1, 3, 5, 4)) == \
        ["H_out = floor(5 × 1.5) = 7", "W_out = floor(4 × 2) = 8"]
    assert explain("Upsample", {"size": 3}, (1, 3, 5)) == []
    assert explain("PixelShuffle", {"upscale_factor": 2}, (1, 8, 3, 4)) == \
        ["C_out = 8 / 2² = 2", "H_out = 3 × 2 = 6", "W_out = 4 × 2 = 8"]
    assert explain("PixelUnshuffle", {"downscale_factor": 2}, (1, 3, 4, 6)) == \
        ["C_out = 3 × 2² = 12", "H_out = 4 / 2 = 2", "W_out = 6 / 2 = 3"]
    assert explain("ZeroPad2d", {"padding": (1, -2, 0, 3)}, (2, 5, 4)) == \
        ["H_out = 5 + 0 + 3 = 8", "W_out = 4 + 1 + -2 = 3"]
