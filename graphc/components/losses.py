"""Losses: ``loss = CrossEntropyLoss(label_smoothing=0.1)`` in a training section.

A loss says what targets it wants (``target``: class labels, 0/1 labels or real
values), checks the model's output against them (``fits``) and the layer the model
ends with (``last_layer``: an activation the loss applies itself).  Samples are
output shapes the registry test computes the loss on, with targets of the loss's
kind made the way the training script makes them.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

from graphc.components.base import Component, NonNeg, Params, Pos, Sample, Unit, register
from graphc.shapes import shape_str


class _Reduction(Params):
    reduction: Literal["mean", "sum"] = "mean"


class Loss(Component):
    kind = "loss"
    positional = ()  # torch's losses take weight= (a tensor) or deprecated arguments first
    target: ClassVar[Literal["class", "binary", "regression", "none"]]
    threshold: ClassVar[float] = 0.0  # a binary loss's outputs above it predict 1 (0.5: probabilities)
    #: how many of the model's outputs the loss takes: 1 (with a target), or more and no target
    #: (a VAE's KL term of ``mu`` and ``logvar``)
    outputs: ClassVar[int] = 1
    #: source text of what ``code`` calls when it is not torch's (defined once in the script)
    helper: ClassVar[str] = ""

    def code(self, p: Params) -> str:
        return f"{self.torch_name}({', '.join(self.kwargs(p))})"

    def fits(self, out: tuple, out_name: str, data: str, task: str, classes: int | None):
        """(message, hint) for each way the output ``out`` (batch first) or the data set's
        targets (``task``: class, regression or file; ``classes``) do not fit this loss."""
        if task == "class" and self.target == "regression":
            return [(f"{self.name} is a regression loss, but {data}() has class labels",
                     "use CrossEntropyLoss (or BCEWithLogitsLoss for two classes)")]
        if task == "regression" and self.target != "regression":
            return [(f"{self.name} needs class labels, but {data}() has real-valued targets",
                     "use MSELoss, L1Loss, SmoothL1Loss or HuberLoss")]
        if self.target == "class":
            if len(out) < 2:
                return [(f"{self.name} needs (B, C) class scores, but output '{out_name}' is {shape_str(out)}",
                         None)]
            if task == "class" and len(out) > 2:
                return [(f"{data}() has one label per sample, but output '{out_name}' is {shape_str(out)}: "
                         f"{self.name} would need a label per position {shape_str((out[0], *out[2:]))}",
                         "pool or flatten to (B, C) before the last Linear")]
            # (B, T, V) sequence scores are compared with labels per position, which only files give
            # (training_tasks.check_positions): a data set with classes has one label per sample
            if classes is not None and len(out) != 3 and isinstance(out[1], int) and out[1] != classes:
                return [(f"{data}() has {classes} classes, but output '{out_name}' gives {out[1]} scores "
                         f"{shape_str(out)}", f"end the model with Linear({classes})")]
        elif self.target == "binary":
            if classes not in (None, 2):
                return [(f"{self.name} is for two classes, but {data}() has {classes}", "use CrossEntropyLoss")]
            if out[1:] not in ((), (1,)):
                return [(f"{self.name} needs one score per sample, (B,) or (B, 1), but output '{out_name}' "
                         f"is {shape_str(out)}", "end the model with Linear(1)")]
        elif task == "regression" and out[1:] not in ((), (1,)):
            return [(f"{data}() has one target per sample, but output '{out_name}' is {shape_str(out)}",
                     "end the model with Linear(1)")]
        return []

    def last_layer(self, layer) -> tuple[str, str, str, bool] | None:
        """(code, message, hint, at the layer) when the layer the model ends with (its record:
        ``kind``, ``output_range``) does not suit this loss: an activation the loss applies itself,
        values outside what the loss takes.  ``at the layer``: report it there, not at the loss."""
        return None


class _Regression(Loss):
    target = "regression"
    samples = (Sample({}, (4, 1)), Sample({"reduction": "sum"}, (5,)), Sample({}, (3, 2)))


@register
class MSELoss(_Regression):
    """Mean squared error."""

    torch_name = "nn.MSELoss"
    Params = _Reduction


@register
class L1Loss(_Regression):
    """Mean absolute error."""

    torch_name = "nn.L1Loss"
    Params = _Reduction


@register
class SmoothL1Loss(_Regression):
    """Squared error below ``beta``, absolute error above."""

    torch_name = "nn.SmoothL1Loss"
    samples = (*_Regression.samples, Sample({"beta": 0.5}, (4, 3)), Sample({"beta": 0.0}, (4,)))

    class Params(_Reduction):
        beta: NonNeg = 1.0


@register
class HuberLoss(_Regression):
    """Squared error below ``delta``, linear above (SmoothL1Loss scaled by delta)."""

    torch_name = "nn.HuberLoss"
    positional = ("reduction", "delta")
    samples = (*_Regression.samples, Sample({"delta": 0.1}, (4, 3)))

    class Params(_Reduction):
        delta: Pos = 1.0


class _Binary(Loss):
    target = "binary"
    samples = (Sample({}, (4, 1)), Sample({"reduction": "sum"}, (6,)), Sample({}, (4, 3), rejects=True))


@register
class BCELoss(_Binary):
    """Binary cross-entropy of probabilities (the model ends with a Sigmoid)."""

    torch_name = "nn.BCELoss"
    Params = _Reduction
    threshold = 0.5

    def last_layer(self, layer):
        lo, hi = layer.output_range or (-math.inf, math.inf)
        if lo < 0 or hi > 1:  # torch's BCELoss raises on any value outside [0, 1]
            return ("loss-mismatch", f"BCELoss needs probabilities in [0, 1], but the model ends with "
                    f"{layer.kind}, whose values are not confined to [0, 1]",
                    "end the model with Sigmoid, or use BCEWithLogitsLoss, which takes raw scores", False)
        return None


@register
class BCEWithLogitsLoss(_Binary):
    """Binary cross-entropy of raw scores; applies the sigmoid itself."""

    torch_name = "nn.BCEWithLogitsLoss"
    Params = _Reduction

    def last_layer(self, layer):
        if layer.kind == "Sigmoid":
            return ("activation-before-loss", "Sigmoid before BCEWithLogitsLoss: the loss applies the sigmoid itself",
                    "remove the Sigmoid, or use BCELoss", True)
        return None


class _Class(Loss):
    target = "class"
    samples = (Sample({}, (4, 10)), Sample({"reduction": "sum", "ignore_index": 3}, (5, 3)),
               Sample({}, (2, 4, 7)), Sample({}, (4,), rejects=True))


@register
class CrossEntropyLoss(_Class):
    """Cross-entropy of class scores against labels (or class probabilities); applies log-softmax."""

    torch_name = "nn.CrossEntropyLoss"
    samples = (*_Class.samples, Sample({"label_smoothing": 0.1}, (4, 10)))

    class Params(_Reduction):
        label_smoothing: Unit = 0.0
        ignore_index: int = -100

    def last_layer(self, layer):
        if layer.kind == "Softmax":
            return ("activation-before-loss", "Softmax before CrossEntropyLoss: the loss applies log-softmax itself",
                    "remove the Softmax (apply it at inference time)", True)
        return None


@register
class NLLLoss(_Class):
    """Negative log-likelihood of log-probabilities (the model ends with LogSoftmax) against labels."""

    torch_name = "nn.NLLLoss"

    def last_layer(self, layer):
        lo, hi = layer.output_range or (-math.inf, math.inf)
        if hi > 0:  # raw scores make the loss fall without end: training learns nothing
            return ("activation-before-loss", f"NLLLoss needs log-probabilities, but the model ends with "
                    f"{layer.kind}, not LogSoftmax", "end the model with LogSoftmax(dim=1), or use "
                    "CrossEntropyLoss on raw scores", False)
        return None

    class Params(_Reduction):
        ignore_index: int = -100


@register
class MultiMarginLoss(_Class):
    """Multi-class hinge loss of (B, C) class scores against labels."""

    torch_name = "nn.MultiMarginLoss"
    positional = ("p", "margin")
    samples = (Sample({}, (4, 10)), Sample({"p": 2, "margin": 0.5, "reduction": "sum"}, (5, 3)),
               Sample({}, (2, 4, 7), rejects=True), Sample({}, (4,), rejects=True))

    class Params(Params):
        p: Literal[1, 2] = 1
        margin: float = 1.0
        reduction: Literal["mean", "sum"] = "mean"

    def fits(self, out, out_name, data, task, classes):
        if len(out) > 2:
            return [(f"MultiMarginLoss needs (B, C) class scores, but output '{out_name}' is {shape_str(out)}",
                     "flatten the output, or use CrossEntropyLoss, which takes (B, C, ...)")]
        return super().fits(out, out_name, data, task, classes)


@register
class KLDivNormal(Loss):
    """A VAE's latent term, `KLDivNormal(mu, logvar)`: KL of N(mu, exp(logvar)) from N(0, 1), of two outputs."""

    torch_name = None  # no torch class: torch.distributions.kl_divergence of two Normals computes the same
    reference = "torch.distributions.kl_divergence"
    target = "none"
    outputs = 2
    own_defaults = {"reduction": "no torch class: batchmean is the KL of each sample, averaged over the batch"}
    samples = (Sample({}, (4, 2)), Sample({"reduction": "sum"}, (5, 3)), Sample({"reduction": "mean"}, (3, 4)),
               Sample({}, (2, 3, 4)))

    class Params(Params):
        reduction: Literal["batchmean", "sum", "mean"] = "batchmean"

    helper = '''
class _KLDivNormal(nn.Module):
    """KL(N(mu, exp(logvar)) || N(0, 1)), summed over each sample's dimensions: batchmean (the mean
    over the batch), sum, or mean over every element."""

    def __init__(self, reduction="batchmean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, mu, logvar):
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
        if self.reduction == "mean":
            return kl.mean()
        return kl.sum() / len(kl) if self.reduction == "batchmean" else kl.sum()
'''

    def code(self, p):
        return f"_KLDivNormal({', '.join(self.kwargs(p))})"

    def fits_outputs(self, shapes, names) -> list[tuple[str, str | None]]:
        """The outputs it takes (batch first) against each other: mu and logvar of one shape."""
        (a, b), (na, nb) = shapes, names
        if shape_str(a) != shape_str(b):
            return [(f"KLDivNormal compares mu '{na}' {shape_str(a)} with logvar '{nb}' {shape_str(b)}: they must "
                     "have the same shape", "give both from Linear layers of the same size")]
        return []
