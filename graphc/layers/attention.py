"""Attention: multi-head attention, scaled dot-product attention, and the masks and shape
rules the transformer layers (graphc.layers.transformer) share.

Sequences are (B, L, E) (batch_first=False: (L, B, E)) or unbatched (L, E);
queries of length L attend to keys and values of length S.  Masks are checked as
torch checks them (docs/language.md, "Attention masks").
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc import pyfmt
from graphc.layers.base import (
    FLOAT_DTYPES,
    Layer,
    Params,
    PosInt,
    Prob,
    Sample,
    ShapeError,
    TensorType,
    check_given,
    need_concrete,
    need_rank,
    promote,
    register,
)
from graphc.layers.recurrent import ExplicitBatchFirst
from graphc.shapes import Dim, broadcast, numel, shape_str


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


def _canonical(name: str, m: TensorType) -> None:
    """torch's ``F._canonical_mask``: a mask is bool or floating point."""
    if m.dtype != "bool" and m.dtype not in FLOAT_DTYPES:
        raise ShapeError(f"{name} must be bool or floating point, got {m.dtype}", code="dtype", arg=name,
                         hint="a bool mask is true where attention is not allowed; a float mask is added "
                              "to the scores (0 or -inf)")


def _mask_dtypes(q: TensorType, given: list[tuple[str, TensorType]]) -> None:
    """The masks that reach the attention: each bool (made the query's dtype) or float, added
    together; torch's attention takes the sum if it is float32 or the query's dtype."""
    dtypes = [q.dtype if m.dtype == "bool" else m.dtype for _, m in given]
    merged = promote(dtypes) if dtypes else q.dtype
    if merged in ("float32", q.dtype):
        return
    if len(given) == 1:
        what = f"{given[0][0]} must be {mask_dtypes(q.dtype)}, got {given[0][1].dtype}"
    else:  # torch adds the two (a bool one made the query's dtype) and checks the sum
        what = (" + ".join(f"{n} ({m.dtype})" for n, m in given)
                + f" is {merged}: torch needs {mask_dtypes(q.dtype)}")
    raise ShapeError(what, code="dtype", arg=given[0][0],
                     hint=f"declare the mask bool or {q.dtype} (input mask: bool[...])")


def mask_dtypes(query: str) -> str:
    """The dtypes torch's attention takes for a mask with a query of this dtype."""
    return "bool or float32" if query == "float32" else f"bool, float32 or the query's dtype {query}"


@dataclass(frozen=True)
class MaskNames:
    """The names one attention's masks have at a layer's call (MultiheadAttention's own, or a
    Transformer layer's ``src_mask``, ``src_key_padding_mask``, ``is_causal``) and the words for
    its sequences in messages; ``keys`` None: self-attention."""

    attn: str = "attn_mask"
    padding: str = "key_padding_mask"
    causal: str = "is_causal"
    query: str = "a query"
    keys: str | None = "keys"


