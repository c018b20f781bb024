"""Shape rules at their edges: invalid configurations, ceil_mode, symbolic dims.

Every case is decided by real torch: where torch raises, graphc must report
an error; where torch computes, graphc must infer the same size.
"""

import pytest

torch = pytest.importorskip("torch")

from graphc.layers.base import ShapeError, TensorType, load_all  # noqa: E402
from graphc.shapes import Sym, conv_out, pool_out, substitute  # noqa: E402

REG = load_all()

INVALID = [
    ("Conv2d", {"out_channels": 4, "kernel_size": 5}, [(1, 3, 4, 4)]),
    ("Conv2d", {"out_channels": 6, "kernel_size": 3, "groups": 3}, [(1, 4, 8, 8)]),
    ("Conv2d", {"out_channels": 4, "kernel_size": 3, "groups": 2}, [(1, 4, 8, 8)]),  # valid
    ("Conv2d", {"out_channels": 3, "kernel_size": 3, "groups": 2}, [(1, 4, 8, 8)]),
    ("Conv2d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": "same"}, [(1, 3, 8, 8)]),
    ("Conv2d", {"out_channels": 4, "kernel_size": 7, "padding": 3, "padding_mode": "reflect"}, [(1, 3, 3, 3)]),
    ("Conv2d", {"out_channels": 4, "kernel_size": 5, "padding": 2, "padding_mode": "reflect"}, [(1, 3, 3, 3)]),
    ("Conv2d", {"out_channels": 4, "kernel_size": 7, "padding": 3, "padding_mode": "circular"}, [(1, 3, 3, 3)]),
    ("Conv2d", {"out_channels": 4, "kernel_size": 3, "dilation": 4}, [(1, 3, 8, 8)]),
    ("Conv2d", {"out_channels": 4, "kernel_size": 3}, [(3, 8, 8, 8, 1)]),
    ("MaxPool2d", {"kernel_size": 3, "padding": 2}, [(1, 3, 8, 8)]),
    ("MaxPool2d", {"kernel_size": 3}, [(1, 3, 2, 2)]),
    ("MaxPool2d", {"kernel_size": 3, "dilation": 3}, [(1, 3, 6, 6)]),
    ("AvgPool2d", {"kernel_size": 4, "padding": 3}, [(1, 3, 8, 8)]),
    ("AvgPool2d", {"kernel_size": 5}, [(1, 3, 4, 9)]),
    ("BatchNorm2d", {}, [(4, 3)]),
    ("BatchNorm1d", {}, [(4, 3, 2, 2)]),
    ("Softmax", {"dim": 2}, [(4, 3)]),
    ("Flatten", {"start_dim": 3}, [(4, 3)]),
    ("Flatten", {"start_dim": 2, "end_dim": 1}, [(4, 3, 2)]),
    ("add", {}, [(2, 3), (2, 4)]),
    ("mul", {}, [(2, 3, 4), (3, 1, 5)]),
    ("concat", {"dim": 1}, [(2, 3, 4), (2, 3, 5)]),
    ("concat", {"dim": 1}, [(2, 3, 4), (2, 3)]),
    ("concat", {"dim": 3}, [(2, 3, 4), (2, 3, 4)]),
]


def _torch_ok(kind, params, shapes) -> tuple | None:
    layer = REG[kind]
    p = layer.Params.model_validate(params)
    tensors = [torch.randn(s) for s in shapes]
    try:
        if layer.torch_name is None:
            names = [f"t{i}" for i in range(len(tensors))]
            out = eval(layer.forward(p, None, names), {"torch": torch}, dict(zip(names, tensors)))
        else:
            kwargs = layer.ctor(p, [TensorType(tuple(s)) for s in shapes])
            out = getattr(torch.nn, layer.torch_name[3:])(**kwargs)(*tensors)
    except Exception:
        return None
    return tuple(out.shape)


@pytest.mark.parametrize("kind,params,shapes", INVALID, ids=[f"{c[0]}-{i}" for i, c in enumerate(INVALID)])
def test_graphc_errors_exactly_when_torch_does(kind, params, shapes):
    layer = REG[kind]
    p = layer.Params.model_validate(params)
    want = _torch_ok(kind, params, shapes)
    try:
        got = layer.infer(p, [TensorType(tuple(s)) for s in shapes])[0].shape
    except ShapeError:
        got = None
    assert got == want


