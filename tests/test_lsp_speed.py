"""What makes `graphc lsp` fast keeps it right: the parse of an edited file reuses its unchanged
top-level items, and must give exactly the tree that parsing the whole file gives (spans,
comments and all) on every model in the repository, before and after edits that move lines.
The server's own imports never include torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from graphc.errors import GraphcError
from graphc.lsp.incremental import ChunkParser, chunks
from graphc.syntax import parse

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted(p for p in (ROOT / "models").rglob("*.model"))


def _full(text, path):
    try:
        return parse(text, path)
    except GraphcError:
        return None


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.name)
def test_chunked_parse_is_the_whole_parse(path):
    text = path.read_text(encoding="utf-8")
    cp = ChunkParser()
    assert cp.parse(text, str(path)) == _full(text, str(path))
    # an edit that adds a line at the top moves every item: all re-parsed, all still equal
    moved = "# a new first line\n" + text
    assert cp.parse(moved, str(path)) == _full(moved, str(path))
    # an edit inside the last item: the items before it come from the cache
    n = len(chunks(moved))
    edited = moved.rstrip() + "\n# the end\n"
    assert cp.parse(edited, str(path)) == _full(edited, str(path))
    assert cp.reused == n - 1


TRICKY = """\
# statements that go on over several lines, comments between them
const N = 4
block Mix(c,
          k=3) {   # the header's own comment
    input x
    y = x ->
        Conv2d(c, k,
               padding=1)   # inside a call
    # a comment alone
    z = y
        -> ReLU
        * 2
    a, b = z -> Split(2)
    output a,
        b
}
model M {
    input x: [B, N, 8, 8]
    p, q = x -> m: Mix(8)
    w = p -> Flatten -> head: Linear(
        10)
    param s: [1] =
        ones()
    freeze m,
        head
    output w
}   # after the model
"""


@pytest.mark.parametrize("edit", [
    lambda t: t,
    lambda t: t.replace("Linear(\n        10)", "Linear(\n        11)"),        # inside a statement
    lambda t: t.replace("    # a comment alone\n", ""),                          # lines move up
    lambda t: t.replace("        * 2\n", "        * 2\n    extra = z\n"),     # a statement more
    lambda t: t.replace("    output w\n", "    output w,\n"),                  # a trailing comma
    lambda t: t.replace("    y = x ->\n", "    y = x\n"),                       # now two statements
])
def test_statements_over_several_lines(edit):
    cp = ChunkParser()
    assert cp.parse(TRICKY, "t.model") == _full(TRICKY, "t.model") is not None
    text = edit(TRICKY)
    assert cp.parse(text, "t.model") == _full(text, "t.model")


def test_an_edit_in_a_model_reparses_one_statement():
    text = (ROOT / "models" / "resnet50.model").read_text(encoding="utf-8")
    cp = ChunkParser()
    cp.parse(text, "r.model")
    edited = text.replace("fc: Linear(1000)", "fc: Linear(10)")
    assert cp.parse(edited, "r.model") == _full(edited, "r.model")
    n_stmts = len(_full(edited, "r.model").items[-1].body)
    assert cp.stmts_reused >= n_stmts - 1


def test_chunks_start_only_at_top_level_items():
    text = ('import "a.model"\nconst N = 2  # model in a comment\nblock B(c) {\n    input x\n'
            '    y = x -> Linear(2, s="}") # {\nmodel X\n    output y\n}\nmodel M {\n  model = 1\n}\n')
    starts = [text[s:e].split()[0] for s, e, _ in chunks(text)]
    assert starts == ["import", "const", "block", "model"]
    assert [line for _, _, line in chunks(text)] == [1, 2, 3, 9]


@pytest.mark.parametrize("bad", [
    "model M {\n    input x: [B, 4]\n    y = x -> Linear(2\n    output y\n}\n",   # unclosed call
    "block B(c) {\n    input x\n\nmodel M {\n    input x: [B, 4]\n    output x\n}\n",  # unclosed block
    "model M {\n    input x: [B, 4]\n    output x\n}\n}\nmodel N {\n}\n",            # one '}' too many
])
def test_a_syntax_error_falls_back_to_the_whole_parse(bad):
    # a chunk that does not parse makes the server parse the whole file, whose error it reports
    assert _full(bad, "bad.model") is None
    assert ChunkParser().parse(bad, "bad.model") is None


def test_the_server_never_imports_torch_or_the_emitter():
    code = ("import sys; import graphc.lsp.server; from graphc.api import compile_source; "
            "compile_source(open('models/resnet50.model').read(), 'models/resnet50.model'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy') "
            "or m.startswith('graphc.emit')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
