"""A .model file's comments are carried into the generated module where they belong.

Each comment below names where it must land; the test finds every one in the generated
source, checks the line it precedes, and runs the module in torch.  Comment text that
could end a line early (a lone carriage return, a form feed, NUL) stays inside its comment.
"""

import ast
import io
import tokenize

import pytest

from graphc.api import compile_source

SRC = """# FILE-HEADER paragraph
# second line of it

const hidden = 8  # CONST-TRAILING

# BLOCK-HEADER: right above the block
block Stem(c) {
    input x
    # STEM-CONV: above the conv's forward line
    y = x -> Conv2d(c, 3, padding=1) -> ReLU  # STEM-TRAILING: above the conv too
    # STEM-RETURN: after the last call
    output y
}

# MODEL-HEADER
model Commented {
    input image: [B, 3, 8, 8]
    feats = image -> stem: Stem(4)
        # CHAIN-POOL: a step on its own line
        -> pool: MaxPool2d(2)
    logits = feats -> head: (
        Flatten
        -> Linear(hidden)  # GROUP-LINEAR: inside the nn.Sequential
    )
    output logits
    init {
        Linear = zeros()  # INIT: not carried
    }
}
"""


def _module(src):
    comp = compile_source(src, "commented.model")
    assert not comp.errors, comp.errors
    return comp.python_source()


def _next_code(lines, i):
    return next(x.strip() for x in lines[i + 1:] if x.strip() and not x.strip().startswith("#"))


def test_each_comment_lands_where_it_belongs():
    code = _module(SRC)
    lines = code.splitlines()
    where = {}
    for i, line in enumerate(lines):
        if line.strip().startswith("# ") and line.strip()[2:].split(":")[0].split(" ")[0].isupper():
            where[line.strip()[2:].split(":")[0].split(" ")[0]] = i
    assert "INIT" not in where
    doc_end = lines.index('"""', 1)
    assert doc_end < where["FILE-HEADER"] < lines.index("import torch")
    assert _next_code(lines, where["CONST-TRAILING"]) == "HIDDEN = 8"
    assert _next_code(lines, where["BLOCK-HEADER"]).startswith("class Stem(")
    assert _next_code(lines, where["MODEL-HEADER"]).startswith("class Commented(")
    assert _next_code(lines, where["STEM-CONV"]).startswith("y = self.conv2d(x)")
    assert _next_code(lines, where["STEM-TRAILING"]).startswith("y = self.conv2d(x)")
    assert _next_code(lines, where["STEM-RETURN"]) == "return y"
    assert _next_code(lines, where["CHAIN-POOL"]).startswith("feats = self.pool(")
    assert _next_code(lines, where["GROUP-LINEAR"]).startswith("nn.Linear(")


def test_the_module_with_comments_runs():
    torch = pytest.importorskip("torch")
    ns = {}
    exec(compile(_module(SRC), "commented.py", "exec"), ns)
    model = ns["MODEL"]()
    assert model(*ns["example_inputs"]()).shape == (2, 8)
    assert isinstance(model, torch.nn.Module)


@pytest.mark.parametrize("char", ["\r", "\x0c", "\x00", "\x0b", "\x1c", "\u2028", "\x85"])
def test_no_comment_text_can_end_its_line(char):
    src = SRC.replace("# STEM-CONV: above", f"# STEM-CONV:{char}import os{char}above")
    if char == "\x00":
        src = src.replace("\x00", "\x01")  # the lexer refuses NUL; \x01 is as unprintable
        char = "\x01"
    code = _module(src)
    tree = ast.parse(code)
    assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                and any(a.name == "os" for a in n.names)]
    comments = [t.string for t in tokenize.generate_tokens(io.StringIO(code).readline)
                if t.type == tokenize.COMMENT and "STEM-CONV" in t.string]
    assert len(comments) == 1 and "import os" in comments[0] and char not in comments[0]
