"""Strategies for the first layer set's non-convolution layers (placeholder until
the family modules take them over)."""

from hypothesis import strategies as st

dims = st.integers(1, 6)


def shape(min_rank=1, max_rank=4):
    return st.lists(dims, min_size=min_rank, max_size=max_rank).map(tuple)


STRATEGIES = {
    "Linear": st.tuples(
        st.fixed_dictionaries({"out_features": st.integers(1, 8)},
                              optional={"bias": st.booleans(), "in_features": st.integers(1, 6)}),
        shape(1, 4).map(lambda s: [s]), st.sampled_from(["float32", "int64"])),
}
