"""Strategies for activations, dropout, normalization, Bilinear, reshaping, resampling and padding.

Besides valid configurations they draw integer dtypes into float-only layers,
wrong ranks, out-of-range dims, PReLU slopes that fit no channel count,
normalized_shape that misses the trailing dims, groups that do not divide the
channels, given sizes that disagree with the input, single values per channel
(torch's training-time error), unflattened sizes that do not multiply up,
Bilinear inputs whose leading dims differ, Upsample modes that do not fit the
rank, indivisible pixel-shuffle factors and paddings that crop too much.

bool inputs are left out: the harness draws its integer tensors with randint,
which torch refuses for bool; tests/test_layers_elementwise.py checks them.
"""

from hypothesis import strategies as st

small = st.integers(1, 3)  # size 1 often: single values per channel, broadcasting-like mistakes
dims = st.integers(1, 6)
dtypes = st.sampled_from(["float32"] * 4 + ["float64", "float16", "bfloat16", "int64", "int32"])
reals = st.floats(-3, 3, allow_nan=False).map(lambda v: round(v, 2)) | st.sampled_from([-1.0, 0.0, 1.0])


def shape(lo=0, hi=5, d=dims):
    return st.lists(d, min_size=lo, max_size=hi).map(tuple)


def ranked(ranks, d=dims):
    """A shape whose rank is drawn from ``ranks`` (repeat a rank to weight it)."""
    return st.sampled_from(ranks).flatmap(lambda r: shape(r, r, d))


def case(params, shapes, dtype=dtypes):
    """(params, [input shape, ...], dtype); ``shapes`` draws one shape or a list of them."""
    return st.tuples(params, shapes.map(lambda s: s if isinstance(s, list) else [s]), dtype)


def opt(**fields):
    return st.fixed_dictionaries({}, optional=fields)


def _sometimes(draw, right, wrong):
    """The right value mostly, another one now and then."""
    return draw(st.sampled_from([right] * 3 + [draw(wrong)]))


# ----------------------------------------------------------- activations
inplace = opt(inplace=st.booleans())
PLAIN = {kind: case(st.just({}), shape())
         for kind in ("Sigmoid", "Tanh", "LogSigmoid", "Identity")}
PLAIN.update({kind: case(inplace, shape())
              for kind in ("ReLU", "ReLU6", "SELU", "SiLU", "Mish", "Hardsigmoid", "Hardswish")})

probabilities = st.sampled_from([0.0, 1.0, 0.5]) | st.floats(0, 1)
ACTIVATIONS = {
    **PLAIN,
    "GELU": case(opt(approximate=st.sampled_from(["none", "tanh"])), shape()),
    "LeakyReLU": case(opt(negative_slope=reals, inplace=st.booleans()), shape()),
    "ELU": case(opt(alpha=reals, inplace=st.booleans()), shape()),
    "Softplus": case(opt(beta=reals, threshold=reals), shape()),
    "Hardtanh": case(opt(min_val=reals, max_val=reals, inplace=st.booleans()), shape()),
    "PReLU": case(opt(num_parameters=st.sampled_from([1, 1, 2, 3, 4]), init=reals), shape(d=small)),
    "Softmax": case(st.fixed_dictionaries({"dim": st.integers(-5, 4)}), shape(hi=4)),
    "LogSoftmax": case(st.fixed_dictionaries({"dim": st.integers(-5, 4)}), shape(hi=4)),
    "Dropout": case(opt(p=probabilities, inplace=st.booleans()), shape()),
    "Dropout2d": case(opt(p=probabilities, inplace=st.booleans()), shape()),
}


# -------------------------------------------------------- normalization
@st.composite
def feature_norm(draw, rank, unbatched: bool):
    """Batch or instance norm around its rank; num_features right, wrong or left out."""
    r = draw(st.sampled_from([rank] * 4 + ([rank - 1] * 2 if unbatched else []) + [rank - 2, rank + 1, 1]))
    s = draw(shape(max(r, 0), max(r, 0), st.integers(1, 4)))
    c_dim = 1 if not unbatched else r - (rank - 1)
    right = s[c_dim] if 0 <= c_dim < len(s) else 1
    params = draw(opt(num_features=st.sampled_from([right, right, draw(dims)]), eps=st.sampled_from([1e-5, 1e-3]),
                      momentum=st.sampled_from([None, 0.1, 0.5]), affine=st.booleans(),
                      track_running_stats=st.booleans(), bias=st.booleans()))
    return params, [s], draw(dtypes)


@st.composite
def layer_norm(draw):
    s = draw(shape(0, 4, small))
    tail = s[len(s) - draw(st.integers(1, 3)):] if s else (2,)
    ns = draw(st.sampled_from([None, None, tail, tail, tail[-1], tuple(draw(shape(1, 2, small))), ()]))
    params = draw(opt(eps=st.sampled_from([1e-5, 1e-6]), elementwise_affine=st.booleans(), bias=st.booleans()))
    if ns is not None:
        params["normalized_shape"] = ns
    return params, [s], draw(dtypes)


@st.composite
def group_norm(draw):
    s = list(draw(ranked([2, 3, 4, 2, 3, 4, 0, 1, 5], small)))
    if len(s) >= 2:
        s[1] = draw(st.sampled_from([2, 4, 6, 1, 3]))
    c = s[1] if len(s) >= 2 else 4
    groups = _sometimes(draw, draw(st.sampled_from([g for g in range(1, c + 1) if c % g == 0])), dims)
    params = {"num_groups": groups,
              **draw(opt(num_channels=st.sampled_from([c, c, draw(dims)]), eps=st.sampled_from([1e-5, 1e-3]),
                         affine=st.booleans(), bias=st.booleans()))}
    return params, [tuple(s)], draw(dtypes)


