"""Learned tensors that are not layers, and the operation that puts one beside a batch.

``param pos: [1, N, D] = normal(std=0.02)`` (docs/language.md, "Learned tensors") is lowered
into a node of :class:`LearnedTensor`: no input, one output of the declared shape and dtype,
as many parameters as it has elements.  It is not registered: it is no layer a ``.model``
file calls, only the record the lowering, inference, summaries and diagrams read.

``expand(t, x)`` is registered: ``t`` with its size-1 dim ``dim`` (the batch, by default)
expanded to ``x``'s size there, a view, as torchvision's ViT expands its class token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from graphc.layers.base import Layer, Params, Sample, ShapeError, TensorType, register
from graphc.pyfmt import literal
from graphc.shapes import normalize_dim, shape_str

#: The node kind of a learned tensor (graphc.graph.Node.kind), as the summary and diagrams show it.
PARAM_KIND = "param"


@dataclass(frozen=True)
class LearnedParams:
    """What a ``param`` statement declares: the shape (integers), the dtype, the initializer
    (a graphc.initializers.Init, its arguments checked)."""

    shape: tuple[int, ...]
    dtype: str
    init: Any

    def model_dump(self) -> dict[str, Any]:
        return {"shape": self.shape, "dtype": self.dtype, "init": self.init.name}


class LearnedTensor(Layer):
    """A learned tensor: ``nn.Parameter`` of the declared shape, set by its initializer."""

    kind = PARAM_KIND
    torch_name = "nn.Parameter"
    category = "param"
    n_inputs = (0, 0)

    def infer(self, p: LearnedParams, ins):
        return [TensorType(p.shape, p.dtype)]

    def param_count(self, p: LearnedParams, ins) -> int:
        return math.prod(p.shape)

    def ctor(self, p: LearnedParams, ins) -> dict[str, Any]:
        """Every value the constructor writes, by key: ``size0``, ``size1``... and the
        initializer's arguments by their names (graphc.emit.learned writes them)."""
        return {**{f"size{i}": d for i, d in enumerate(p.shape)}, **p.init.params.model_dump()}

    def forward(self, p, call, args):
        return call

    def label(self, p: LearnedParams, ins):
        info = p.init.info
        return f"{p.init.name}({', '.join(info.kwargs(p.init.params))})"


LEARNED = LearnedTensor()


@register
class expand(Layer):  # noqa: N801 - the name a .model file writes
    """``t.expand(...)``: ``t`` with its size-1 dim ``dim`` (the batch, dim 0, by default) expanded
    to the size of the second tensor's, the other dims kept: ``expand(class_token, x)`` is
    torchvision's ``class_token.expand(x.shape[0], -1, -1)``.  Both tensors have one rank; a view,
    no copy."""

    category = "reshape"
    n_inputs = (2, 2)
    positional = ("dim",)

    class Params(Params):
        dim: int = 0

    def infer(self, p, ins):
        t, like = ins
        if len(t.shape) != len(like.shape) or not t.shape:
            raise ShapeError(f"expands a tensor to the size of another of the same rank, got "
                             f"{len(t.shape)}-d {shape_str(t.shape)} and {len(like.shape)}-d "
                             f"{shape_str(like.shape)}", code="shape-rank",
                             hint="give the tensor size-1 dims where the other has more: "
                                  "param t: [1, 1, D] beside x: [B, N, D]")
        d = normalize_dim(p.dim, len(t.shape))
        if d is None:
            r = len(t.shape)
            raise ShapeError(f"dim={p.dim} is out of range for {r}-d tensors", arg="dim",
                             code="shape-rank", hint=f"use a dim in [{-r}, {r - 1}]")
        have, want = t.shape[d], like.shape[d]
        if have != 1 and have != want:
            raise ShapeError(f"dim {d} of {shape_str(t.shape)} is {have}; only a size-1 dim expands "
                             f"(to {want}, as in {shape_str(like.shape)})", arg="dim",
                             hint="declare that dim as 1")
        shape = list(t.shape)
        shape[d] = want
        return [TensorType(tuple(shape), t.dtype)]

    def forward(self, p, call, args):
        t, like = args
        d = p.dim
        parts = [f"*{t}.shape[:{d}]"] if d != 0 else []
        parts.append(f"{like}.shape[{d}]")
        if d != -1:
            parts.append(f"*{t}.shape[{d + 1}:]")
        return f"{t}.expand({', '.join(parts)})"

    def label(self, p, ins):
        return f"dim={literal(p.dim)}"

    samples = (
        Sample({}, ((1, 1, 4), (3, 5, 4))),
        Sample({"dim": 1}, ((2, 1, 3), (2, 6, 3))),
        Sample({"dim": -1}, ((2, 3, 1), (2, 3, 5))),
        Sample({"dim": -2}, ((1, 1, 3), (4, 6, 3)), ("float32", "int64")),
        Sample({"dim": 0}, ((3, 2), (3, 7))),
    )
