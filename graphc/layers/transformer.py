"""The transformer layers: nn.TransformerEncoderLayer, nn.TransformerDecoderLayer and
nn.TransformerEncoder, with their masks (docs/language.md, "Attention masks").

Sequences are (B, T, d_model) (batch_first=False: (T, B, d_model)) or unbatched (T, d_model).
Each attention inside checks its masks as MultiheadAttention does (graphc.layers.attention).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from graphc.layers.attention import (
    MaskNames,
    _attention_macs,
    _attention_weights,
    _embed,
    _ranks,
    _same_batch,
    _same_dtype,
    _seq,
    check_masks,
    mask_kwargs,
)
from graphc.layers.base import (
    Ctor,
    Field,
    Params,
    PosInt,
    Prob,
    Sample,
    ShapeError,
    TensorType,
    need_rank,
    register,
)
from graphc.layers.recurrent import ExplicitBatchFirst
from graphc.shapes import Dim, shape_str

F32, BOOL = "float32", "bool"


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
    opaque_state = True  # submodules' tensors (self_attn, linear1, norm1...) are in its state_dict
    category = "attention"
    positional = ("nhead", "dim_feedforward")
    ctor_positional = 2
    Params = _TransformerParams
    attentions = 1  # self-attention, plus cross-attention in a decoder
    # the forward's flags (is_causal): like the tensor arguments, not constructor arguments
    flags: ClassVar[tuple[str, ...]] = ()

    def ctor(self, p, ins):
        return {**p.model_dump(exclude={*self.tensor_args, *self.flags}), "d_model": ins[0].shape[-1]}

    def forward(self, p, call, args):
        args, masks = self.split_inputs(p, args)
        return f"{call}({', '.join(args)}{mask_kwargs(masks, {f: getattr(p, f) for f in self.flags})})"

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


class _EncoderLayerParams(_TransformerParams):
    src_mask: bool = False              # a tensor argument: src_mask=mask, (T, T) or (N·nhead, T, T)
    src_key_padding_mask: bool = False  # a tensor argument: (N, T), true at padded positions
    is_causal: bool = False             # torch's hint that src_mask is the causal mask


@register
class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention and a feed-forward block over (B, T, d_model); ``d_model`` is inferred. Masks:
    ``src_mask=m`` ((T, T) or (B·nhead, T, T)), ``src_key_padding_mask=p`` ((B, T)), ``is_causal``."""

    torch_name = "nn.TransformerEncoderLayer"
    Params = _EncoderLayerParams
    tensor_args = ("src_mask", "src_key_padding_mask")
    flags = ("is_causal",)
    mask_names: ClassVar[MaskNames] = MaskNames("src_mask", "src_key_padding_mask", "is_causal", "src", None)

    def infer(self, p, ins):
        (x,), masks = self.split_inputs(p, ins)
        need_rank(x, (2, 3), "(B, T, d_model) or unbatched (T, d_model)")
        _embed(p, "d_model", "nhead", x)
        check_masks(x, x, masks, p.nhead, p.batch_first, p.is_causal, self.mask_names)
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
        Sample({"nhead": 2, "dim_feedforward": 8, "src_mask": True, "is_causal": True},
               ((2, 5, 8), (5, 5)), (F32, BOOL)),
        Sample({"nhead": 2, "dim_feedforward": 8, "batch_first": False, "src_mask": True,
                "src_key_padding_mask": True}, ((5, 2, 8), (4, 5, 5), (2, 5)), (F32, F32, F32)),
        Sample({"nhead": 3, "dim_feedforward": 4, "src_mask": True, "src_key_padding_mask": True},
               ((4, 6), (3, 4, 4), (4,)), (F32, BOOL, BOOL)),
    )


class _DecoderLayerParams(_TransformerParams):
    tgt_mask: bool = False                 # tensor arguments: (T, T) or (N·nhead, T, T)
    memory_mask: bool = False              # (T, S) or (N·nhead, T, S)
    tgt_key_padding_mask: bool = False     # (N, T)
    memory_key_padding_mask: bool = False  # (N, S)
    tgt_is_causal: bool = False            # torch's hint that tgt_mask is the causal mask
    memory_is_causal: bool = False         # ... that memory_mask is


