"""Learning-rate schedulers: ``scheduler = CosineAnnealingLR()`` in a training section.

A scheduler says when the training script steps it (``step``: after each epoch,
after each batch, or with the validation loss) and whether it can follow the
linear warmup of ``warmup_epochs``.  ``code`` is its constructor in the script,
where ``optimizer``, ``epochs``, ``steps_per_epoch`` and ``WARMUP_EPOCHS`` are
names.  Samples are built in torch over an SGD optimizer and stepped for a few
epochs the way the script steps them.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from graphc.components.base import (
    Component,
    Field,
    NonNeg,
    NonNegInt,
    Open01,
    Params,
    Pos,
    PosInt,
    Sample,
    register,
)

PREFIX = "torch.optim.lr_scheduler."


class Scheduler(Component):
    kind = "scheduler"
    step: ClassVar[Literal["epoch", "batch", "plateau"]] = "epoch"
    after_warmup: ClassVar[bool] = True     # may follow warmup_epochs' linear warmup
    needs_validation: ClassVar[bool] = False

    def code(self, p: Params) -> str:
        return f"{self.torch_name}({', '.join(['optimizer', *self.kwargs(p)])})"

    def conflicts(self, p: Params, optimizer: Component) -> list[tuple[str, str | None]]:
        """(message, hint) for each reason this scheduler cannot drive ``optimizer``."""
        return []


@register
class StepLR(Scheduler):
    """Multiplies the rate by ``gamma`` every ``step_size`` epochs."""

    torch_name = PREFIX + "StepLR"
    samples = (Sample({"step_size": 2}), Sample({"step_size": 1, "gamma": 0.5}))

    class Params(Params):
        step_size: PosInt
        gamma: Pos = 0.1


@register
class MultiStepLR(Scheduler):
    """Multiplies the rate by ``gamma`` at each epoch of ``milestones``."""

    torch_name = PREFIX + "MultiStepLR"
    samples = (Sample({"milestones": (1, 3)}), Sample({"milestones": (2,), "gamma": 0.5}))

    class Params(Params):
        milestones: tuple[PosInt, ...]
        gamma: Pos = 0.1


@register
class ExponentialLR(Scheduler):
    """Multiplies the rate by ``gamma`` every epoch."""

    torch_name = PREFIX + "ExponentialLR"
    samples = (Sample({"gamma": 0.9}),)

    class Params(Params):
        gamma: Pos


@register
class CosineAnnealingLR(Scheduler):
    """Cosine decay from the rate to ``eta_min`` over ``T_max`` epochs (by default, every epoch
    after the warmup)."""

    torch_name = PREFIX + "CosineAnnealingLR"
    own_defaults = {"T_max": "torch requires it; graphc's default is the number of epochs after the warmup"}
    samples = (Sample({}), Sample({"T_max": 2, "eta_min": 1e-4}))

    class Params(Params):
        T_max: PosInt | None = None  # default: the number of epochs after the warmup
        eta_min: NonNeg = 0.0

    def code(self, p):
        from graphc import pyfmt

        t_max = pyfmt.literal(p.T_max) if p.T_max is not None else "max(1, epochs - WARMUP_EPOCHS)"
        extra = f", eta_min={pyfmt.literal(p.eta_min)}" if p.eta_min else ""
        return f"{self.torch_name}(optimizer, T_max={t_max}{extra})"


@register
class OneCycleLR(Scheduler):
    """One cycle per run: the rate rises to ``max_lr`` and anneals far below the start, stepped
    every batch; it has its own warmup (``pct_start``)."""

    torch_name = PREFIX + "OneCycleLR"
    step = "batch"
    after_warmup = False
    positional = ("max_lr",)
    samples = (Sample({"max_lr": 0.1}),
               Sample({"max_lr": 0.1, "pct_start": 0.5, "anneal_strategy": "linear", "three_phase": True}),
               Sample({"max_lr": 0.1, "cycle_momentum": False, "div_factor": 10.0}),
               Sample({"max_lr": 0.1, "base_momentum": 0.8, "max_momentum": 0.9, "final_div_factor": 100.0}))

    class Params(Params):
        max_lr: Pos
        pct_start: Open01 = 0.3
        anneal_strategy: Literal["cos", "linear"] = "cos"
        cycle_momentum: bool = True
        base_momentum: NonNeg = 0.85
        max_momentum: NonNeg = 0.95
        div_factor: Pos = 25.0
        final_div_factor: Pos = 1e4
        three_phase: bool = False

    def code(self, p):
        args = ["optimizer", *self.kwargs(p), "epochs=epochs", "steps_per_epoch=steps_per_epoch"]
        return f"{self.torch_name}({', '.join(args)})"

    def conflicts(self, p, optimizer):
        fields = optimizer.Params.model_fields
        if p.cycle_momentum and "momentum" not in fields and "betas" not in fields:
            return [(f"OneCycleLR cycles the momentum, but {optimizer.name} has none",
                     "set cycle_momentum=false, or use SGD, Adam, AdamW or RMSprop")]
        return []


@register
class ReduceLROnPlateau(Scheduler):
    """Multiplies the rate by ``factor`` when the validation loss stops improving."""

    torch_name = PREFIX + "ReduceLROnPlateau"
    step = "plateau"
    after_warmup = False
    needs_validation = True
    samples = (Sample({}), Sample({"mode": "max", "factor": 0.5, "patience": 0, "cooldown": 1,
                                   "threshold_mode": "abs", "min_lr": 1e-5}),
               Sample({"threshold": 0.01, "eps": 1e-6, "patience": 1}))

    class Params(Params):
        mode: Literal["min", "max"] = "min"
        factor: Open01 = 0.1
        patience: NonNegInt = 10
        threshold: NonNeg = 1e-4
        threshold_mode: Literal["rel", "abs"] = "rel"
        cooldown: NonNegInt = 0
        min_lr: NonNeg = 0.0
        eps: Annotated[float, Field(ge=0)] = 1e-8
