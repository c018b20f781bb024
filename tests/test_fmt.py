"""graphc fmt: canonical, idempotent, meaning-preserving, comments kept."""

import random
from pathlib import Path

import pytest
from conftest import MODELS, run_graphc

from graphc.fmt import format_text, same_meaning
from graphc.syntax import parse

CASES = sorted(MODELS.glob("*.model")) + sorted((Path(__file__).parent / "cases").glob("*.model"))

MESSY = """# header comment
const w = 8   # width
const h = w*2


# the block
block B(c, k=3) {
    input x
    y = x -> Conv2d(c,k, padding = (k-1)//2) -> ReLU()   # trailing
    output y
}
model M {
  input image: [B, 3, 32, 32]
  # leading for features
  features = image -> conv1: Conv2d(h, 3) -> ReLU -> pool: MaxPool2d(2) -> B(16) * 2
  logits = features -> Flatten
      -> fc: Linear(10)   # the head
  output logits
  train {
     data = digits()   # data!
     loss = CrossEntropyLoss
     # comment inside train
  }
  # last comment
}
"""

MESSY_FORMATTED = """# header comment
const w = 8  # width
const h = w * 2

# the block
block B(c, k=3) {
    input x
    y = x -> Conv2d(c, k, padding=(k - 1) // 2) -> ReLU()  # trailing
    output y
}

model M {
    input image: [B, 3, 32, 32]
    # leading for features
    features = image
        -> conv1: Conv2d(h, 3)
        -> ReLU
        -> pool: MaxPool2d(2)
        -> B(16) * 2
    logits = features
        -> Flatten
        -> fc: Linear(10)  # the head
    output logits
    train {
        data = digits()  # data!
        loss = CrossEntropyLoss
        # comment inside train
    }
    # last comment
}
"""


def test_messy_input():
    assert format_text(MESSY) == MESSY_FORMATTED


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_repository_models_are_formatted(path):
    text = path.read_text()
    assert format_text(text) == text, f"run: graphc fmt {path}"


@pytest.mark.parametrize("path", CASES + [None], ids=[p.name for p in CASES] + ["messy"])
def test_idempotent_meaning_and_comments_kept(path):
    text = path.read_text() if path else MESSY
    once = format_text(text)
    assert format_text(once) == once
    assert same_meaning(text, once)
    assert [c.text.strip() for c in parse(text).comments] == [c.text.strip() for c in parse(once).comments]


def _perturb(text: str, rnd: random.Random) -> str:
    """Same tokens, other whitespace: random indentation and trailing spaces."""
    out = []
    for line in text.splitlines():
        body = line.strip()
        out.append(" " * rnd.randint(0, 9) + body + " " * rnd.randint(0, 3))
        if rnd.random() < 0.1 and body:
            out.append("")
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("seed", range(5))
def test_layout_does_not_depend_on_whitespace(seed):
    rnd = random.Random(seed)
    for path in CASES:
        text = path.read_text()
        messy = _perturb(text, rnd)
        assert format_text(messy).replace("\n\n", "\n") == format_text(text).replace("\n\n", "\n"), path


def test_cli_check_diff_and_write(tmp_path):
    f = tmp_path / "m.model"
    f.write_text(MESSY)
    proc = run_graphc("fmt", "--check", f)
    assert proc.returncode == 1 and "would reformat" in proc.stdout
    assert f.read_text() == MESSY
    proc = run_graphc("fmt", "--diff", f)
    assert proc.returncode == 1 and "+const h = w * 2" in proc.stdout and f.read_text() == MESSY
    proc = run_graphc("fmt", f)
    assert proc.returncode == 0 and f.read_text() == MESSY_FORMATTED
    proc = run_graphc("fmt", "--check", f)
    assert proc.returncode == 0 and "already formatted" in proc.stdout


def test_cli_syntax_error_leaves_file(tmp_path):
    f = tmp_path / "bad.model"
    f.write_text("model M {\n    y = x -> -> ReLU\n}\n")
    proc = run_graphc("fmt", f)
    assert proc.returncode == 1 and "bad.model:2:14: error: '->' twice in a row" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert f.read_text() == "model M {\n    y = x -> -> ReLU\n}\n"