@register
class TransformerDecoderLayer(_TransformerLayer):
    """Self-attention over tgt, attention to memory and a feed-forward block; inputs tgt, memory.
    Masks: ``tgt_mask`` ((T, T) or (B·nhead, T, T)), ``memory_mask`` ((T, S) or (B·nhead, T, S)),
    ``tgt_key_padding_mask`` ((B, T)), ``memory_key_padding_mask`` ((B, S)), ``tgt_is_causal``,
    ``memory_is_causal``."""

    torch_name = "nn.TransformerDecoderLayer"
    n_inputs = (2, 2)
    attentions = 2
    Params = _DecoderLayerParams
    tensor_args = ("tgt_mask", "memory_mask", "tgt_key_padding_mask", "memory_key_padding_mask")
    flags = ("tgt_is_causal", "memory_is_causal")

    def infer(self, p, ins):
        (tgt, memory), masks = self.split_inputs(p, ins)
        _same_dtype([tgt, memory], "tgt and memory")
        _ranks(tgt, [("memory", memory)], "tgt")
        d = _embed(p, "d_model", "nhead", tgt)
        if memory.shape[-1] != d:
            raise ShapeError(f"memory {shape_str(memory.shape)} must have d_model={d} features "
                             f"like tgt, got {memory.shape[-1]}",
                             hint="project the memory to d_model first (Linear)")
        _same_batch(tgt, memory, p.batch_first, ("tgt", "memory"))
        check_masks(tgt, tgt, masks, p.nhead, p.batch_first, p.tgt_is_causal,
                    MaskNames("tgt_mask", "tgt_key_padding_mask", "tgt_is_causal", "tgt", None))
        check_masks(tgt, memory, masks, p.nhead, p.batch_first, p.memory_is_causal,
                    MaskNames("memory_mask", "memory_key_padding_mask", "memory_is_causal", "tgt", "memory"))
        return [TensorType(tgt.shape, tgt.dtype)]

    def macs(self, p, ins, outs):
        (tgt, memory), _ = self.split_inputs(p, ins)
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
        Sample({"nhead": 2, "dim_feedforward": 8, "tgt_mask": True, "tgt_is_causal": True},
               ((2, 5, 8), (2, 7, 8), (5, 5)), (F32, F32, BOOL)),
        Sample({"nhead": 2, "dim_feedforward": 8, "memory_mask": True, "memory_is_causal": True,
                "tgt_key_padding_mask": True, "memory_key_padding_mask": True},
               ((2, 5, 8), (2, 7, 8), (4, 5, 7), (2, 5), (2, 7)), (F32, F32, BOOL, BOOL, BOOL)),
        Sample({"nhead": 1, "dim_feedforward": 8, "batch_first": False, "tgt_mask": True, "memory_mask": True,
                "memory_key_padding_mask": True}, ((5, 2, 6), (3, 2, 6), (2, 5, 5), (5, 3), (2, 3)),
               (F32, F32, BOOL, BOOL, BOOL)),
        Sample({"nhead": 3, "dim_feedforward": 4, "memory_mask": True, "tgt_key_padding_mask": True},
               ((4, 6), (2, 6), (3, 4, 2), (4,)), (F32, F32, F32, F32)),
    )


class _EncoderParams(_TransformerParams):
    num_layers: PosInt
    enable_nested_tensor: bool = True
    mask: bool = False                  # tensor arguments, as TransformerEncoderLayer's src_mask
    src_key_padding_mask: bool = False  # and src_key_padding_mask
    is_causal: bool = False


@register
class TransformerEncoder(TransformerEncoderLayer):
    """``num_layers`` TransformerEncoderLayers in sequence (torch deep-copies one layer); ``d_model``
    is inferred. Emitted as nn.TransformerEncoder(encoder_layer=nn.TransformerEncoderLayer(...), ...).
    Masks: ``mask=m`` ((T, T) or (B·nhead, T, T)), ``src_key_padding_mask=p`` ((B, T)),
    ``is_causal``; every layer gets them."""

    torch_name = "nn.TransformerEncoder"
    positional = ("nhead", "num_layers", "dim_feedforward")
    ctor_positional = 0
    Params = _EncoderParams
    tensor_args = ("mask", "src_key_padding_mask")
    mask_names = MaskNames("mask", "src_key_padding_mask", "is_causal", "src", None)

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
        Sample({"nhead": 2, "num_layers": 2, "dim_feedforward": 8, "mask": True, "is_causal": True},
               ((2, 5, 8), (5, 5)), (F32, BOOL)),
        Sample({"nhead": 2, "num_layers": 2, "dim_feedforward": 8, "mask": True, "src_key_padding_mask": True},
               ((2, 5, 8), (4, 5, 5), (2, 5)), (F32, BOOL, BOOL)),
    )
