"""Strategies for the sequence layers: Embedding, RNN/LSTM/GRU, attention and transformer layers.

Besides valid configurations they draw wrong ranks, float or bool ids into
Embedding, out-of-range padding_idx, proj_size >= hidden_size, heads that do
not divide the width, and keys, values or memories whose batch, length or
width do not fit the query.
"""

from hypothesis import strategies as st

dims = st.integers(1, 5)
widths = st.integers(1, 8)
ranks = st.sampled_from([3, 3, 3, 3, 2, 2, 1, 4])  # mostly (B, T, F), also unbatched and wrong ranks
floats = st.sampled_from(["float32", "float32", "float32", "float64", "float16", "bfloat16", "int64"])


def _shape(draw, rank, feat, length, batch, batch_first):
    """A sequence of the given rank: (B, T, F) / (T, B, F), (T, F), or any dims for wrong ranks."""
    if rank == 3:
        return (batch, length, feat) if batch_first else (length, batch, feat)
    if rank == 2:
        return (length, feat)
    return tuple(draw(st.lists(dims, min_size=rank - 1, max_size=rank - 1))) + (feat,)


def _maybe_bend(draw, shape):
    """Usually the shape itself; sometimes one dim changed or one dim dropped."""
    how = draw(st.sampled_from(["keep"] * 6 + ["dim", "rank"]))
    if how == "dim":
        i = draw(st.integers(0, len(shape) - 1))
        return shape[:i] + (draw(widths),) + shape[i + 1:]
    if how == "rank" and len(shape) > 1:
        return shape[1:]
    return shape


def _heads(draw, width):
    """Mostly a divisor of the width (at most 4), sometimes any count."""
    return _sometimes(draw, draw(st.sampled_from([h for h in (1, 2, 3, 4) if width % h == 0])),
                      st.integers(1, 4))


def _sometimes(draw, right, wrong=widths):
    """The right value mostly, another one now and then."""
    return draw(st.sampled_from([right] * 4 + [draw(wrong)]))


# ------------------------------------------------------------ embedding
EMBEDDING = st.tuples(
    st.fixed_dictionaries(
        # ids are drawn in [0, 3), so every table has at least 3 rows (0 is rejected by the schema)
        {"num_embeddings": st.sampled_from([3, 4, 5, 6, 7, 8, 0]), "embedding_dim": st.integers(1, 6)},
        optional={"padding_idx": st.integers(-10, 9) | st.none(),
                  "max_norm": st.sampled_from([None, 0.5, 1.0, 2.5]),
                  "norm_type": st.sampled_from([1.0, 2.0, 3.5]),
                  "scale_grad_by_freq": st.booleans(), "sparse": st.booleans()}),
    st.lists(dims, min_size=0, max_size=3).map(lambda s: [tuple(s)]),
    st.sampled_from(["int64", "int64", "int32", "float32", "bool"]))


# ------------------------------------------------------------ recurrent
def _recurrent(**extra):
    @st.composite
    def draw_case(draw):
        params = draw(st.fixed_dictionaries(
            {"hidden_size": st.integers(1, 6)},
            optional={"num_layers": st.integers(1, 3), "bias": st.booleans(),
                      "batch_first": st.booleans(),
                      "dropout": st.sampled_from([0.0, 0.3, 1.0, 0.0, 0.3, 1.5]),
                      "bidirectional": st.booleans(), "input_size": dims,
                      "output": st.sampled_from(["sequence", "last", "hidden"]),
                      "state": st.booleans(), **extra}))
        if params.get("state"):  # graphc's own pairing (no torch counterpart): state=true takes the
            params.pop("output", None)  # whole sequence; test_layers_sequence checks the error
        rank = draw(ranks)
        x = tuple(draw(st.lists(dims, min_size=rank, max_size=rank)))
        return params, [x] + _states(draw, params, x, lstm="proj_size" in extra), draw(floats)

    return draw_case()


def _states(draw, params, x, lstm: bool) -> list[tuple]:
    """No initial state mostly; else h0 (and c0 for an LSTM), right-shaped or bent, sometimes
    one tensor too few or too many."""
    if not draw(st.integers(0, 2)):
        return []
    h = params["hidden_size"]
    proj = params.get("proj_size", 0)
    lead = ((2 if params.get("bidirectional") else 1) * params.get("num_layers", 1),)
    if len(x) == 3:
        lead += (x[0 if params.get("batch_first", True) else 1],)
    want = [lead + ((proj if 0 < proj < h else h),)] + ([lead + (h,)] if lstm else [])
    n = _sometimes(draw, len(want), st.integers(1, 2))
    return [_maybe_bend(draw, s) for s in (want + want)[:n]]


