"""Attention: multi-head attention and the transformer encoder and decoder layers.

Sequences are (B, L, E) (batch_first=False: (L, B, E)) or unbatched (L, E);
queries of length L attend to keys and values of length S.
"""

from __future__ import annotations

from typing import Annotated, Literal

from graphc.layers.base import (
    Ctor,
    Field,
    Params,
    PosInt,
    Prob,
    Sample,
    ShapeError,
    TensorType,
    check_given,
    need_concrete,
    need_rank,
    register,
)
from graphc.layers.recurrent import ExplicitBatchFirst
from graphc.shapes import Dim, shape_str


# ------------------------------------------------------------------ rules
def _same_dtype(ins: list[TensorType], names: str) -> None:
    dtypes = list(dict.fromkeys(x.dtype for x in ins))
    if len(dtypes) > 1:
        raise ShapeError(f"{names} must have one dtype, got {' and '.join(dtypes)}", code="dtype",
                         hint="convert them to one floating-point dtype")


def _ranks(q: TensorType, others: list[tuple[str, TensorType]], q_name: str = "the query") -> None:
    need_rank(q, (2, 3), "(B, L, E) or unbatched (L, E)")
    for name, x in others:
        if len(x.shape) != len(q.shape):
            raise ShapeError(f"{name} must be {len(q.shape)}-d like {q_name} {shape_str(q.shape)}, "
                             f"got {len(x.shape)}-d {shape_str(x.shape)}", code="shape-rank",
                             hint="give every sequence the same layout: (B, L, E), or (L, E) unbatched")


def _embed(p, field: str, heads_field: str, q: TensorType) -> int:
    """The query's feature size: equal to the given one and divisible by the heads."""
    e = need_concrete(q.shape[-1], f"{field} (the query's last dimension)")
    check_given(p, field, e)
    heads = getattr(p, heads_field)
    if e % heads:
        raise ShapeError(f"{field} {e} is not divisible by {heads_field}={heads}", arg=heads_field,
                         hint=f"use a number of heads that divides {e}")
    return e


def _seq(x: TensorType, batch_first: bool) -> tuple[Dim, Dim]:
    """(batch, length) of a sequence; batch 1 when unbatched."""
    if len(x.shape) == 2:
        return 1, x.shape[0]
    return (x.shape[0], x.shape[1]) if batch_first else (x.shape[1], x.shape[0])


def _same_batch(q: TensorType, k: TensorType, batch_first: bool, names: tuple[str, str]) -> None:
    (bq, _), (bk, _) = _seq(q, batch_first), _seq(k, batch_first)
    if len(q.shape) == 3 and bq != bk:
        raise ShapeError(f"{names[0]} {shape_str(q.shape)} and {names[1]} {shape_str(k.shape)} have "
                         f"different batch sizes ({bq} and {bk})",
                         hint=f"with batch_first={str(batch_first).lower()} the batch is dim "
                              f"{0 if batch_first else 1}")


def _attention_weights(e: int, kdim: int, vdim: int, bias: bool) -> int:
    """Query/key/value projections and the output projection."""
    return e * (e + kdim + vdim) + e * e + (4 * e if bias else 0)


def _attention_macs(b: Dim, lq: Dim, s: Dim, e: int, kdim: int, vdim: int, extra: int = 0) -> Dim:
    """Projections plus scores and weighted sum (per head summed: L·S·E each)."""
    return b * (2 * lq * e * e + s * e * (kdim + vdim) + 2 * lq * (s + extra) * e)


def _mask_dtype(name: str, m: TensorType, q: TensorType) -> None:
    if m.dtype != "bool" and m.dtype != q.dtype:
        raise ShapeError(f"{name} must be bool or of the query's dtype {q.dtype}, got {m.dtype}",
                         code="dtype", arg=name,
                         hint="a bool mask is true where attention is not allowed; a float mask is added")


