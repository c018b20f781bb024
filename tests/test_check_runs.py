"""What `graphc check` accepts runs in torch, and what it refuses torch refuses or graphc documents
(issue 19): the 0-size rule, and slice, chunk and Upsample on symbolic sizes.  Each rule is proven
by running the same configuration in torch at many sizes."""

import warnings

import pytest

torch = pytest.importorskip("torch")

from graphc.api import compile_source  # noqa: E402
from graphc.shapes import Sym  # noqa: E402


def out_shapes(src: str):
    comp = compile_source(src, "t.model")
    if comp.errors:
        return [d.code for d in comp.errors], comp.errors
    prog = comp.program
    return [prog.type_of(ref).shape for _, ref in prog.outputs], []


def at(shape, **values):
    return tuple(d.substitute(values) if isinstance(d, Sym) else d for d in shape)


# ------------------------------------------------------------------ the 0-size rule
@pytest.mark.parametrize("after,run", [
    ("BatchNorm1d", lambda e: torch.nn.BatchNorm1d(0)(e)),
    ("LSTM(8)", lambda e: torch.nn.LSTM(0, 8, batch_first=True)(e.transpose(1, 2))),
    ("MaxPool1d(2)", lambda e: torch.nn.MaxPool1d(2)(e.transpose(1, 2))),
    ("Upsample(scale_factor=2.0)", lambda e: torch.nn.Upsample(scale_factor=2.0)(e.transpose(1, 2))),
    ("Conv1d(4, 1)", lambda e: torch.nn.Conv1d(0, 4, 1)(e)),
])
def test_a_slice_that_leaves_nothing_is_an_error_where_it_arises(after, run):
    src = f"model M {{\n    input x: [2, 3, 16]\n    y = x -> slice(1, 5) -> {after}\n    output y\n}}\n"
    codes, errs = out_shapes(src)
    assert codes == ["shape-nonpositive"]
    assert errs[0].span.line == 3 and errs[0].span.col == 14  # at the slice, not at the layer after it
    assert "(2, 0, 16)" in errs[0].message and "(2, 3, 16)" in errs[0].message and "[:, 5:]" in errs[0].message
    empty = torch.zeros(2, 3, 16)[:, 5:]  # torch makes the empty tensor without a word...
    assert empty.shape == (2, 0, 16)
    try:  # ...and the layer after it fails, or gives what no layer on 0 channels should
        out = run(empty)
    except Exception:
        return
    assert after.startswith("Conv1d") and out.shape == (2, 0, 16)  # not the (2, 4, 16) of 4 channels


def test_split_with_an_empty_piece_is_an_error():
    src = "model M {\n    input x: [2, 4, 3]\n    a, b = x -> split((0, 4), dim=1)\n    output b\n}\n"
    codes, errs = out_shapes(src)
    assert codes == ["shape-nonpositive"] and "output 0 (2, 0, 3)" in errs[0].message
    assert torch.split(torch.zeros(2, 4, 3), (0, 4), dim=1)[0].shape == (2, 0, 3)  # torch would make it


# ------------------------------------------------------------------ slice on a symbolic size
SLICES = ["2:", "1:", ":-1", "1:-1", "0:10", "-3:", "3:1", "::2", "1::3", "2:-2:2", "-1:", ":5", "5:"]


def _parse(spec):
    parts = [int(v) if v else None for v in spec.split(":")] + [None]
    return parts[0], parts[1], parts[2] or 1


