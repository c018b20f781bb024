"""Strategies for convolutions, transposed convolutions and pooling (1-d, 2-d, 3-d).

Each draws valid and invalid configurations alike: kernels larger than the
input, indivisible groups, too much padding, output_padding not below stride
or dilation, wrong ranks (unbatched ones included), every dtype.
"""

from hypothesis import assume
from hypothesis import strategies as st

DTYPES = st.sampled_from(["float32"] * 8 + ["float64", "float16", "bfloat16", "int64", "int32", "bool"])


@st.composite
def per_dim(draw, nd, lo, hi):
    """One int for every dim, or an nd-tuple; rarely a tuple of the wrong length."""
    form = draw(st.integers(0, 19))
    length = nd if form else draw(st.sampled_from([n for n in (1, 2, 3, 4) if n != nd]))
    values = tuple(draw(st.integers(lo, hi)) for _ in range(length))
    return values[0] if form > 10 else values


@st.composite
def input_shape(draw, nd, channels=None):
    """Mostly (N, C, *spatial) or (C, *spatial); sometimes a rank torch rejects."""
    rank = draw(st.sampled_from([nd + 2] * 5 + [nd + 1] * 3 + [nd, nd + 3]))
    side = 5 if nd == 3 else 8
    spatial = draw(st.lists(st.integers(1, side), min_size=nd, max_size=nd))
    c = draw(channels if channels is not None else st.integers(1, 6))
    lead = [draw(st.integers(1, 3)) for _ in range(max(rank - nd - 1, 0))] + [c]
    return tuple((lead + spatial)[-rank:])


def zero_size_transposed(params, shape, nd) -> bool:
    """Whether a transposed convolution's output would have a size-0 dim.  torch's oneDNN path
    (float32 with a batch > 1, groups > 1 or larger kernels) returns such an empty tensor
    where its other path raises "Output size is too small"; graphc rejects it always (the
    batch is symbolic), so these draws are left out."""
    keys = (("kernel_size", 1), ("stride", 1), ("padding", 0), ("output_padding", 0), ("dilation", 1))
    vals = [(v,) * nd if isinstance(v, int) else v for v in (params.get(k, d) for k, d in keys)]
    if len(shape) < nd or any(len(v) != nd for v in vals):
        return False
    return any((n - 1) * s - 2 * p + d * (k - 1) + o + 1 == 0
               for n, k, s, p, o, d in zip(shape[-nd:], *vals))


@st.composite
def conv(draw, nd, transposed):
    groups = draw(st.sampled_from([1, 1, 1, 2, 3, 4]))
    fit = draw(st.booleans())  # channels that groups divide, or any
    channels = st.integers(1, 3).map(lambda m: m * groups) if fit else st.integers(1, 8)
    params = {"out_channels": draw(channels), "kernel_size": draw(per_dim(nd, 1, 4))}
    optional = {
        "stride": per_dim(nd, 1, 3),
        "padding": per_dim(nd, 0, 3) if transposed else st.one_of(per_dim(nd, 0, 3),
                                                                  st.sampled_from(["same", "valid"])),
        "dilation": per_dim(nd, 1, 3),
        "bias": st.booleans(),
        "padding_mode": st.sampled_from(["zeros"] if transposed else
                                        ["zeros", "reflect", "replicate", "circular"]),
        "in_channels": st.integers(1, 8),
    }
    if transposed:
        optional["output_padding"] = per_dim(nd, 0, 3)
    for key, strategy in optional.items():
        if draw(st.booleans()):
            params[key] = draw(strategy)
    if groups != 1:
        params["groups"] = groups
    shape = draw(input_shape(nd, channels))
    if "in_channels" in params and len(shape) > nd and draw(st.integers(0, 3)):
        params["in_channels"] = shape[-nd - 1]  # mostly the right one
    assume(not (transposed and zero_size_transposed(params, shape, nd)))
    return params, [shape], draw(DTYPES)


@st.composite
def pool(draw, nd, family):
    params = {"kernel_size": draw(per_dim(nd, 1, 4))}
    optional = {"stride": st.one_of(st.none(), per_dim(nd, 1, 3)), "padding": per_dim(nd, 0, 2),
                "ceil_mode": st.booleans()}
    if family == "max":
        optional["dilation"] = per_dim(nd, 1, 3)
    else:
        optional["count_include_pad"] = st.booleans()
        if nd > 1 or draw(st.integers(0, 19)) == 0:  # AvgPool1d has none: rarely drawn anyway
            optional["divisor_override"] = st.one_of(st.none(), st.integers(1, 4))
    for key, strategy in optional.items():
        if draw(st.booleans()):
            params[key] = draw(strategy)
    return params, [draw(input_shape(nd))], draw(DTYPES)


@st.composite
def adaptive(draw, nd):
    entry = st.one_of(st.integers(1, 6), st.just(1), st.none() if nd > 1 else st.integers(1, 6))
    size = st.one_of(st.integers(1, 6), st.just(1), st.tuples(*[entry] * nd))
    if draw(st.integers(0, 19)) == 0:  # forms torch rejects: None alone, a None in 1-d
        size = st.sampled_from([None, (None,) * nd])
    params = {"output_size": draw(size)}
    rank = draw(st.sampled_from([nd + 2] * 3 + [nd + 1] * 2 + [r for r in range(1, nd + 5) if r > nd + 2 or r < nd + 1]))
    side = 5 if nd == 3 else 8
    shape = tuple(draw(st.lists(st.integers(1, side), min_size=rank, max_size=rank)))
    return params, [shape], draw(DTYPES)


STRATEGIES = {}
for _nd in (1, 2, 3):
    STRATEGIES[f"Conv{_nd}d"] = conv(_nd, transposed=False)
    STRATEGIES[f"ConvTranspose{_nd}d"] = conv(_nd, transposed=True)
    STRATEGIES[f"MaxPool{_nd}d"] = pool(_nd, "max")
    STRATEGIES[f"AvgPool{_nd}d"] = pool(_nd, "avg")
    STRATEGIES[f"AdaptiveAvgPool{_nd}d"] = adaptive(_nd)
    STRATEGIES[f"AdaptiveMaxPool{_nd}d"] = adaptive(_nd)