def _check_masks(p, q: TensorType, k: TensorType, masks: dict, heads: int, batch_first: bool,
                 names: tuple[str, str] = ("attn_mask", "key_padding_mask")) -> None:
    """torch's checks of an attention mask, (L, S) or (N·heads, L, S), and of a key padding
    mask, (N, S) or (S,) unbatched; bool or the query's dtype."""
    b, lq = _seq(q, batch_first)
    s = _seq(k, batch_first)[1]
    am, kpm = masks.get(names[0]), masks.get(names[1])
    if am is not None:
        _mask_dtype(names[0], am, q)
        full = (b * heads if len(q.shape) == 3 else heads, lq, s)
        if len(am.shape) not in (2, 3):
            raise ShapeError(f"{names[0]} must be 2-d (L, S) or 3-d (N·heads, L, S), got "
                             f"{len(am.shape)}-d {shape_str(am.shape)}", code="shape-rank", arg=names[0],
                             hint=f"here (L, S) is {shape_str(full[1:])}")
        want = full[1:] if len(am.shape) == 2 else full
        if tuple(am.shape) != tuple(want):
            raise ShapeError(f"{names[0]} must be {shape_str(want)} for a query of length {lq} and "
                             f"keys of length {s}" + (f" ({heads} heads)" if len(want) == 3 else "")
                             + f", got {shape_str(am.shape)}", arg=names[0],
                             hint="(L, S) is shared by every batch item and head; (N·heads, L, S) "
                                  "gives each its own")
    if kpm is not None:
        _mask_dtype(names[1], kpm, q)
        want = (b, s) if len(q.shape) == 3 else (s,)
        if tuple(kpm.shape) != want:
            raise ShapeError(f"{names[1]} must be {shape_str(want)} (batch, key length), got "
                             f"{shape_str(kpm.shape)}", arg=names[1],
                             code="shape-rank" if len(kpm.shape) != len(want) else "shape-mismatch",
                             hint="true (or -inf) marks the padded key positions")


def _mask_kwargs(masks: dict, flags: dict) -> str:
    parts = [f"{n}={v}" for n, v in masks.items()]
    parts += [f"{n}=True" for n, on in flags.items() if on]
    return "".join(f", {x}" for x in parts)


# ----------------------------------------------------------------- layers
@register
class MultiheadAttention(ExplicitBatchFirst):
    """Attention from a query to key and value sequences (one input: self-attention; two: key = value).

    ``embed_dim``, ``kdim`` and ``vdim`` are inferred; the layer returns the attention output only.
    """

    needs_float = True
    torch_name = "nn.MultiheadAttention"
    category = "attention"
    positional = ("num_heads",)
    ctor_positional = 2
    n_inputs = (1, 3)
    tensor_args = ("key_padding_mask", "attn_mask")
    forward_only = ("key_padding_mask", "attn_mask", "is_causal")

    class Params(Params):
        embed_dim: PosInt | None = None
        num_heads: PosInt
        dropout: Prob = 0.0
        bias: bool = True
        add_bias_kv: bool = False
        add_zero_attn: bool = False
        kdim: PosInt | None = None
        vdim: PosInt | None = None
        batch_first: bool = True
        key_padding_mask: bool = False  # a tensor argument: key_padding_mask=mask
        attn_mask: bool = False         # a tensor argument: attn_mask=mask
        is_causal: bool = False         # torch's hint that attn_mask is the causal mask

    def _qkv(self, ins, p=None):
        if p is not None:
            ins = self.split_inputs(p, ins)[0]
        q = ins[0]
        k = ins[1] if len(ins) > 1 else q
        return q, k, ins[2] if len(ins) > 2 else k

    def infer(self, p, ins):
        ins, masks = self.split_inputs(p, ins)
        q, k, v = self._qkv(ins)
        _same_dtype(ins, "query, key and value")
        if p.is_causal and not p.attn_mask:
            raise ShapeError("is_causal is a hint that attn_mask is the causal mask: it needs attn_mask",
                             code="invalid-argument", arg="is_causal",
                             hint="give attn_mask=mask, an (L, L) mask true above the diagonal")
        _ranks(q, [("key", k), ("value", v)])
        _embed(p, "embed_dim", "num_heads", q)
        for name, x in (("kdim", k), ("vdim", v)):
            check_given(p, name, need_concrete(x.shape[-1], f"{name} (the last dimension)"))
        if k.shape[:-1] != v.shape[:-1]:
            raise ShapeError(f"key {shape_str(k.shape)} and value {shape_str(v.shape)} must agree "
                             "in every dimension but the last",
                             hint="keys and values come in pairs: one of each per source position")
        _same_batch(q, k, p.batch_first, ("the query", "the key"))
        _check_masks(p, q, k, masks, p.num_heads, p.batch_first)
        return [TensorType(q.shape, q.dtype)]

    def ctor(self, p, ins):
        q, k, v = self._qkv(ins, p)
        e = q.shape[-1]
        d = p.model_dump(exclude=set(self.forward_only))
        d.update(embed_dim=e, kdim=k.shape[-1] if k.shape[-1] != e else None,
                 vdim=v.shape[-1] if v.shape[-1] != e else None)
        return d

    def own_weights(self, ctor):
        """in_proj_weight (or q_, k_, v_proj_weight when kdim or vdim differ), in_proj_bias, bias_k
        and bias_v; out_proj is a submodule (an nn.Linear)."""
        same = ctor["kdim"] is None and ctor["vdim"] is None
        out = {"in_proj_weight": 2} if same else {f"{x}_proj_weight": 2 for x in "qkv"}
        if ctor["bias"]:
            out["in_proj_bias"] = 1
        if ctor["add_bias_kv"]:
            out |= {"bias_k": 3, "bias_v": 3}
        return out

    def forward(self, p, call, args):
        args, masks = self.split_inputs(p, args)
        q = args[0]
        k = args[1] if len(args) > 1 else q
        v = args[2] if len(args) > 2 else k
        return f"{call}({q}, {k}, {v}{_mask_kwargs(masks, {'is_causal': p.is_causal})}, need_weights=False)[0]"

    def param_count(self, p, ins):
        q, k, v = self._qkv(ins, p)
        e = q.shape[-1]
        return _attention_weights(e, k.shape[-1], v.shape[-1], p.bias) + (2 * e if p.add_bias_kv else 0)

    def macs(self, p, ins, outs):
        q, k, v = self._qkv(ins, p)
        b, lq = _seq(q, p.batch_first)
        s = _seq(k, p.batch_first)[1]
        return _attention_macs(b, lq, s, q.shape[-1], k.shape[-1], v.shape[-1],
                               int(p.add_bias_kv) + int(p.add_zero_attn))

    def label(self, p, ins):
        return f"{p.num_heads} head{'s' if p.num_heads != 1 else ''}"

    samples = (
        Sample({"num_heads": 2}, ((2, 5, 8),)),
        Sample({"num_heads": 4, "embed_dim": 8, "dropout": 0.1, "bias": False}, ((2, 5, 8), (2, 3, 8))),
        Sample({"num_heads": 2, "kdim": 3, "vdim": 5, "add_bias_kv": True},
               ((2, 4, 6), (2, 7, 3), (2, 7, 5))),
        Sample({"num_heads": 1, "batch_first": False, "add_zero_attn": True}, ((5, 2, 4), (3, 2, 6))),
        Sample({"num_heads": 3, "add_bias_kv": True, "add_zero_attn": True}, ((4, 6), (2, 6), (2, 3))),
        Sample({"num_heads": 2, "attn_mask": True, "is_causal": True}, ((2, 5, 8), (5, 5)),
               ("float32", "bool")),
        Sample({"num_heads": 2, "key_padding_mask": True, "attn_mask": True},
               ((2, 4, 8), (2, 6, 8), (2, 6), (4, 4, 6)), ("float32", "float32", "bool", "bool")),
        Sample({"num_heads": 2, "key_padding_mask": True, "batch_first": False},
               ((4, 3, 8), (3, 4)), ("float32", "float32")),
        Sample({"num_heads": 2, "attn_mask": True, "key_padding_mask": True},
               ((4, 8), (7, 8), (7,), (2, 4, 7)), ("float32", "float32", "bool", "float32")),
    )