NORMS = {
    "BatchNorm1d": feature_norm(3, False) | feature_norm(2, False),
    "BatchNorm2d": feature_norm(4, False),
    "BatchNorm3d": feature_norm(5, False),
    "InstanceNorm1d": feature_norm(3, True),
    "InstanceNorm2d": feature_norm(4, True),
    "LayerNorm": layer_norm(),
    "GroupNorm": group_norm(),
}


# ------------------------------------------------------ linear, reshaping
@st.composite
def bilinear(draw):
    lead = draw(shape(0, 2, small))
    x1, x2 = lead + (draw(dims),), lead + (draw(dims),)
    how = draw(st.sampled_from(["keep"] * 5 + ["lead", "rank", "scalar"]))
    if how == "lead" and lead:
        x2 = (lead[0] + 1,) + x2[1:]
    elif how == "rank":
        x2 = (1,) + x2
    elif how == "scalar":
        x1 = x2 = ()
    params = {"out_features": draw(st.integers(1, 4)),
              **draw(opt(bias=st.booleans(),
                         in1_features=st.sampled_from([x1[-1] if x1 else 1, draw(dims)]),
                         in2_features=st.sampled_from([x2[-1] if x2 else 1, draw(dims)])))}
    return params, [x1, x2], draw(dtypes)


@st.composite
def unflatten(draw):
    s = draw(ranked([1, 2, 3, 1, 2, 3, 0, 4], st.sampled_from([1, 2, 4, 6, 12, 5])))
    dim = draw(st.integers(-len(s) - 1, len(s)))
    n = s[dim] if -len(s) <= dim < len(s) else 6
    factors = [f for f in (1, 2, 3, 4, 6, 12) if n % f == 0]
    a = draw(st.sampled_from(factors))
    right = (a, n // a)
    sizes = draw(st.sampled_from([right, right, (a, -1), (-1,), (-1, a, 1), (a, a), (-1, -1), ()]))
    return {"dim": dim, "unflattened_size": sizes}, [s], draw(dtypes)


RESHAPING = {
    "Bilinear": bilinear(),
    "Flatten": case(opt(start_dim=st.integers(-5, 4), end_dim=st.integers(-5, 4)), shape()),
    "Unflatten": unflatten(),
}


# --------------------------------------------------- resampling, padding
MODES = ["nearest", "linear", "bilinear", "bicubic", "trilinear"]
scales = st.sampled_from([2.0, 0.5, 1.5, 3.0, 0.7, 0.34, 1.0]) | st.floats(0.2, 3).map(lambda v: round(v, 3))


@st.composite
def upsample(draw):
    rank = draw(st.sampled_from([3, 4, 5, 3, 4, 5, 2, 6]))
    s = draw(shape(rank, rank, st.integers(1, 4)))
    n = max(rank - 2, 1)
    which = draw(st.sampled_from(["size", "scale", "size", "scale", "both", "neither"]))
    params = draw(opt(mode=st.sampled_from(MODES), align_corners=st.sampled_from([None, True, False]),
                      recompute_scale_factor=st.sampled_from([None, True, False])))
    if which in ("size", "both"):
        params["size"] = draw(st.integers(1, 6) | st.tuples(*[st.integers(1, 6)] * n)
                              | st.tuples(*[st.integers(1, 6)] * (n % 3 + 1)))
    if which in ("scale", "both"):
        params["scale_factor"] = draw(scales | st.tuples(*[scales] * n) | st.tuples(*[scales] * (n % 3 + 1)))
    return params, [s], draw(dtypes)


@st.composite
def pixel_shuffle(draw):
    r = draw(st.integers(1, 3))
    s = list(draw(ranked([3, 4, 5, 3, 4, 1, 2], small)))
    if len(s) >= 3:
        s[-3] = _sometimes(draw, r * r * draw(small), dims)
    return {"upscale_factor": r}, [tuple(s)], draw(dtypes)


@st.composite
def pixel_unshuffle(draw):
    r = draw(st.integers(1, 3))
    s = list(draw(ranked([3, 4, 5, 3, 4, 1, 2], small)))
    for i in (-2, -1):
        if len(s) >= -i:
            s[i] = _sometimes(draw, r * draw(small), dims)
    return {"downscale_factor": r}, [tuple(s)], draw(dtypes)


def paddings(lo, hi):
    return st.integers(lo, hi) | st.tuples(*[st.integers(lo, hi)] * 4)


def _pads(p):
    return (p,) * 4 if isinstance(p, int) else p


def _nonempty(case):
    """graphc keeps every dim >= 1: torch accepts padding that crops a dim to exactly 0, graphc rejects
    it (a deliberate difference, tested in tests/test_layers_elementwise.py), so such draws are left out."""
    params, (s,), _ = case
    left, right, top, bottom = _pads(params["padding"])
    return len(s) < 2 or (s[-2] + top + bottom != 0 and s[-1] + left + right != 0)


def pad(ranks, padding):
    return case(st.fixed_dictionaries({"padding": padding}), ranked(ranks, st.integers(1, 5))).filter(_nonempty)


RESAMPLING = {
    "Upsample": upsample(),
    "PixelShuffle": pixel_shuffle(),
    "PixelUnshuffle": pixel_unshuffle(),
    "ZeroPad2d": pad([2, 3, 4, 2, 3, 4, 0, 1, 5], paddings(-3, 3)),
    "ReflectionPad2d": pad([3, 4, 3, 4, 2, 5], paddings(-2, 2) | paddings(-4, 4)),
}

STRATEGIES = {**ACTIVATIONS, **NORMS, **RESHAPING, **RESAMPLING}