@pytest.mark.parametrize("spec", SLICES)
def test_slice_of_a_symbolic_size_is_accepted_exactly_when_one_formula_gives_torchs_length(spec):
    start, end, step = _parse(spec)
    args = ", ".join("none" if v is None else str(v) for v in (start, end, step))
    src = f"model M {{\n    input x: [2, T]\n    y = x -> slice(1, {args})\n    output y\n}}\n"
    got, errs = out_shapes(src)
    lengths = {t: torch.zeros(2, t)[:, start:end:step].shape[1] for t in range(1, 40)}
    if errs:  # refused: the 0-size rule (always empty) or a length that depends on T where non-empty
        nonempty = {t: n for t, n in lengths.items() if n}
        assert got in (["shape-nonpositive"], ["shape-symbolic"])
        if got == ["shape-nonpositive"]:
            assert not nonempty
        else:  # the length at large T (no bound clamps) is not the length at some smaller valid T
            def unclamped(t):
                s0 = 0 if start is None else start if start >= 0 else t + start
                e0 = t if end is None else end if end >= 0 else t + end
                return -((s0 - e0) // step)
            assert any(n != unclamped(t) for t, n in nonempty.items()) or not lengths[39]
        return
    (shape,) = got
    for t, n in lengths.items():
        if n:  # every T the slice is valid for (non-empty) gets graphc's formula
            assert at(shape, T=t) == (2, n), (spec, t)
    assert lengths[39] > 0  # the formula never shrinks to nothing as T grows


def test_slice_two_on_T_is_T_minus_2():
    (shape,), _ = out_shapes("model M {\n    input x: [B, T]\n    y = x -> slice(1, 2)\n    output y\n}\n")
    assert str(shape[1]) == "T - 2"


# ------------------------------------------------------------------ chunk on a symbolic size
def test_chunk_in_two_of_a_symbolic_size_is_torchs_for_every_size_it_is_valid_for():
    src = "model M {\n    input x: [2, T]\n    a, b = x -> chunk(2, dim=1)\n    output a, b\n}\n"
    (sa, sb), errs = out_shapes(src)
    assert not errs
    for t in range(2, 40):
        a, b = torch.chunk(torch.zeros(2, t), 2, dim=1)
        assert (at(sa, T=t), at(sb, T=t)) == (tuple(a.shape), tuple(b.shape))
    assert len(torch.chunk(torch.zeros(2, 1), 2, dim=1)) == 1  # T = 1: the second piece is empty


@pytest.mark.parametrize("k", [3, 4, 7])
def test_chunk_in_more_pieces_of_a_symbolic_size_is_refused_as_the_count_depends_on_it(k):
    names = ", ".join(f"p{i}" for i in range(k))
    src = f"model M {{\n    input x: [2, T]\n    {names} = x -> chunk({k}, dim=1)\n    output p0\n}}\n"
    codes, errs = out_shapes(src)
    assert codes == ["shape-symbolic"]
    counts = {len(torch.chunk(torch.zeros(1, t), k, dim=1)) for t in range(k, 3 * k)}
    assert k in counts and len(counts) > 1  # torch: the count depends on T, even for T >= k
    assert f"{k} gives {k}, {k + 1} gives {len(torch.chunk(torch.zeros(1, k + 1), k, dim=1))}" in errs[0].message


# ------------------------------------------------------------------ Upsample on a symbolic size
@pytest.mark.parametrize("scale", [1.5, 0.5, 2.25, 0.75, 1.125])
def test_upsample_by_an_exact_fraction_of_a_symbolic_size_is_torchs(scale):
    src = (f"model M {{\n    input x: [1, 1, H, 3]\n    y = x -> Upsample(scale_factor={scale})\n"
           f"    output y\n}}\n")
    (shape,), errs = out_shapes(src)
    assert not errs
    for h in list(range(2, 60)) + [1001, 4097, 12345]:
        want = torch.nn.Upsample(scale_factor=scale)(torch.zeros(1, 1, h, 3)).shape
        if want[2] > 0:
            assert at(shape, H=h) == tuple(want), (scale, h)


def test_upsample_by_a_scale_not_exact_in_binary_needs_a_concrete_size():
    src = "model M {\n    input x: [1, 1, H, 3]\n    y = x -> Upsample(scale_factor=0.7)\n    output y\n}\n"
    assert out_shapes(src)[0] == ["shape-symbolic"]
    # torch multiplies in double: 10 × 0.7 rounds up to 7, though 10 × 7/10 rounded down would be 6 for
    # the exact value of the double 0.7 (no formula in H gives torch's sizes)
    h = 10
    assert torch.nn.Upsample(scale_factor=0.7)(torch.zeros(1, 1, h, 3)).shape[2] == 7
    from fractions import Fraction
    assert h * Fraction(0.7).numerator // Fraction(0.7).denominator == 6


# ------------------------------------------------------------------ the deliberate rule
def test_instance_norm_without_affine_on_symbolic_channels_needs_a_number():
    """torch's constructor needs num_features even where it is unused, and warns when the input's
    channels differ: graphc does not invent one (documented in docs/language.md)."""
    src = "model M {\n    input x: [B, C, 10]\n    y = x -> InstanceNorm1d\n    output y\n}\n"
    codes, errs = out_shapes(src)
    assert codes == ["shape-symbolic"] and "num_features=N" in errs[0].hint
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        torch.nn.InstanceNorm1d(4)(torch.zeros(2, 7, 10))
    assert any("does not match num_features" in str(x.message) for x in w)
    src2 = "model M {\n    input x: [B, C, 10]\n    y = x -> InstanceNorm1d(num_features=4)\n    output y\n}\n"
    assert out_shapes(src2)[1] == []