class _TransformerParams(Params):
    d_model: PosInt | None = None
    nhead: PosInt
    dim_feedforward: PosInt = 2048
    dropout: Prob = 0.1
    activation: Literal["relu", "gelu"] = "relu"
    layer_norm_eps: Annotated[float, Field(gt=0)] = 1e-5
    batch_first: bool = True
    norm_first: bool = False
    bias: bool = True


class _TransformerLayer(ExplicitBatchFirst):
    needs_float = True
    category = "attention"
    positional = ("nhead", "dim_feedforward")
    ctor_positional = 2
    Params = _TransformerParams
    attentions = 1  # self-attention, plus cross-attention in a decoder

    def ctor(self, p, ins):
        return {**p.model_dump(), "d_model": ins[0].shape[-1]}

    def param_count(self, p, ins):
        d, ff, bias = ins[0].shape[-1], p.dim_feedforward, p.bias
        attention = self.attentions * _attention_weights(d, d, d, bias)
        feedforward = 2 * d * ff + (ff + d if bias else 0)
        norms = (self.attentions + 1) * (2 * d if bias else d)
        return attention + feedforward + norms

    def _feedforward_macs(self, p, x: TensorType) -> Dim:
        b, t = _seq(x, p.batch_first)
        return b * t * 2 * x.shape[-1] * p.dim_feedforward

    def label(self, p, ins):
        return f"d{ins[0].shape[-1]} h{p.nhead} ff{p.dim_feedforward}"


