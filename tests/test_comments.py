"""Comments are collected by the lexer, as it lexes, onto ``ast.File.comments``: text, span
and whether code precedes them on their line.  ``graphc fmt`` places them from there."""

from hypothesis import given, settings
from hypothesis import strategies as st

from graphc import ast as A
from graphc import syntax
from graphc.syntax import parse

LINES = ['model M {', '    input x: [B, 4]', '    const s = "a # b"', "    const t = 'c#d'",
         '    y = x -> Linear(8)', '    z = y -> ReLU', '    output z', '}']


def _where(c: A.Comment):
    return (c.span.line, c.span.col, c.span.end_line, c.span.end_col, c.text, c.trailing)


def test_text_span_and_whether_code_precedes():
    text = "# top\nmodel M {  # opens\n    input x: [1]\t# a '#' in a comment \r\n" \
           "    y = x -> Linear(\"#no\")\n        # own line\n    output y\n}\n# last"
    got = [_where(c) for c in parse(text, "m.model").comments]
    assert got == [(1, 1, 1, 6, "# top", False),
                   (2, 12, 2, 19, "# opens", True),
                   (3, 18, 3, 38, "# a '#' in a comment", True),
                   (5, 9, 5, 19, "# own line", False),
                   (8, 1, 8, 7, "# last", False)]
    assert all(c.span.path == "m.model" for c in parse(text, "m.model").comments)


def test_a_file_without_comments_has_none_and_nothing_carries_over():
    assert parse("model M { input x: [1] output x }  # one").comments[0].text == "# one"
    assert parse("model M { input x: [1] output x }").comments == ()


def test_once_each_when_the_contextual_lexer_parses_again(monkeypatch):
    runs = []
    real = syntax._run
    monkeypatch.setattr(syntax, "_run", lambda lexer, text: runs.append(lexer) or real(lexer, text))
    # 'output' as a keyword argument: the basic lexer takes it for the keyword and fails
    f = parse('model M { # a\n input x: [1] # b\n y = x -> f(output="all") # c\n output y }\n')
    assert runs == ["basic", "contextual"]
    assert [c.text for c in f.comments] == ["# a", "# b", "# c"]


words = st.text(st.characters(codec="ascii", exclude_characters="\n\r"), max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), words), min_size=len(LINES), max_size=len(LINES)),
       st.lists(st.booleans(), min_size=len(LINES), max_size=len(LINES)))
def test_every_comment_placed_anywhere_is_found_where_it_was_put(notes, commented):
    out, want = [], []
    for line, (trailing, body), put in zip(LINES, notes, commented):
        note = "#" + body.rstrip()
        if put and trailing:
            want.append((len(out) + 1, len(line) + 3, note, True))
            line += "  " + note
        elif put:
            out.append("  " + note)
            want.append((len(out), 3, note, False))
        out.append(line)
    got = [(c.span.line, c.span.col, c.text, c.trailing) for c in parse("\n".join(out)).comments]
    assert got == want