def check_masks(q: TensorType, k: TensorType, masks: dict, heads: int, batch_first: bool,
                is_causal: bool, names: MaskNames = MaskNames()) -> None:
    """torch's checks of one attention's masks (``F.multi_head_attention_forward``): an attention
    mask (L, S) or (N·heads, L, S) (unbatched: (L, S) or (heads, L, S)), a key padding mask (N, S)
    (unbatched: (S,)), each bool or floating point, and ``is_causal``, a hint that needs the mask.

    With is_causal and no padding mask, torch's training path uses the causal hint and never
    reads the mask (any float dtype passes); its inference fast path (eval, no grad) adds the
    mask, and raises for one of the wrong shape: the shape is checked in every case."""
    n, lq = _seq(q, batch_first)
    s = _seq(k, batch_first)[1]
    am, kpm = masks.get(names.attn), masks.get(names.padding)
    if is_causal and am is None:
        raise ShapeError(f"{names.causal}=true is a hint that {names.attn} is the causal mask: "
                         f"torch needs {names.attn} with it", code="invalid-argument", arg=names.causal,
                         hint=f"also give {names.attn}=mask, a {shape_str((lq, s))} bool mask true above "
                              f"the diagonal (declared e.g. input mask: bool[...]), or leave "
                              f"{names.causal} out")
    lengths = (f"{names.query} of length {lq}" if names.keys is None else
               f"{names.query} of length {lq} and {names.keys} of length {s}")
    if am is not None:
        _canonical(names.attn, am)
        full = (n * heads if len(q.shape) == 3 else heads, lq, s)
        if len(am.shape) not in (2, 3):
            raise ShapeError(f"{names.attn} must be 2-d (L, S) or 3-d (N·num_heads, L, S), got "
                             f"{len(am.shape)}-d {shape_str(am.shape)}", code="shape-rank", arg=names.attn,
                             hint=f"for {lengths}: {shape_str(full[1:])} or {shape_str(full)}")
        want = full[1:] if len(am.shape) == 2 else full
        if tuple(am.shape) != tuple(want):
            rows = ("" if len(want) == 2 else
                    f" ({heads} heads" + (f" × batch {n})" if len(q.shape) == 3 else ")"))
            raise ShapeError(f"{names.attn} must be {shape_str(want)} for {lengths}{rows}, got "
                             f"{shape_str(am.shape)}", arg=names.attn,
                             hint=f"declare it {shape_str(full[1:])}, one mask for every batch item and "
                                  f"head, or {shape_str(full)}, one each")
    if kpm is not None:
        _canonical(names.padding, kpm)
        want = (n, s) if len(q.shape) == 3 else (s,)
        if tuple(kpm.shape) != want:
            raise ShapeError(f"{names.padding} must be {shape_str(want)} (batch, length of "
                             f"{names.keys or names.query}), got {shape_str(kpm.shape)}", arg=names.padding,
                             code="shape-rank" if len(kpm.shape) != len(want) else "shape-mismatch",
                             hint="true (or -inf) marks the padded key positions")
    dropped = is_causal and kpm is None  # the training path attends causally, without the mask
    _mask_dtypes(q, [(nm, m) for nm, m in ((names.attn, am), (names.padding, kpm))
                     if m is not None and not (dropped and nm == names.attn)])


def mask_kwargs(masks: dict, flags: dict) -> str:
    """``, attn_mask=m, is_causal=True``: the given masks and the flags that are on."""
    parts = [f"{n}={v}" for n, v in masks.items()]
    parts += [f"{n}=True" for n, on in flags.items() if on]
    return "".join(f", {x}" for x in parts)


# ----------------------------------------------------------------- layers
@register
class MultiheadAttention(ExplicitBatchFirst):
    """Attention from a query to key and value sequences (one input: self-attention; two: key = value).

    ``embed_dim``, ``kdim`` and ``vdim`` are inferred; the layer returns the attention output only.
    """

    opaque_state = True  # submodules' tensors (out_proj, linear1, ...) are in its state_dict

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
        _ranks(q, [("key", k), ("value", v)])
        _embed(p, "embed_dim", "num_heads", q)
        for name, x in (("kdim", k), ("vdim", v)):
            check_given(p, name, need_concrete(x.shape[-1], f"{name} (the last dimension)"))
        if k.shape[:-1] != v.shape[:-1]:
            raise ShapeError(f"key {shape_str(k.shape)} and value {shape_str(v.shape)} must agree "
                             "in every dimension but the last",
                             hint="keys and values come in pairs: one of each per source position")
        _same_batch(q, k, p.batch_first, ("the query", "the key"))
        check_masks(q, k, masks, p.num_heads, p.batch_first, p.is_causal)
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
        return f"{call}({q}, {k}, {v}{mask_kwargs(masks, {'is_causal': p.is_causal})}, need_weights=False)[0]"

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



