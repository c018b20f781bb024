"""Generated code computes what check promised, in the corners where it once did not.

Each file in ``tests/cases/codegen/`` once passed ``graphc check --strict`` and then failed to
import, to construct, or computed other shapes; its header says how. Each is built, run by
torch, and every output's real shape is compared with the shape graphc inferred. The line
wrapper of the generated code is also checked on its own: wrapping never changes meaning.
"""

import ast
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphc import pyfmt
from graphc.api import compile_source
from graphc.shapes import substitute
from graphc.summary import batch_symbols

torch = pytest.importorskip("torch")

CASES = sorted((Path(__file__).parent / "cases" / "codegen").glob("*.model"))


def test_there_are_cases():
    assert len(CASES) >= 9


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_runs_as_checked(path):
    text = path.read_text()
    assert text.startswith("# Was:")
    comp = compile_source(text, str(path))
    assert comp.ok, comp.diagnostics
    code = comp.python_source()
    ns: dict = {}
    exec(compile(code, str(path), "exec"), ns)
    model = ns["MODEL"]()
    with torch.no_grad():
        out = model(*ns["example_inputs"](batch_size=3))
    outs = out if isinstance(out, tuple) else (out,)
    prog = comp.program
    binds = {s: (3 if s in batch_symbols(prog) else 16) for s in prog.symbols}
    assert [tuple(o.shape) for o in outs] == \
        [tuple(substitute(d, binds) for d in prog.type_of(ref).shape) for _, ref in prog.outputs]


NAMES = st.sampled_from(["a", "long_name_" * 4, "nn.Conv2d", "f", "x_1"])


@st.composite
def exprs(draw, depth=0):
    """Python expressions of the kinds the emitters write: calls, tuples, arithmetic."""
    kind = draw(st.sampled_from(["name", "int", "str"] if depth > 3 else
                                ["name", "int", "str", "call", "tuple", "binop", "neg", "paren"]))
    if kind == "name":
        return draw(NAMES)
    if kind == "int":
        return str(draw(st.integers(-5, 10**6)))
    if kind == "str":
        return repr(draw(st.text(alphabet="ab,()'\"\\= ", max_size=12)))
    sub = [draw(exprs(depth + 1)) for _ in range(draw(st.integers(1, 3)))]
    if kind == "call":
        kws = [f"k{i}={e}" for i, e in enumerate(sub[1:])]
        return f"{draw(NAMES)}({', '.join([sub[0]] + kws)})"
    if kind == "tuple":
        return f"({sub[0]},)" if len(sub) == 1 else f"({', '.join(sub)})"
    if kind == "binop":
        return f"{sub[0]} {draw(st.sampled_from(['+', '-', '*', '//']))} ({sub[-1]})"
    if kind == "neg":
        return f"-({sub[0]})"
    return f"({sub[0]})"


@settings(max_examples=300, deadline=None)
@given(exprs())
def test_wrapping_never_changes_meaning(e):
    lines = pyfmt.wrap("self.x = ", e, "        ", width=40)
    wrapped = "\n".join(line[8:] for line in lines)
    assert ast.dump(ast.parse(wrapped)) == ast.dump(ast.parse(f"self.x = {e}"))
