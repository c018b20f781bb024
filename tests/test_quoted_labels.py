"""Quoted group-member labels (issue 22): ``trunk: ("block1-0": Blk(8) -> "block1-1": Blk(8))``.

Checked against torch itself: the built module's state_dict keys are those torch gives a
hand-written ``nn.Sequential(OrderedDict(...))`` with the same names, weights load strictly
both ways and the outputs are equal; a name torch's add_module refuses is refused at its
column; ``graphc import`` writes such labels and a module with children named like RegNet's
round-trips.
"""

from __future__ import annotations

import ast
import importlib
import sys
import textwrap
from collections import OrderedDict

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from graphc.api import compile_source  # noqa: E402
from graphc.cli import main  # noqa: E402
from graphc.fmt import format_text, same_meaning  # noqa: E402
from graphc.lower.member_labels import member_label, quoted_label_problem  # noqa: E402

MODEL = '''
block Blk(c) {
    input x
    y = x -> conv: Conv2d(c, 3, padding=1) -> bn: BatchNorm2d -> ReLU
    output y
}

model Net {
    input image: [B, 3, 8, 8]
    y = image -> trunk: ("block1-0": Blk(4) -> "block1-1": Blk(4) -> "é x'\\"\\n": Conv2d(4, 1) -> act: ReLU)
        -> AdaptiveAvgPool2d(1) -> Flatten -> fc: Linear(5)
    output y
}
'''