@register
class scaled_dot_product_attention(Layer):
    """``torch.nn.functional.scaled_dot_product_attention(q, k, v)``: softmax(q kᵀ · scale + mask) v,
    from (..., L, E), (..., S, E) and (..., S, Ev) to (..., L, Ev), the batch dims broadcast; no
    module, no parameters. ``attn_mask=m`` is bool (true: may attend, the opposite of
    MultiheadAttention's masks) or float (added to the scores) and broadcasts to (..., L, S);
    ``is_causal=true`` makes the causal mask itself (not with attn_mask); ``enable_gqa=true`` lets
    key and value have fewer heads (dim -3) than the query; ``dropout_p`` applies in training only."""

    expression = True
    needs_float = True
    category = "attention"
    n_inputs = (3, 3)
    tensor_args = ("attn_mask",)

    class Params(Params):
        attn_mask: bool = False  # a tensor argument: attn_mask=mask
        dropout_p: Prob = 0.0
        is_causal: bool = False
        scale: float | None = None
        enable_gqa: bool = False

    def _batches(self, p, q: TensorType, k: TensorType, v: TensorType) -> tuple[tuple, tuple]:
        """The batch dims of the attention weights (query with key) and of the output (with value)."""
        kb, vb = k.shape[:-2], v.shape[:-2]
        if p.enable_gqa:  # key and value repeat their heads (dim -3) up to the query's
            for name, x in (("query", q), ("key", k), ("value", v)):
                if len(x.shape) < 3:
                    raise ShapeError(f"enable_gqa groups the heads, dim -3: the {name} {shape_str(x.shape)} "
                                     "has no dim -3", code="shape-rank", arg="enable_gqa",
                                     hint="give query, key and value as (..., heads, length, features)")
            hq = q.shape[-3]
            for name, x in (("key", k), ("value", v)):
                h = x.shape[-3]
                if h != hq and h != 1:
                    nq = need_concrete(hq, "the query's heads (dim -3)", "enable_gqa")
                    if nq % need_concrete(h, f"the {name}'s heads (dim -3)", "enable_gqa"):
                        raise ShapeError(f"enable_gqa: the {name}'s {h} heads (dim -3) must divide the "
                                         f"query's {hq}", arg="enable_gqa",
                                         hint=f"use key and value heads that divide {hq}")
            kb, vb = k.shape[:-3] + (hq,), v.shape[:-3] + (hq,)
        scores = broadcast([q.shape[:-2], kb])
        if scores is None:
            raise ShapeError(f"the batch dims of the query {shape_str(q.shape)} and the key "
                             f"{shape_str(k.shape)}, {shape_str(q.shape[:-2])} and {shape_str(kb)}, do not "
                             "broadcast", hint="batch dims (all but the last two) must be equal or 1")
        out = broadcast([scores, vb])
        if out is None:
            raise ShapeError(f"the batch dims of the value {shape_str(v.shape)}, {shape_str(vb)}, do not "
                             f"broadcast with the query's and key's {shape_str(scores)}",
                             hint="batch dims (all but the last two) must be equal or 1")
        return scores, out

    @staticmethod
    def _fused(p, q: TensorType, k: TensorType, v: TensorType) -> bool:
        """Whether torch 2.13 on the CPU takes its fused kernel (flash attention) rather than the
        reference one: 4-d tensors, one batch size, the key's and value's head counts equal and
        the query's too (enable_gqa: a multiple of theirs); dropout off (evaluation)."""
        if not all(len(x.shape) == 4 for x in (q, k, v)):
            return False
        return (q.shape[0] == k.shape[0] == v.shape[0] and k.shape[1] == v.shape[1]
                and (q.shape[1] == k.shape[1] or p.enable_gqa))

    def infer(self, p, ins):
        (q, k, v), masks = self.split_inputs(p, ins)
        for name, x, rows in (("query", q, "L"), ("key", k, "S"), ("value", v, "S")):
            if len(x.shape) < 2:
                raise ShapeError(f"the {name} must have at least 2 dims (..., {rows}, features), got "
                                 f"{len(x.shape)}-d {shape_str(x.shape)}", code="shape-rank",
                                 hint="unsqueeze it: a sequence of one is (1, features)")
        _same_dtype([q, k, v], "query, key and value")
        if q.shape[-1] != k.shape[-1]:
            raise ShapeError(f"the query {shape_str(q.shape)} and the key {shape_str(k.shape)} must have one "
                             f"feature size E (the last dim), got {q.shape[-1]} and {k.shape[-1]}",
                             hint="project them to one size first (Linear)")
        if k.shape[-2] != v.shape[-2]:
            raise ShapeError(f"the key {shape_str(k.shape)} and the value {shape_str(v.shape)} must have "
                             f"one length S (dim -2), got {k.shape[-2]} and {v.shape[-2]}",
                             hint="keys and values come in pairs: one of each per source position")
        scores, batch = self._batches(p, q, k, v)
        lq, s = q.shape[-2], k.shape[-2]
        m = masks.get("attn_mask")
        if m is not None:
            if p.is_causal:
                raise ShapeError("is_causal=true makes the causal mask itself: torch raises when "
                                 "attn_mask is given too", code="invalid-argument", arg="is_causal",
                                 hint="give one of them: attn_mask=mask, or is_causal=true")
            if m.dtype != "bool" and m.dtype not in ("float32", q.dtype):
                raise ShapeError(f"attn_mask must be {mask_dtypes(q.dtype)}, got {m.dtype}",
                                 code="dtype", arg="attn_mask",
                                 hint="a bool mask is true where attention is allowed; a float mask is "
                                      "added to the scores")
            weights = scores + (lq, s)
            if len(m.shape) < 2 and self._fused(p, q, k, v):
                raise ShapeError(f"attn_mask {shape_str(m.shape)} needs at least 2 dims here: with 4-d "
                                 "query, key and value of one batch size and head count, torch runs its "
                                 "fused attention kernel, which raises for a 1-d mask", code="shape-rank",
                                 arg="attn_mask", hint=f"declare it ({', '.join(['1', *map(str, m.shape)])})")
            if broadcast([weights, m.shape]) != weights:
                raise ShapeError(f"attn_mask {shape_str(m.shape)} must broadcast to the attention "
                                 f"weights {shape_str(weights)} (batch dims, L={lq}, S={s})",
                                 code="shape-rank" if len(m.shape) > len(weights) else "shape-mismatch",
                                 arg="attn_mask",
                                 hint=f"({lq}, {s}) is shared by every batch item; a dim of 1 is repeated")
        return [TensorType(batch + (lq, v.shape[-1]), q.dtype)]

    def forward(self, p, call, args):
        (q, k, v), masks = self.split_inputs(p, args)
        parts = [q, k, v] + [f"{n}={t}" for n, t in masks.items()]
        if p.dropout_p:  # torch applies it whenever it is given: only in training, as nn.Dropout
            parts.append(f"dropout_p=({pyfmt.literal(p.dropout_p)} if self.training else 0.0)")
        if p.is_causal:
            parts.append("is_causal=True")
        if p.scale is not None:
            parts.append(f"scale={pyfmt.literal(p.scale)}")
        if p.enable_gqa:
            parts.append("enable_gqa=True")
        return f"torch.nn.functional.scaled_dot_product_attention({', '.join(parts)})"

    def macs(self, p, ins, outs):
        """Scores q kᵀ (L·S·E each) and their weighted sum of the values (L·S·Ev each)."""
        (q, k, v), _ = self.split_inputs(p, ins)
        scores, batch = self._batches(p, q, k, v)
        lq, s = q.shape[-2], k.shape[-2]
        return numel(scores) * lq * s * q.shape[-1] + numel(batch) * lq * s * v.shape[-1]

    def label(self, p, ins):
        return ", ".join(x for x, on in (("causal", p.is_causal), ("masked", p.attn_mask),
                                         ("gqa", p.enable_gqa)) if on)

    samples = (
        Sample({}, ((2, 3, 4), (2, 5, 4), (2, 5, 6))),
        Sample({"attn_mask": True}, ((2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 6), (3, 5)),
               ("float32", "float32", "float32", "bool")),
        Sample({"is_causal": True, "scale": 0.5}, ((4, 4), (6, 4), (6, 2))),
        Sample({"dropout_p": 0.5, "attn_mask": True}, ((1, 2, 3, 4), (2, 1, 5, 4), (2, 1, 5, 6), (2, 1, 1, 5))),
        Sample({"enable_gqa": True}, ((2, 4, 3, 4), (2, 2, 5, 4), (2, 1, 5, 6))),
        Sample({"attn_mask": True, "enable_gqa": True}, ((4, 6, 2), (2, 3, 2), (1, 3, 5), (4, 1, 3)),
               ("float64", "float64", "float64", "float32")),
        Sample({}, ((3, 4), (2, 5, 4), (5, 6))),
        Sample({"attn_mask": True}, ((2, 3, 4), (2, 5, 4), (2, 5, 6), (5,)), ("float32", "float32", "float32", "bool")),
    )
