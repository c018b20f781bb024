"""Optimizers: ``optimizer = AdamW(lr=3e-4, weight_decay=0.05)`` in a training section.

Every optimizer has ``lr`` (the training script's ``--lr`` overrides it), and takes
``groups=[(path, lr), ...]`` besides its schema: per-group learning rates, split off before the
call is bound and checked by graphc/training_weights.py, emitted as torch parameter groups
(``param_groups`` of the script).  Samples are
argument sets the registry test builds in torch and takes a step with; a sample with
``rejects`` is one torch refuses and graphc must refuse at check time.
"""

from __future__ import annotations

from graphc.components.base import Component, NonNeg, Params, Pos, Sample, Unit, register


class Optimizer(Component):
    kind = "optimizer"

    def state(self, p: Params) -> tuple[int, int]:
        """The optimizer's state per parameter tensor, as (tensors the size of the parameter,
        scalar tensors): what ``graphc summary --world-size`` counts; tests/test_memory_plan.py
        compares it with torch's state after a step."""
        return 0, 0

    def code(self, p: Params) -> str:
        """The constructor over ``params`` with the learning rate ``lr`` (names in the script)."""
        return f"{self.torch_name}({', '.join(['params', 'lr=lr', *self.kwargs(p, skip=('lr',))])})"


@register
class SGD(Optimizer):
    """Stochastic gradient descent, with momentum and Nesterov's momentum."""

    torch_name = "torch.optim.SGD"
    samples = (Sample({}), Sample({"lr": 0.1, "momentum": 0.9, "nesterov": True}),
               Sample({"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 1e-4}),
               Sample({"nesterov": True}, rejects=True),
               Sample({"momentum": 0.9, "dampening": 0.1, "nesterov": True}, rejects=True))

    def state(self, p):
        return (1 if p.momentum > 0 else 0), 0  # momentum_buffer

    class Params(Params):
        lr: Pos = 1e-3
        momentum: NonNeg = 0.0
        dampening: NonNeg = 0.0
        weight_decay: NonNeg = 0.0
        nesterov: bool = False

    def problems(self, p):
        if p.nesterov and (p.momentum <= 0 or p.dampening != 0):
            return [("SGD with nesterov=true needs momentum > 0 and dampening = 0",
                     "set momentum=0.9, or nesterov=false")]
        return []


class _AdamParams(Params):
    lr: Pos = 1e-3
    betas: tuple[Unit, Unit] = (0.9, 0.999)
    eps: Pos = 1e-8
    weight_decay: NonNeg = 0.0
    amsgrad: bool = False


@register
class Adam(Optimizer):
    """Adam: adaptive moments; weight decay added to the gradient."""

    torch_name = "torch.optim.Adam"
    def state(self, p):
        return (3 if p.amsgrad else 2), 1  # exp_avg, exp_avg_sq (max_exp_avg_sq); step

    Params = _AdamParams
    samples = (Sample({}), Sample({"lr": 0.01, "betas": (0.8, 0.99), "amsgrad": True, "weight_decay": 0.1,
                                          "eps": 1e-6}))


@register
class AdamW(Optimizer):
    """Adam with decoupled weight decay."""

    torch_name = "torch.optim.AdamW"
    samples = (Sample({}), Sample({"lr": 3e-4, "weight_decay": 0.05, "eps": 1e-6}),
               Sample({"betas": (0.9, 0.95), "amsgrad": True}))

    def state(self, p):
        return (3 if p.amsgrad else 2), 1  # exp_avg, exp_avg_sq (max_exp_avg_sq); step

    class Params(_AdamParams):
        weight_decay: NonNeg = 0.01


@register
class Adagrad(Optimizer):
    """Adagrad: per-parameter rates from the sum of squared gradients."""

    torch_name = "torch.optim.Adagrad"
    samples = (Sample({}), Sample({"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
               Sample({"weight_decay": 0.01, "eps": 1e-8}))

    def state(self, p):
        return 1, 1  # sum; step

    class Params(Params):
        lr: Pos = 0.01
        lr_decay: NonNeg = 0.0
        weight_decay: NonNeg = 0.0
        initial_accumulator_value: NonNeg = 0.0
        eps: Pos = 1e-10


@register
class RMSprop(Optimizer):
    """RMSprop: rates from a moving average of squared gradients."""

    torch_name = "torch.optim.RMSprop"
    samples = (Sample({}), Sample({"momentum": 0.9, "centered": True, "alpha": 0.9}),
               Sample({"lr": 1e-3, "eps": 1e-6, "weight_decay": 0.01}))

    def state(self, p):
        return 1 + (p.momentum > 0) + bool(p.centered), 1  # square_avg, momentum_buffer, grad_avg; step

    class Params(Params):
        lr: Pos = 0.01
        alpha: Unit = 0.99
        eps: Pos = 1e-8
        weight_decay: NonNeg = 0.0
        momentum: NonNeg = 0.0
        centered: bool = False


@register
class NAdam(Optimizer):
    """Adam with Nesterov's momentum."""

    torch_name = "torch.optim.NAdam"
    samples = (Sample({}), Sample({"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.01,
                                   "momentum_decay": 0.001, "decoupled_weight_decay": True}))

    def state(self, p):
        return 2, 2  # exp_avg, exp_avg_sq; step, mu_product

    class Params(Params):
        lr: Pos = 2e-3
        betas: tuple[Unit, Unit] = (0.9, 0.999)
        eps: Pos = 1e-8
        weight_decay: NonNeg = 0.0
        momentum_decay: NonNeg = 4e-3
        decoupled_weight_decay: bool = False
