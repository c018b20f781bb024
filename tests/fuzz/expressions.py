"""Differential testing of tensor expressions: random expressions over two or three inputs
of broadcastable or unbroadcastable shapes and mixed dtypes.  graphc must accept exactly what
torch computes, with the same shape and dtype, and its generated forward must give torch's
values: the expression is written once as ``.model`` text, which graphc parses with its own
grammar and Python evaluates with its own (so every precedence combination is checked too).

``python -m tests.fuzz.expressions 5000`` runs more cases than the default suite's slice
(tests/fuzz/test_expressions_fast.py).
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from graphc.api import compile_source
from graphc.lower.evaluate import CONST_FUNCS

NAMES = ("a", "b", "c")
DTYPES = ("float32", "float32", "float64", "float16", "bfloat16", "int64", "int32", "bool")
UNARY = ("exp", "log", "sqrt", "rsqrt", "sigmoid", "tanh", "abs", "relu")
BINARY = ("+", "-", "*", "/")


def _either(name):
    """torch's function on a tensor; on a number, graphc's constant function (math), if any."""
    def f(x, *args, **kwargs):
        if isinstance(x, torch.Tensor):
            return getattr(torch, name)(x, *args, **kwargs)
        if name not in CONST_FUNCS:
            raise TypeError(f"{name} of a number")
        return CONST_FUNCS[name](x)
    return f


#: the same functions, for Python's evaluation of the text
TORCH_NAMES = {f: _either(f) for f in (*UNARY, "clamp", "softmax")}

numbers = st.sampled_from([0, 1, 2, -1, 3]) | st.sampled_from([0.5, -1.5, 2.0, 1e-3])


def _exprs(n_inputs: int):
    leaf = st.sampled_from(NAMES[:n_inputs]) | numbers.map(str)

    def grow(sub):
        binop = st.tuples(sub, st.sampled_from(BINARY), sub).map(lambda t: f"{t[0]} {t[1]} {t[2]}")
        return st.one_of(
            binop,
            sub.map(lambda s: f"({s})"),
            sub.map(lambda s: f"-{s}"),
            st.tuples(st.sampled_from(UNARY), sub).map(lambda t: f"{t[0]}({t[1]})"),
            sub.map(lambda s: f"clamp({s}, min=-1)"),
            st.tuples(sub, st.integers(-2, 1)).map(lambda t: f"softmax({t[0]}, dim={t[1]})"),
        )
    return st.recursive(leaf, grow, max_leaves=6)


shapes = st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple)


@st.composite
def cases(draw):
    """(expression text, [(name, shape, dtype)...])."""
    n = draw(st.integers(2, 3))
    ins = [(NAMES[i], draw(shapes), draw(st.sampled_from(DTYPES))) for i in range(n)]
    return draw(_exprs(n)), ins


def _tensor(shape, dtype, g):
    if dtype == "bool":
        return torch.randint(0, 2, shape, generator=g).bool()
    if dtype.startswith("int"):
        return torch.randint(-3, 4, shape, generator=g).to(getattr(torch, dtype))
    return (torch.randn(shape, generator=g) * 2).to(getattr(torch, dtype))


def check(text: str, ins) -> str | None:
    """None when graphc and torch agree on ``y = <text>``, else what differs."""
    g = torch.Generator().manual_seed(0)
    tensors = {n: _tensor(s, d, g) for n, s, d in ins}
    try:
        want = eval(text, {"__builtins__": {}, **TORCH_NAMES}, dict(tensors))  # noqa: S307
        if not isinstance(want, torch.Tensor):
            return None  # a constant expression: not a statement's value
        torch_error = None
    except (RuntimeError, TypeError, IndexError, ZeroDivisionError, ValueError, OverflowError) as e:
        torch_error, want = e, None
    decl = "\n".join(f"    input {n}: {d}[{', '.join(map(str, s))}]" for n, s, d in ins)
    src = f"model M {{\n{decl}\n    y = {text}\n    output y\n}}\n"
    comp = compile_source(src, "fuzz.model")
    if torch_error is not None:
        if isinstance(torch_error, ZeroDivisionError) and comp.ok is False:
            return None
        return None if not comp.ok else f"graphc accepts what torch rejects ({torch_error})\n{src}"
    if not comp.ok:
        return f"graphc rejects what torch computes {tuple(want.shape)} {want.dtype}:\n{src}" + \
            "\n".join(str(d.message) for d in comp.errors)
    out = comp.program.type_of(comp.program.outputs[0][1])
    if out.shape != tuple(want.shape) or out.dtype != str(want.dtype).removeprefix("torch."):
        return f"graphc says {out.shape} {out.dtype}, torch {tuple(want.shape)} {want.dtype}\n{src}"
    ns: dict = {}
    exec(compile(comp.python_source(), "gen.py", "exec"), ns)  # noqa: S102
    got = ns["M"]()(*(tensors[n] for n, _, _ in ins))
    if got.dtype != want.dtype or not torch.allclose(got.double(), want.double(), equal_nan=True,
                                                     rtol=1e-3, atol=1e-5):
        return f"values differ: generated {got} torch {want}\n{src}"
    return None



if __name__ == "__main__":
    import sys

    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=int(sys.argv[1]) if len(sys.argv) > 1 else 2000, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(cases())
    def _run(case):
        problem = check(*case)
        assert problem is None, problem

    _run()
    print("tensor expressions: graphc agrees with torch")
