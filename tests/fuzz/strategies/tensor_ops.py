"""Strategies for the tensor operations: add, sub, mul, matmul, concat, stack, reshape, view,
permute, transpose, squeeze, unsqueeze, mean, sum, max, amax, split, chunk and slice.

Each draws mostly configurations near the valid ones (factorisations for reshape,
permutations for permute, broadcastable shapes for add) and then breaks some of them
(a dim out of range, a second -1, a wrong count, a mismatched size); a size-0 dim
turns up now and then, since torch accepts those.
"""

from math import prod

from hypothesis import strategies as st

DIMS = st.sampled_from([1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 1, 2, 3, 0])
DTYPES = st.sampled_from(["float32"] * 6 + ["int64", "int32", "float16", "bfloat16", "float64"])
FLOATS = st.sampled_from(["float32"] * 4 + ["float16", "float64"])


def shape(min_rank=0, max_rank=4, dims=DIMS):
    return st.lists(dims, min_size=min_rank, max_size=max_rank).map(tuple)


def dim_for(draw, rank, extra=0):
    """A dim index, mostly in torch's range for ``rank`` dims (+ ``extra`` for a new dim)."""
    r = max(rank + extra, 1)
    return draw(st.integers(-r - 1, r))


def dims_arg(draw, rank, allow_none=True):
    """None, one dim, or a tuple of dims (sometimes repeated or out of range)."""
    choice = draw(st.sampled_from(["none", "int", "tuple"] if allow_none else ["int", "tuple"]))
    if choice == "none":
        return None
    if choice == "int":
        return dim_for(draw, rank)
    return tuple(draw(st.lists(st.integers(-max(rank, 1) - 1, max(rank, 1)), max_size=3)))


# ------------------------------------------------------------------ merges
@st.composite
def broadcastable(draw, n_min=2, n_max=3):
    base = draw(shape(0, 4))
    shapes = []
    for _ in range(draw(st.integers(n_min, n_max))):
        s = list(base[draw(st.integers(0, len(base))):])
        s = [1 if draw(st.integers(0, 3)) == 0 else d for d in s]
        if draw(st.integers(0, 5)) == 0:
            s = list(draw(shape(0, 4)))
        shapes.append(tuple(s))
    return {}, shapes, draw(DTYPES)


@st.composite
def concat_case(draw):
    base = list(draw(shape(1, 4)))
    dim = dim_for(draw, len(base))
    shapes = []
    for _ in range(draw(st.integers(1, 3))):
        s = list(base)
        if -len(s) <= dim < len(s):
            s[dim] = draw(DIMS)
        if draw(st.integers(0, 6)) == 0:
            s = list(draw(shape(0, 4)))
        shapes.append(tuple(s))
    params = {} if draw(st.booleans()) and dim == 1 else {"dim": dim}
    return params, shapes, draw(DTYPES)


@st.composite
def stack_case(draw):
    base = draw(shape(0, 4))
    shapes = [base if draw(st.integers(0, 6)) else draw(shape(0, 4))
              for _ in range(draw(st.integers(1, 3)))]
    params = {} if draw(st.booleans()) else {"dim": dim_for(draw, len(base), extra=1)}
    return params, shapes, draw(DTYPES)


@st.composite
def matmul_case(draw):
    k = draw(DIMS)
    ra, rb = draw(st.integers(0, 4)), draw(st.integers(0, 4))
    batch = draw(shape(0, 2))
    a = tuple(b if draw(st.integers(0, 3)) else 1 for b in batch[len(batch) - max(ra - 2, 0):]) + \
        ((draw(DIMS),) if ra >= 2 else ()) + ((k,) if ra >= 1 else ())
    b = tuple(b if draw(st.integers(0, 3)) else 1 for b in batch[len(batch) - max(rb - 2, 0):]) + \
        ((k,) if rb >= 1 else ()) + ((draw(DIMS),) if rb >= 2 else ())
    if draw(st.integers(0, 5)) == 0:
        b = draw(shape(0, 4))
    return {}, [a, b], draw(DTYPES)


# ------------------------------------------------------------------ reshaping
def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0] if n else [0, 1, 2]