# ------------------------------------------------------------ attention
@st.composite
def _attention(draw):
    e = draw(widths)
    heads = _heads(draw, e)
    rank, batch_first, n = draw(ranks), draw(st.booleans()), draw(st.integers(1, 3))
    b, lq, s = draw(dims), draw(dims), draw(dims)
    kdim = _sometimes(draw, e)
    vdim = kdim if n == 2 else _sometimes(draw, e)
    q = _shape(draw, rank, e, lq, b, batch_first)
    k = _maybe_bend(draw, _shape(draw, rank, kdim, s, b, batch_first))
    v = _maybe_bend(draw, k[:-1] + (vdim,))
    params = draw(st.fixed_dictionaries(
        {"num_heads": st.just(heads), "batch_first": st.just(batch_first)},
        optional={"embed_dim": st.just(_sometimes(draw, e)), "kdim": st.just(_sometimes(draw, k[-1])),
                  "vdim": st.just(_sometimes(draw, v[-1])),
                  "dropout": st.sampled_from([0.0, 0.2, 1.0]), "bias": st.booleans(),
                  "add_bias_kv": st.booleans(), "add_zero_attn": st.booleans()}))
    dtype = draw(floats)
    shapes, dtypes = [q, k, v][:n], [dtype] * n
    mask_dt = st.sampled_from(["bool", "bool", dtype, "int64", "float64"])
    if draw(st.booleans()):  # attn_mask: (L, S) or (N·heads, L, S), sometimes bent
        full = (b * heads if rank == 3 else heads, lq, s)
        am = full[1:] if draw(st.booleans()) else full
        params["attn_mask"] = True
        params["is_causal"] = draw(st.booleans())
        shapes.append(_maybe_bend(draw, am)), dtypes.append(draw(mask_dt))
    elif draw(st.integers(0, 5)) == 0:
        params["is_causal"] = True  # without attn_mask: rejected by both
    if draw(st.booleans()):  # key_padding_mask: (N, S), or (S,) unbatched
        params["key_padding_mask"] = True
        shapes.insert(n, _maybe_bend(draw, (b, s) if rank == 3 else (s,))), dtypes.insert(n, draw(mask_dt))
    return params, shapes, tuple(dtypes)


def _transformer_params(draw, d, batch_first):
    return draw(st.fixed_dictionaries(
        {"nhead": st.just(_heads(draw, d)), "batch_first": st.just(batch_first)},
        optional={"d_model": st.just(_sometimes(draw, d)), "dim_feedforward": st.integers(1, 8),
                  "dropout": st.sampled_from([0.0, 0.1, 1.0, 0.0, 0.1, 2.0]),
                  "activation": st.sampled_from(["relu", "gelu", "relu", "gelu", "tanh"]),
                  "layer_norm_eps": st.sampled_from([1e-5, 1e-3, 1e-5, 1e-3, 0.0]),
                  "norm_first": st.booleans(),
                  "bias": st.booleans()}))


@st.composite
def _encoder_layer(draw):
    d, batch_first = draw(widths), draw(st.booleans())
    x = _shape(draw, draw(ranks), d, draw(dims), draw(dims), batch_first)
    return _transformer_params(draw, d, batch_first), [x], draw(floats)


@st.composite
def _decoder_layer(draw):
    d, batch_first, rank, b = draw(widths), draw(st.booleans()), draw(ranks), draw(dims)
    tgt = _shape(draw, rank, d, draw(dims), b, batch_first)
    memory = _maybe_bend(draw, _shape(draw, rank, d, draw(dims), b, batch_first))
    return _transformer_params(draw, d, batch_first), [tgt, memory], draw(floats)


@st.composite
def _encoder(draw):
    params, xs, dtype = draw(_encoder_layer())
    params = {**params, "num_layers": draw(st.sampled_from([1, 2, 3, 0])),
              "enable_nested_tensor": draw(st.booleans())}
    return params, xs, dtype


STRATEGIES = {
    "Embedding": EMBEDDING,
    "RNN": _recurrent(nonlinearity=st.sampled_from(["tanh", "relu", "tanh", "relu", "gelu"])),
    "LSTM": _recurrent(proj_size=st.integers(0, 7)),
    "GRU": _recurrent(),
    "MultiheadAttention": _attention(),
    "TransformerEncoderLayer": _encoder_layer(),
    "TransformerEncoder": _encoder(),
    "TransformerDecoderLayer": _decoder_layer(),
}