@pytest.mark.parametrize("k,s,p,d,ceil", [
    (2, 2, 0, 1, False), (3, 2, 1, 1, False), (3, 2, 0, 1, True), (2, 2, 1, 1, True),
    (3, 3, 1, 2, True), (5, 2, 2, 1, True), (4, 3, 2, 1, True), (3, 1, 1, 1, False),
])
def test_pool_formula_matches_torch_over_sizes(k, s, p, d, ceil):
    for n in range(max(k, 2 * p + 1), 40):
        x = torch.zeros(1, 1, n, n)
        try:
            want = torch.nn.functional.max_pool2d(x, k, s, p, d, ceil_mode=ceil).shape[-1]
        except RuntimeError:
            want = None
        got = pool_out(n, k, s, p, d, ceil)
        assert (got if got >= 1 else None) == want, (n, k, s, p, d, ceil)


@pytest.mark.parametrize("k,s,p,d,ceil", [
    (2, 2, 0, 1, False), (3, 2, 1, 1, False), (3, 2, 0, 1, True), (2, 2, 1, 1, True),
    (3, 3, 1, 2, True), (5, 2, 2, 1, True), (4, 3, 2, 1, True), (1, 2, 0, 1, True),
    (2, 3, 1, 1, True), (3, 4, 1, 1, True),
])
def test_symbolic_pool_formula_matches_torch_once_bound(k, s, p, d, ceil):
    """The formula graphc keeps for a symbolic size gives torch's size for every value bound
    to it, ceil_mode's rule for a last window starting in the padding included."""
    sym = pool_out(Sym("H"), k, s, p, d, ceil)
    for n in range(max(k, 2 * p + 1), 40):
        want = torch.nn.functional.max_pool1d(torch.zeros(1, 1, n), k, s, p, d, ceil_mode=ceil).shape[-1]
        assert substitute(sym, {"H": n}) == want, (str(sym), n)


def test_symbolic_conv_and_pool_agree_with_concrete():
    H = Sym("H")
    conv = conv_out(H, kernel=5, stride=2, padding=1, dilation=1)
    pool = pool_out(conv, kernel=3, stride=2, padding=1)
    assert "H" in str(conv)
    for h in range(8, 40):
        x = torch.zeros(1, 1, h, h)
        y = torch.nn.functional.conv2d(x, torch.zeros(1, 1, 5, 5), stride=2, padding=1)
        z = torch.nn.functional.max_pool2d(y, 3, 2, 1)
        assert substitute(conv, {"H": h}) == y.shape[-1]
        assert substitute(pool, {"H": h}) == z.shape[-1]


def test_symbolic_batch_passes_through_without_sympy_arithmetic():
    B = Sym("B")
    out = REG["Linear"].infer(REG["Linear"].Params(out_features=3), [TensorType((B, 7))])[0]
    assert out.shape[0] == B and out.shape[1] == 3 and str(out.shape[0]) == "B"


def test_linear_after_symbolic_flatten_needs_a_concrete_size():
    H = Sym("H")
    flat = REG["Flatten"].infer(REG["Flatten"].Params(), [TensorType((Sym("B"), 3, H, H))])[0]
    with pytest.raises(ShapeError) as e:
        REG["Linear"].infer(REG["Linear"].Params(out_features=10), [flat])
    assert e.value.code == "shape-symbolic"
    assert "3*H^2" in e.value.message.replace(" ", "")


DTYPE_CASES = [(kind, dt) for kind in sorted(REG) for dt in ("int64", "float64", "bfloat16")]


@pytest.mark.parametrize("kind,dtype", DTYPE_CASES, ids=[f"{k}-{d}" for k, d in DTYPE_CASES])
def test_dtype_rules_agree_with_torch(kind, dtype):
    """Every layer's first sample with other element types: graphc errors exactly where torch
    raises, and otherwise infers torch's output dtype (float modules cast with .to(dtype), as
    .to() or autocast would).  Integer-only inputs (Embedding) are checked with float dtypes."""
    from tests.fuzz.harness import compare

    sample = REG[kind].samples[0]
    out = compare(kind, sample.params, list(sample.inputs), dtype)
    assert out.ok, str(out)