class TorchBlk(nn.Module):
    def __init__(self, cin, c):
        super().__init__()
        self.conv = nn.Conv2d(cin, c, 3, padding=1)
        self.bn = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class TorchNet(nn.Module):
    """MODEL written by hand in torch."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(OrderedDict([
            ("block1-0", TorchBlk(3, 4)), ("block1-1", TorchBlk(4, 4)),
            ("é x'\"\n", nn.Conv2d(4, 4, 1)), ("act", nn.ReLU())]))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.trunk(x)), 1))


def _build(text: str):
    comp = compile_source(text, "net.model")
    assert comp.ok, [f"{d.span.line}:{d.span.col} {d.message}" for d in comp.errors]
    return comp


def test_keys_weights_and_outputs_are_torchs():
    comp = _build(MODEL)
    built = comp.to_module().eval()
    ref = TorchNet().eval()
    keys = [k for k in ref.state_dict() if not k.startswith("pool")]
    assert "trunk.block1-0.conv.weight" in keys and "trunk.é x'\"\n.weight" in keys
    # the relu of Blk holds no state; everything else is key for key, in torch's order
    assert list(built.state_dict()) == keys
    for a, b in ((ref, built), (built, ref)):  # each side's weights load strictly into the other
        torch.manual_seed(1)
        for p in a.parameters():
            p.data.normal_()
        b.load_state_dict(a.state_dict(), strict=True)
    x = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(built(x), ref(x))


def test_the_label_reaches_the_module_only_as_a_string():
    src = _build(MODEL).python_source()
    tree = ast.parse(src)
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert {"block1-0", "block1-1", "é x'\"\n"} <= strings
    idents = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | \
        {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not any("block1" in i or "é" in i for i in idents)


def test_fmt_keeps_quoted_labels():
    out = format_text(MODEL)
    assert '"block1-0": Blk(4)' in out and '"é x\'\\"\\n": Conv2d(4, 1)' in out
    assert same_meaning(MODEL, out)
    assert format_text(out) == out
    assert list(_build(out).to_module().state_dict()) == list(_build(MODEL).to_module().state_dict())


FREEZE = '''
model Net {
    input x: [B, 4]
    y = x -> trunk: ("block1-0": Linear(4) -> "a b": (Linear(4) -> ReLU) -> "2": Linear(3, weight_init=zeros()))
    freeze trunk."block1-0", trunk."a b".0
    output y
}
'''


def test_freeze_and_initializers_reach_quoted_members():
    net = _build(FREEZE).to_module()
    frozen = sorted(n for n, p in net.named_parameters() if not p.requires_grad)
    assert frozen == ["trunk.a b.0.bias", "trunk.a b.0.weight", "trunk.block1-0.bias", "trunk.block1-0.weight"]
    assert torch.count_nonzero(net.state_dict()["trunk.2.weight"]) == 0
    assert torch.count_nonzero(net.state_dict()["trunk.block1-0.weight"]) > 0
    assert format_text(FREEZE).count('freeze trunk."block1-0", trunk."a b".0') == 1


def _errors(member: str, top: bool = False):
    line = f'    y = x -> {member} -> ReLU\n' if top else f'    y = x -> g: (Linear(4) -> {member} -> ReLU)\n'
    comp = compile_source(f"model Net {{\n    input x: [B, 4]\n{line}    output y\n}}\n", "net.model")
    assert not comp.ok
    return comp.errors


# the member, torch's verdict on its name (None: graphc is stricter than torch), the code, the column,
# and words of the message
BAD = [
    ('"": Linear(4)', "empty", "invalid-argument", 31, "cannot be empty"),
    ('"a.b": Linear(4)', "contain", "invalid-argument", 31, "holds a '.'"),
    ('"forward": Linear(4)', "already exists", "reserved-name", 31, "attribute of nn.Sequential"),
    ('"append": Linear(4)', "already exists", "reserved-name", 31, "attribute of nn.Sequential"),
    ('"training": Linear(4)', "already exists", "reserved-name", 31, "attribute of nn.Sequential"),
    ('"__class__": Linear(4)', "already exists", "reserved-name", 31, "starts with '_'"),
    ('"_modules": Linear(4)', "already exists", "reserved-name", 31, "starts with '_'"),
    ('"_mine": Linear(4)', None, "reserved-name", 31, "starts with '_'"),
    ('"7": Linear(4)', None, "invalid-argument", 31, "is a number, but this member is child 1"),
    ('a: Linear(4) -> "a": ReLU', None, "duplicate-name", 47, "'a' names two members"),
]


@pytest.mark.parametrize("member, torch_says, code, col, words", BAD)
def test_a_name_torch_refuses_is_an_error_at_its_column(member, torch_says, code, col, words):
    errs = _errors(member)
    assert [(e.code, e.span.line, e.span.col) for e in errs] == [(code, 3, col)], [e.message for e in errs]
    assert words in errs[0].message and errs[0].hint
    if torch_says is not None:
        name = ast.literal_eval(member.split(": ")[0])  # torch refuses it too, for the reason given
        with pytest.raises((KeyError, TypeError), match=torch_says):
            nn.Sequential(OrderedDict([("0", nn.ReLU()), (name, nn.Linear(4, 4))]))


def test_a_quoted_label_outside_a_group_is_an_error():
    errs = _errors('"block1-0": Linear(4)', top=True)
    assert [(e.code, e.span.line, e.span.col) for e in errs] == [("syntax", 3, 14)]
    assert "member of a group only" in errs[0].message and '"block1-0"' in errs[0].hint


def test_every_attribute_of_a_sequential_is_refused():
    seq = nn.Sequential()
    for name in dir(seq):
        assert quoted_label_problem(name, 0) is not None, name
    for name in ("block1-0", "é", "a b", "x'\"\n", "input", "class", "0", "self", "init_weights"):
        assert quoted_label_problem(name, 0) is None, name
        nn.Sequential(OrderedDict([(name, nn.ReLU())]))  # and torch takes it


NETS = '''
import torch.nn as nn


class Stage(nn.Sequential):
    def __init__(self, c, n, i):
        super().__init__()
        for k in range(n):
            self.add_module(f"block{i}-{k}", nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU()))


class RegLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.trunk_output = nn.Sequential(OrderedDict([("block1", Stage(8, 2, 1)), ("block2", Stage(8, 1, 2)),
                                                       ("input", nn.ReLU())]))
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.trunk_output(self.stem(x)).mean((2, 3)))


class Private(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(OrderedDict([("_hidden", nn.Linear(4, 4))]))

    def forward(self, x):
        return self.body(x)
'''


@pytest.fixture
def nets(tmp_path, monkeypatch):
    name = f"graphc_quoted_nets_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{name}.py").write_text("from collections import OrderedDict\n" + textwrap.dedent(NETS))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    yield name, importlib.import_module(name)
    sys.modules.pop(name, None)


def test_import_writes_quoted_labels_and_round_trips(nets, tmp_path, capsys):
    name, mod = nets
    out = tmp_path / "reg.model"
    assert main(["import", f"{name}:RegLike", "--input", "B,3,8,8", "-o", str(out)]) == 0, capsys.readouterr().err
    text = out.read_text()
    assert '"block1-0": ' in text and '"block2-0": ' in text and '"input": ReLU' in text
    comp = _build(text)
    built = comp.to_module().eval()
    torch.manual_seed(0)
    original = mod.RegLike().eval()
    assert list(built.state_dict()) == list(original.state_dict())
    built.load_state_dict(original.state_dict(), strict=True)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(built(x), original(x))


def test_import_reports_a_name_no_label_can_give(nets, tmp_path, capsys):
    name, _ = nets
    out = tmp_path / "p.model"
    assert main(["import", f"{name}:Private", "--input", "B,4", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "body: the member name '_hidden' cannot be a .model label" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("name, i, label", [
    ("conv0", 0, "conv0"), ("block1-0", 0, '"block1-0"'), ("input", 1, '"input"'), ("class", 0, '"class"'),
    ('a"b\n', 0, '"a\\"b\\n"'), ("é", 0, '"é"'), ("3", 1, "!"), ("_x", 0, "!"), ("a\rb", 0, "!"),
])
def test_the_label_import_writes(name, i, label):
    got = member_label(name, i)
    assert got == label if label != "!" else got.startswith("!")


def test_members_after_a_failed_step_are_still_checked():
    """A chain that fails before a group: its labelled, quoted and nested members' own mistakes
    are reported (this was an internal error for any labelled member)."""
    text = 'model N {\n    input x: [B, 4]\n    y = x -> Foo -> g: ("a-1": Linear(4, bogus=1) -> (b: Lin(3)) * 2)\n' \
           '    output y\n}\n'
    comp = compile_source(text, "net.model")
    assert [(e.code, e.span.col) for e in comp.errors] == [
        ("unknown-layer", 14), ("unknown-argument", 42), ("unknown-layer", 58)]
