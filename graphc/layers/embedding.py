"""Embedding: a lookup table from integer ids to vectors."""

from __future__ import annotations

from graphc.layers.base import Layer, Params, PosInt, Sample, ShapeError, TensorType, Weight, register

INDEX_DTYPES = ("int64", "int32")


@register
class Embedding(Layer):
    """Maps integer ids of any shape (*) to vectors (*, embedding_dim)."""

    torch_name = "nn.Embedding"
    category = "embedding"
    positional = ("num_embeddings", "embedding_dim")
    ctor_positional = 2
    weights = (Weight("weight", 2, shape=lambda c: (c["num_embeddings"], c["embedding_dim"])),)

    class Params(Params):
        num_embeddings: PosInt
        embedding_dim: PosInt
        padding_idx: int | None = None
        max_norm: float | None = None
        norm_type: float = 2.0
        scale_grad_by_freq: bool = False
        sparse: bool = False

    def infer(self, p, ins):
        (x,) = ins
        if x.dtype not in INDEX_DTYPES:
            raise ShapeError(f"needs integer ids (int64 or int32), got {x.dtype}", code="dtype",
                             hint="declare the ids as integers, e.g. "
                                  "'input ids: long[B, T]'; for float features use Linear")
        n = p.num_embeddings
        if p.padding_idx is not None and not -n <= p.padding_idx < n:
            raise ShapeError(f"padding_idx={p.padding_idx} is outside [{-n}, {n - 1}] "
                             f"for num_embeddings={n}", code="invalid-argument", arg="padding_idx",
                             hint=f"use an id in [{-n}, {n - 1}] or leave padding_idx out")
        return [TensorType(x.shape + (p.embedding_dim,), "float32")]

    def param_count(self, p, ins):
        return p.num_embeddings * p.embedding_dim

    def id_limit(self, p):
        return p.num_embeddings

    def label(self, p, ins):
        return f"{p.num_embeddings}×{p.embedding_dim}"

    samples = (
        Sample({"num_embeddings": 10, "embedding_dim": 4}, ((2, 5),), "int64"),
        Sample({"num_embeddings": 5, "embedding_dim": 3, "padding_idx": 0, "max_norm": 1.0,
                "norm_type": 1.0}, ((2, 3, 4),), "int64"),
        Sample({"num_embeddings": 6, "embedding_dim": 2, "padding_idx": -6,
                "scale_grad_by_freq": True, "sparse": True}, ((7,),), "int64"),
    )