@st.composite
def reshape_case(draw):
    x = draw(shape(0, 4))
    left = prod(x[1:])
    target = []
    for _ in range(draw(st.integers(0, 3))):
        d = draw(st.sampled_from(_divisors(left)))
        target.append(d)
        left = left // d if d else left
    if draw(st.booleans()):
        target.append(left)
    if target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    if target and draw(st.integers(0, 4)) == 0:
        i = draw(st.integers(0, len(target) - 1))
        target[i] = draw(st.sampled_from([-1, -2, 0, target[i] + 1]))
    if len(target) == 1 and draw(st.booleans()):
        params = {"shape": target[0]}
    else:
        params = {"shape": tuple(target)}
    return params, [x], draw(DTYPES)


@st.composite
def permute_case(draw):
    x = draw(shape(0, 4))
    dims = draw(st.permutations(range(len(x))))
    dims = [d - len(x) if draw(st.booleans()) else d for d in dims]
    if draw(st.integers(0, 4)) == 0:
        dims = draw(st.lists(st.integers(-len(x) - 1, len(x)), max_size=5))
    params = {"dims": tuple(dims)}
    return params, [x], draw(DTYPES)


@st.composite
def transpose_case(draw):
    x = draw(shape(0, 4))
    return {"dim0": dim_for(draw, len(x)), "dim1": dim_for(draw, len(x))}, [x], draw(DTYPES)


@st.composite
def squeeze_case(draw):
    x = draw(shape(0, 4, st.sampled_from([1, 1, 1, 2, 3, 0])))
    dim = dims_arg(draw, len(x))
    return ({} if dim is None and draw(st.booleans()) else {"dim": dim}), [x], draw(DTYPES)


@st.composite
def unsqueeze_case(draw):
    x = draw(shape(0, 4))
    return {"dim": dim_for(draw, len(x), extra=1)}, [x], draw(DTYPES)


# ------------------------------------------------------------------ reductions
@st.composite
def reduce_case(draw, one_dim=False):
    x = draw(shape(0, 4))
    params = {}
    dim = dim_for(draw, len(x)) if one_dim and draw(st.booleans()) else \
        None if one_dim else dims_arg(draw, len(x))
    if dim is not None or draw(st.booleans()):
        params["dim"] = dim
    if draw(st.booleans()):
        params["keepdim"] = draw(st.booleans())
    return params, [x], draw(DTYPES)


# ------------------------------------------------------------------ splitting
@st.composite
def chunk_case(draw):
    x = draw(shape(0, 4))
    params = {"chunks": draw(st.integers(-1, 7))}
    if draw(st.integers(0, 4)):
        params["dim"] = dim_for(draw, len(x))
    return params, [x], draw(DTYPES)


@st.composite
def split_case(draw):
    x = draw(shape(0, 4))
    params = {}
    if draw(st.integers(0, 4)):
        params["dim"] = dim_for(draw, len(x))
    d = params.get("dim", 0)
    n = x[d] if -len(x) <= d < len(x) else draw(DIMS)
    if draw(st.booleans()):
        params["split_size_or_sections"] = draw(st.integers(-1, 7))
    else:
        sections = []
        while sum(sections) < n:
            sections.append(draw(st.integers(0, n - sum(sections))))
        if draw(st.integers(0, 3)) == 0:
            sections.append(draw(st.integers(-1, 2)))
        params["split_size_or_sections"] = tuple(sections)
    return params, [x], draw(DTYPES)


@st.composite
def slice_case(draw):
    x = draw(shape(0, 4))
    params = {}
    for name, values in (("dim", st.integers(-5, 4)), ("start", st.none() | st.integers(-8, 8)),
                         ("end", st.none() | st.integers(-8, 8)), ("step", st.integers(-1, 4))):
        if draw(st.integers(0, 4)):
            params[name] = draw(values)
    return params, [x], draw(DTYPES)


@st.composite
def positions_case(draw):
    return draw(st.fixed_dictionaries({}, optional={"dim": st.sampled_from([0, 1, 1, 2])})), \
        [draw(shape(0, 4))], draw(DTYPES)


STRATEGIES = {
    "positions": positions_case(),
    "add": broadcastable(),
    "sub": broadcastable(2, 2),
    "mul": broadcastable(),
    "matmul": matmul_case(),
    "concat": concat_case(),
    "stack": stack_case(),
    "reshape": reshape_case(),
    "view": reshape_case(),
    "permute": permute_case(),
    "transpose": transpose_case(),
    "squeeze": squeeze_case(),
    "unsqueeze": unsqueeze_case(),
    "mean": reduce_case(),
    "sum": reduce_case(),
    "amax": reduce_case(),
    "max": reduce_case(one_dim=True),
    "split": split_case(),
    "chunk": chunk_case(),
    "slice": slice_case(),
}
