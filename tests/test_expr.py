"""The expression toolkit (graphc.expr): one operator table that the grammar, both printers
and the evaluator agree with, and the walks every pass uses."""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphc import ast as A
from graphc import expr, pyfmt
from graphc.lower import Lowerer
from graphc.source import Span
from graphc.syntax import parse

S = Span("t", 1, 1, 1, 2)
CONSTS = {"a": 7, "b": -3, "c": 2.5, "d": 0}


def _bare(node):
    """A node without its spans, for comparing trees that were printed and parsed again."""
    if isinstance(node, tuple):
        return tuple(_bare(x) for x in node)
    if isinstance(node, A.Node):
        return (type(node).__name__,) + tuple(_bare(getattr(node, f)) for f in node._fields
                                              if not f.endswith("span"))
    return node


def _evaluated(e: A.Expr):
    """The value graphc's evaluator gives the tree ``e``, with CONSTS defined, or its one
    diagnostic's message."""
    lw = Lowerer(A.File("t.model", (), S))
    for item in parse("".join(f"const {k} = {v}\n" for k, v in CONSTS.items())).items:
        lw.const_def(item, lw.globals)
    value = lw.eval(e, lw.globals)
    return (None, lw.diags[0].message) if lw.diags else (value, None)


def _parsed(text: str) -> A.Expr:
    return parse(f"const v = {text}").items[0].value


# ------------------------------------------------------------------ the operator table
@pytest.mark.parametrize("first,second", list(itertools.product(expr.OPERATORS, repeat=2)))
def test_the_table_says_how_the_grammar_groups_two_operators(first, second):
    tree = _parsed(f"a {first} b {second} c")
    (p1, assoc1), (p2, _) = expr.OPERATORS[first], expr.OPERATORS[second]
    left_first = p1 > p2 or (p1 == p2 and assoc1 == "left")
    if left_first:
        assert tree.op == second and tree.left.op == first
    else:
        assert tree.op == first and tree.right.op == second


def test_unary_minus_binds_tighter_than_every_operator():
    for op in expr.OPERATORS:
        tree = _parsed(f"-a {op} b")
        assert isinstance(tree, A.BinOp) and isinstance(tree.left, A.Neg)


numbers = st.one_of(st.integers(0, 10**6), st.floats(0, 1e6, allow_nan=False, allow_infinity=False))
leaves = st.one_of(numbers.map(lambda v: A.Num(v, S)), st.sampled_from(sorted(CONSTS)).map(lambda n: A.Name(n, S)))


def _arith(children):
    return st.one_of(
        st.builds(lambda op, a, b: A.BinOp(op, a, b, S), st.sampled_from(sorted(expr.OPERATORS)), children, children),
        children.map(lambda x: A.Neg(x, S)))


arithmetic = st.recursive(leaves, _arith, max_leaves=12)
expressions = st.one_of(arithmetic, st.lists(arithmetic, min_size=1, max_size=3).map(
    lambda xs: A.TupleLit(tuple(xs), S)), st.lists(arithmetic, max_size=3).map(lambda xs: A.ListLit(tuple(xs), S)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions)
def test_model_text_reads_back_as_the_same_tree(e):
    text = expr.to_model(e)
    assert _bare(_parsed(text)) == _bare(e), text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions)
def test_python_text_means_what_graphc_evaluates(e):
    value, error = _evaluated(e)
    source = pyfmt.expr(e, lambda n: n)
    try:
        want = eval(source, {}, dict(CONSTS))  # noqa: S307 - numbers and the four names only
    except ZeroDivisionError:  # graphc stops there too, or at one of its own limits met first
        assert error == "division by zero" or (error or "").startswith("number too large"), source
        return
    except OverflowError:
        assert error is not None, source
        return
    if error is None:
        assert value == want and type(value) is type(want), (source, value, want)
    else:  # graphc's own limits: sizes below 2**62, floats that stay finite
        assert error.startswith("number too large"), (source, error)


def test_brackets_only_where_precedence_needs_them():
    cases = {"a - (b - c)": "a - (b - c)", "(a - b) - c": "a - b - c", "a * (b + c)": "a * (b + c)",
             "a + b * c": "a + b * c", "(a + b) * c": "(a + b) * c", "-(a + b)": "-(a + b)",
             "(-a) * b": "-a * b", "a // (b % c)": "a // (b % c)", "(1,)": "(1,)", "[1, 2]": "[1, 2]"}
    for written, canonical in cases.items():
        assert expr.to_model(_parsed(written)) == canonical
    assert pyfmt.expr(_parsed("[a, (b - c) * 2, (1,)]"), str.upper) == "(A, (B - C) * 2, (1,))"


def test_model_text_keeps_literals_as_written_when_asked():
    text = "const v = 1_000 + 'x' * 2.50"
    tree = parse(text).items[0].value
    written = lambda span: text[span.col - 1:span.end_col - 1]  # noqa: E731
    assert expr.to_model(tree, written) == "1_000 + 'x' * 2.50"
    assert expr.to_model(tree) == '1000 + "x" * 2.5'
    assert expr.to_model(A.Str('a"b\\c\n\t', S)) == '"a\\"b\\\\c\\n\\t"'


def test_calls_print_as_written():
    call = parse("model M { init { bias = constant(val=0.1) weight = orthogonal } }").items[0].body[0]
    assert [expr.to_model(s.value) for s in call.settings] == ["constant(val=0.1)", "orthogonal"]
    assert expr.to_model(A.Call("zeros", S, (), S)) == "zeros()"


# ------------------------------------------------------------------ walks
def test_names_in_order_each_once_calls_not_entered():
    e = _parsed("(b + a) * b - [c, f(d)]")
    assert expr.names(e) == ("b", "a", "c")
    assert expr.size(e) == 9  # *, +, b, a, b, -, [...], c, f(d)


def test_names_used_reads_statements_and_call_arguments_but_not_definitions():
    block = parse("block B(p, q, r, s) { input x\n const k = p\n y = x -> lbl: Linear(q) -> ReLU * r\n"
                  " output y }\nmodel M { input x: [1, 2] output x }\n").items[0]
    used = expr.names_used(block.body)
    assert {"p", "q", "r", "x", "y"} <= used
    assert not used & {"s", "k", "lbl", "Linear", "ReLU"}


def test_a_visitor_without_a_kind_says_which():
    class OnlyNames(expr.Visitor):
        def visit_Name(self, e):
            return e.id

    assert OnlyNames().visit(A.Name("z", S)) == "z"
    with pytest.raises(AssertionError, match="OnlyNames has no visit_Num"):
        OnlyNames().visit(A.Num(1, S))
