"""Per-group learning rates: ``optimizer = AdamW(lr=..., groups=[(path, lr), ...])``.

The generated script's optimizer is compared with one built by hand in torch over the same
module: the same groups, in the same order, with the same parameters and rates; the schedulers
scale every group as torch's do over the hand-built one.  Mistakes are found by graphc check."""

import itertools

import pytest
from conftest import build_scripts, import_generated

from graphc.api import compile_source

torch = pytest.importorskip("torch")

MODEL = """
block Stage(c) {{
    input x
    y = x -> conv: Conv2d(c, 3, padding=1) -> norm: BatchNorm2d -> ReLU
    output y
}}

model Net {{
    input image: [B, 1, 8, 8]
    param scale: [1]
    f = image -> backbone: (stem: Stage(4) -> layers: Stage(8) * 2) -> pool: AdaptiveAvgPool2d(1) -> Flatten
    logits = f -> head: Linear(10)
    out = logits * scale
    output out
    train {{
        data = digits()
        loss = CrossEntropyLoss()
        optimizer = {optimizer}
        {extra}
    }}
}}
"""

COUNT = itertools.count()


def net(tmp_path, optimizer, extra=""):
    """The module and the training script generated for MODEL (each under its own name: the
    script imports the module by it)."""
    stem = f"net{next(COUNT)}"
    script = build_scripts(tmp_path, MODEL.format(optimizer=optimizer, extra=extra), stem)
    mod = import_generated(script.parent / f"{stem}.py", stem)
    train = import_generated(script, f"train_{stem}")
    torch.manual_seed(0)
    return mod.Net(), train


def errors(optimizer):
    comp = compile_source(MODEL.format(optimizer=optimizer, extra=""), "net.model")
    return [(d.span.line, d.span.col, d.message, d.hint or "") for d in comp.diagnostics if d.severity == "error"]


def same_groups(mine, hand):
    assert len(mine.param_groups) == len(hand.param_groups)
    for a, b in zip(mine.param_groups, hand.param_groups, strict=True):
        assert [id(p) for p in a["params"]] == [id(p) for p in b["params"]]
        assert a["lr"] == b["lr"] and a["weight_decay"] == b["weight_decay"]


def test_groups_are_torch_param_groups(tmp_path):
    model, train = net(tmp_path, 'AdamW(lr=1e-3, groups=[("backbone.layers", 1e-4), (head, 3e-4)])')
    mine = train.make_optimizer(train.param_groups(model, train.LR), train.LR)
    grouped = {id(p) for p in [*model.backbone.layers.parameters(), *model.head.parameters()]}
    hand = torch.optim.AdamW([
        {"params": [p for p in model.parameters() if id(p) not in grouped]},
        {"params": list(model.backbone.layers.parameters()), "lr": 1e-4},
        {"params": list(model.head.parameters()), "lr": 3e-4},
    ], lr=1e-3)
    same_groups(mine, hand)
    assert [g["lr"] for g in mine.param_groups] == [1e-3, 1e-4, 3e-4]
    # the rest group holds the stem and the learned tensor
    assert {id(model.scale), id(model.backbone.stem.conv.weight)} <= {id(p) for p in mine.param_groups[0]["params"]}
    # --lr scales every group alike
    scaled = train.make_optimizer(train.param_groups(model, 2e-3), 2e-3)
    assert [g["lr"] for g in scaled.param_groups] == pytest.approx([2e-3, 2e-4, 6e-4], rel=1e-12)


def test_one_parameter_tensor_and_a_group_of_everything(tmp_path):
    model, train = net(tmp_path, 'SGD(lr=0.1, momentum=0.9, groups=[("backbone.stem.conv.weight", 0.01)])')
    mine = train.make_optimizer(train.param_groups(model, train.LR), train.LR)
    w = model.backbone.stem.conv.weight
    hand = torch.optim.SGD([{"params": [p for p in model.parameters() if p is not w]},
                            {"params": [w], "lr": 0.01}], lr=0.1, momentum=0.9)
    same_groups(mine, hand)
    model2, train2 = net(tmp_path, 'Adam(groups=[(backbone, 1e-4), (head, 1e-3), (scale, 1e-2)])')
    mine2 = train2.make_optimizer(train2.param_groups(model2, train2.LR), train2.LR)
    assert [g["lr"] for g in mine2.param_groups] == [1e-4, 1e-3, 1e-2]  # no empty group of the rest


@pytest.mark.parametrize("scheduler", ["StepLR(step_size=1, gamma=0.5)", "CosineAnnealingLR(T_max=3)",
                                       "OneCycleLR(0.05)"])
def test_schedulers_scale_every_group(tmp_path, scheduler):
    model, train = net(tmp_path, 'SGD(lr=0.01, momentum=0.9, groups=[(backbone, 0.001)])',
                       f"scheduler = {scheduler}\n        epochs = 3")
    mine = train.make_optimizer(train.param_groups(model, train.LR), train.LR)
    sched, when = train.make_scheduler(mine, 3, 2)
    rest = [p for p in model.parameters() if id(p) not in {id(q) for q in model.backbone.parameters()}]
    hand = torch.optim.SGD([{"params": rest}, {"params": list(model.backbone.parameters()), "lr": 0.001}],
                           lr=0.01, momentum=0.9)
    S = torch.optim.lr_scheduler
    ref = {"StepLR": lambda o: S.StepLR(o, step_size=1, gamma=0.5),
           "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, T_max=3),
           "OneCycleLR": lambda o: S.OneCycleLR(o, max_lr=[0.05, 0.005], epochs=3, steps_per_epoch=2)}
    href = ref[scheduler.split("(")[0]](hand)
    for _ in range(5):
        mine.step()
        hand.step()
        sched.step()
        href.step()
        assert [g["lr"] for g in mine.param_groups] == pytest.approx([g["lr"] for g in hand.param_groups])
    assert mine.param_groups[0]["lr"] != pytest.approx(mine.param_groups[1]["lr"])


def test_unknown_path_is_an_error_with_a_suggestion():
    (err,) = errors('AdamW(lr=1e-3, groups=[("backbone.layer", 1e-4)])')
    assert err[:2] == (18, 45) and "no parameters under 'backbone.layer'" in err[2]
    assert "did you mean 'backbone.layers'?" in err[3]
    (err,) = errors('AdamW(groups=[(pool, 1e-4)])')  # a layer without parameters
    assert "no parameters under 'pool'" in err[2]


def test_a_parameter_in_two_groups_is_an_error():
    (err,) = errors('AdamW(lr=1e-3, groups=[(backbone, 1e-4), ("backbone.layers.1", 1e-5)])')
    assert err[:2] == (18, 63)
    assert "share parameters" in err[2] and "'backbone.layers.1' is inside 'backbone'" in err[2]
    (err,) = errors('AdamW(groups=[(head, 1e-4), (head, 1e-5)])')
    assert "share parameters" in err[2]


@pytest.mark.parametrize("groups, message", [
    ('[("head", 0)]', "must be a number above 0"),
    ('[("head", "fast")]', "must be a number above 0"),
    ('[("head", 1e-4, 0.1)]', "(path, learning rate) pair"),
    ("[]", "list of (path, learning rate) pairs"),
    ('[(1, 1e-3)]', "a label or a dotted path in quotes"),
])
def test_malformed_groups(groups, message):
    errs = errors(f"AdamW(groups={groups})")
    assert len(errs) == 1 and message in errs[0][2], errs


def test_the_other_arguments_are_still_checked():
    (err,) = errors('AdamW(lr=-1, groups=[(head, 1e-4)])')
    assert "lr" in err[2]