@register
class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention and a feed-forward block over (B, T, d_model); ``d_model`` is inferred."""

    torch_name = "nn.TransformerEncoderLayer"

    def infer(self, p, ins):
        (x,) = ins
        need_rank(x, (2, 3), "(B, T, d_model) or unbatched (T, d_model)")
        _embed(p, "d_model", "nhead", x)
        return [TensorType(x.shape, x.dtype)]

    def macs(self, p, ins, outs):
        x = ins[0]
        b, t = _seq(x, p.batch_first)
        d = x.shape[-1]
        return _attention_macs(b, t, t, d, d, d) + self._feedforward_macs(p, x)

    samples = (
        Sample({"nhead": 2}, ((2, 5, 8),)),
        Sample({"nhead": 2, "dim_feedforward": 16, "dropout": 0.0, "activation": "gelu",
                "layer_norm_eps": 1e-6, "norm_first": True, "bias": False}, ((2, 5, 4),)),
        Sample({"nhead": 1, "dim_feedforward": 8, "batch_first": False, "d_model": 6}, ((5, 2, 6),)),
        Sample({"nhead": 3, "dim_feedforward": 4}, ((4, 6),)),
    )


@register
class TransformerDecoderLayer(_TransformerLayer):
    """Self-attention over tgt, attention to memory and a feed-forward block; inputs tgt, memory."""

    torch_name = "nn.TransformerDecoderLayer"
    n_inputs = (2, 2)
    attentions = 2

    def infer(self, p, ins):
        tgt, memory = ins
        _same_dtype(ins, "tgt and memory")
        _ranks(tgt, [("memory", memory)], "tgt")
        d = _embed(p, "d_model", "nhead", tgt)
        if memory.shape[-1] != d:
            raise ShapeError(f"memory {shape_str(memory.shape)} must have d_model={d} features "
                             f"like tgt, got {memory.shape[-1]}",
                             hint="project the memory to d_model first (Linear)")
        _same_batch(tgt, memory, p.batch_first, ("tgt", "memory"))
        return [TensorType(tgt.shape, tgt.dtype)]

    def macs(self, p, ins, outs):
        tgt, memory = ins
        b, t = _seq(tgt, p.batch_first)
        s = _seq(memory, p.batch_first)[1]
        d = tgt.shape[-1]
        return (_attention_macs(b, t, t, d, d, d) + _attention_macs(b, t, s, d, d, d)
                + self._feedforward_macs(p, tgt))

    samples = (
        Sample({"nhead": 2}, ((2, 5, 8), (2, 7, 8))),
        Sample({"nhead": 2, "dim_feedforward": 16, "dropout": 0.0, "activation": "gelu",
                "layer_norm_eps": 1e-6, "norm_first": True, "bias": False}, ((2, 5, 4), (2, 3, 4))),
        Sample({"nhead": 1, "dim_feedforward": 8, "batch_first": False, "d_model": 6},
               ((5, 2, 6), (3, 2, 6))),
        Sample({"nhead": 3, "dim_feedforward": 4}, ((4, 6), (2, 6))),
    )


class _EncoderParams(_TransformerParams):
    num_layers: PosInt
    enable_nested_tensor: bool = True


@register
class TransformerEncoder(TransformerEncoderLayer):
    """``num_layers`` TransformerEncoderLayers in sequence (torch deep-copies one layer); ``d_model``
    is inferred. Emitted as nn.TransformerEncoder(encoder_layer=nn.TransformerEncoderLayer(...), ...)."""

    torch_name = "nn.TransformerEncoder"
    positional = ("nhead", "num_layers", "dim_feedforward")
    ctor_positional = 0
    Params = _EncoderParams

    def ctor(self, p, ins):
        layer_defaults = _TransformerParams.model_fields
        layer = {"d_model": ins[0].shape[-1], "nhead": p.nhead}
        for name, f in layer_defaults.items():
            v = getattr(p, name)
            if name not in layer and (name == "batch_first" or v != f.default):
                layer[name] = v
        return {"encoder_layer": Ctor("nn.TransformerEncoderLayer", layer), "num_layers": p.num_layers,
                "enable_nested_tensor": p.enable_nested_tensor}

    def ctor_defaults(self):
        return {"enable_nested_tensor": True}

    def param_count(self, p, ins):
        return p.num_layers * super().param_count(p, ins)

    def macs(self, p, ins, outs):
        return p.num_layers * super().macs(p, ins, outs)

    def label(self, p, ins):
        return f"×{p.num_layers} " + super().label(p, ins)

    samples = (
        Sample({"nhead": 2, "num_layers": 2}, ((2, 5, 8),)),
        Sample({"nhead": 2, "num_layers": 3, "dim_feedforward": 16, "dropout": 0.0, "activation": "gelu",
                "layer_norm_eps": 1e-6, "norm_first": True, "bias": False, "enable_nested_tensor": False},
               ((2, 5, 4),)),
        Sample({"nhead": 1, "num_layers": 1, "dim_feedforward": 8, "batch_first": False, "d_model": 6},
               ((5, 2, 6),)),
    )
