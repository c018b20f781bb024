"""The tensor operations beyond what the registry test and the fuzzing cover: mixed element
types (bool included) against torch, symbolic dims, and whole models that use them."""

import itertools

import pytest

torch = pytest.importorskip("torch")

from graphc.api import compile_source  # noqa: E402
from graphc.layers.base import ShapeError, TensorType, load_all  # noqa: E402
from graphc.shapes import Sym, shape_str  # noqa: E402

REG = load_all()
DTYPES = ["bool", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


def graphc_result(kind, params, ins):
    layer = REG[kind]
    p = layer.Params.model_validate(params)
    try:
        if layer.needs_float and any(not t.dtype.startswith(("float", "bfloat")) for t in ins):
            raise ShapeError("needs float")
        return [(tuple(o.shape), o.dtype) for o in layer.infer(p, ins)]
    except ShapeError:
        return "error"


def torch_result(kind, params, shapes, dtypes):
    layer = REG[kind]
    tensors = [torch.zeros(s, dtype=getattr(torch, d)) for s, d in zip(shapes, dtypes)]
    names = [f"t{i}" for i in range(len(tensors))]
    try:
        out = eval(layer.forward(layer.Params.model_validate(params), None, names), {"torch": torch},
                   dict(zip(names, tensors)))
    except Exception:
        return "error"
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [(tuple(o.shape), str(o.dtype).removeprefix("torch.")) for o in outs]


@pytest.mark.parametrize("kind,params", [("add", {}), ("sub", {}), ("mul", {}), ("matmul", {}),
                                         ("stack", {}), ("concat", {"dim": 0})])
def test_two_dtypes_as_torch(kind, params):
    """Every pair of element types, with and without 0-d operands (torch's category rule)."""
    shapes = [((3,), (3,)), ((3,), ()), ((), (3,)), ((), ()), ((1,), (3,))]  # no empty tensor: the 0-size rule
    for (a, b), (da, db) in itertools.product(shapes, itertools.product(DTYPES, repeat=2)):
        ins = [TensorType(a, da), TensorType(b, db)]
        want = torch_result(kind, params, [a, b], [da, db])
        assert graphc_result(kind, params, ins) == want, (kind, a, b, da, db)


@pytest.mark.parametrize("kind,params", [("sum", {"dim": 1}), ("mean", {"dim": 1}), ("amax", {}),
                                         ("max", {"dim": 0}), ("squeeze", {}), ("reshape", {"shape": -1}),
                                         ("slice", {"dim": 1, "start": 1}), ("chunk", {"chunks": 2})])
@pytest.mark.parametrize("dtype", DTYPES)
def test_one_dtype_as_torch(kind, params, dtype):
    shape = (2, 3)
    want = torch_result(kind, params, [shape], [dtype])
    assert graphc_result(kind, params, [TensorType(shape, dtype)]) == want


B, T, H = Sym("B"), Sym("T"), Sym("H")


@pytest.mark.parametrize("kind,params,shapes,want", [
    ("reshape", {"shape": (-1, 8, 8)}, [(B, T, 64)], ["(B, T, 8, 8)"]),
    ("reshape", {"shape": (-1, 4)}, [(B, T, 4, H)], ["(B, H*T, 4)"]),
    ("view", {"shape": (-1,)}, [(B, T, 8)], ["(B, 8*T)"]),
    ("reshape", {"shape": (-1, 128)}, [(B, T, 64)], "shape-symbolic"),
    ("reshape", {"shape": (4, 16)}, [(B, T, 64)], "shape-symbolic"),
    ("reshape", {"shape": (5, -1)}, [(B, 4, 8)], "shape-mismatch"),
    ("permute", {"dims": (0, 2, 1)}, [(B, T, 8)], ["(B, 8, T)"]),
    ("squeeze", {"dim": 1}, [(B, 1, T)], ["(B, T)"]),
    ("squeeze", {"dim": 2}, [(B, 1, T)], "shape-symbolic"),
    ("squeeze", {}, [(B, 1, 3)], "shape-symbolic"),
    ("chunk", {"chunks": 2, "dim": 1}, [(B, T * 4)], ["(B, 2*T)", "(B, 2*T)"]),
    ("chunk", {"chunks": 3, "dim": 1}, [(B, T * 4)], "shape-symbolic"),
    ("split", {"split_size_or_sections": 2, "dim": 1}, [(B, T)], "shape-symbolic"),
    ("split", {"split_size_or_sections": (1, 3), "dim": 2}, [(B, T, 4)], ["(B, T, 1)", "(B, T, 3)"]),
    ("slice", {"dim": 1, "start": 1}, [(B, T, 8)], ["(B, T - 1, 8)"]),
    ("slice", {"dim": 1, "end": -1}, [(B, T)], ["(B, T - 1)"]),
    ("slice", {"dim": 1, "step": 2}, [(B, T)], ["(B, ceil(T/2))"]),
    ("slice", {"dim": 1, "start": -1}, [(B, T)], ["(B, 1)"]),
    ("slice", {"dim": 1, "start": 1, "end": -1}, [(B, T)], ["(B, T - 2)"]),  # for T > 2: the 0-size rule
    ("slice", {"dim": 1, "start": 0, "end": 10}, [(B, T)], "shape-symbolic"),
    ("matmul", {}, [(B, T, 8), (8, T)], ["(B, T, T)"]),
    ("matmul", {}, [(B, T, 8), (B, 4, T)], "shape-mismatch"),
    ("sum", {"dim": (1, -1), "keepdim": True}, [(B, T, 8)], ["(B, 1, 1)"]),
    ("stack", {"dim": -1}, [(B, T), (B, T)], ["(B, T, 2)"]),
    ("stack", {}, [(B, T), (B, H)], "shape-mismatch"),
])
def test_symbolic_dims(kind, params, shapes, want):
    layer = REG[kind]
    p = layer.Params.model_validate(params)
    ins = [TensorType(s) for s in shapes]
    if isinstance(want, str):
        with pytest.raises(ShapeError) as e:
            layer.infer(p, ins)
        assert e.value.code == want
    else:
        assert [shape_str(o.shape) for o in layer.infer(p, ins)] == want


def test_varargs_and_tuple_are_one_argument():
    def shapes(step):
        comp = compile_source(f"model M {{\n input x: [B, 4, 8]\n y = x -> {step}\n output y\n}}\n")
        assert comp.ok, comp.diagnostics
        return comp.summary().outputs[0]["shape"]

    assert shapes("reshape(16, -1)") == shapes("reshape((16, -1))") == "(B, 16, 2)"
    assert shapes("reshape(32)") == shapes("reshape(shape=32)") == "(B, 32)"
    assert shapes("permute(0, 2, 1)") == shapes("permute((0, 2, 1))") == "(B, 8, 4)"


MODEL = """
model Ops {
    input x: [B, 8, 6, 6]
    input s: [B, T, 64]
    a, b = x -> chunk(2, dim=1)
    c = sub(a, b)
    p, q, r = x -> split((2, 2, 4), dim=1)
    m = matmul(a, b)
    st = stack(p, q, dim=1)
    h = s -> reshape(-1, 8, 8) -> reshape((-1, 4, 16))
    t = s -> permute(0, 2, 1) -> transpose(1, 2) -> unsqueeze(1) -> squeeze(1)
    v = x -> view(16, -1)
    mu = s -> mean(dim=(1, 2), keepdim=true)
    sm = s -> sum(-1)
    mx = s -> max(dim=1)
    am = s -> amax((1, 2))
    sl = s -> slice(1, 1)
    sl2 = x -> slice(dim=-1, start=0, end=10, step=2)
    output c, p, r, m, st, h, t, v, mu, sm, mx, am, sl, sl2
}
"""


def _run(text, **sizes):
    comp = compile_source(text)
    assert comp.ok, comp.diagnostics
    module = comp.to_module()
    ns = {}
    exec(comp.python_source(), ns)
    out = module(*ns["example_inputs"](**sizes))
    return out if isinstance(out, tuple) else (out,)


def test_model_builds_and_runs():
    outs = _run(MODEL, batch_size=3, T=5)
    assert [tuple(o.shape) for o in outs] == [
        (3, 4, 6, 6), (3, 2, 6, 6), (3, 4, 6, 6), (3, 4, 6, 6), (3, 2, 2, 6, 6), (3, 5, 4, 16),
        (3, 5, 64), (3, 16, 18), (3, 1, 1), (3, 5), (3, 64), (3,), (3, 4, 64), (3, 8, 6, 3)]


def test_one_piece_chunk_is_a_tensor():
    comp = compile_source("model One {\n input x: [B, 1, 4]\n e = x -> chunk(2, dim=1)\n output e\n}\n")
    assert comp.ok, comp.diagnostics
    assert torch.is_tensor(comp.to_module()(torch.randn(2, 1, 4)))
