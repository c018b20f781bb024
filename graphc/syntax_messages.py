"""The messages of a syntax error: Lark's exception turned into one friendly ``syntax``
diagnostic (graphc.syntax calls it; no message lists the parser's terminal names)."""

from __future__ import annotations

from graphc import unsupported
from graphc.errors import Diagnostic, diag
from graphc.source import Source, Span

_TOKEN_WORDS = {
    "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'",
    "COMMA": "','", "COLON": "':'", "EQUAL": "'='", "__ANON_0": "'->'", "STAR": "'*'",
    "NAME": "a name", "INT": "a number", "FLOAT": "a number", "STRING": "a string",
    "DTYPE_NAME": "a dtype", "$END": "the end of the file",
}
_EXPR_START = {"NAME", "INT", "FLOAT", "STRING", "LPAR", "LSQB", "MINUS", "PLUS", "TRUE", "FALSE", "NONE"}


def _describe_token(tok) -> str:
    if tok.type == "$END":
        return "end of file"
    text = str(tok)
    if tok.type == "NAME":
        return f"name '{text}'"
    if tok.type in ("INT", "FLOAT"):
        return f"number {text}"
    if tok.type == "STRING":
        return f"string {text}"
    return f"'{text}'"


def _offset_to_linecol(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def syntax_diagnostic(e, source: Source, lexed) -> Diagnostic:
    """Turn a Lark UnexpectedInput into one friendly ``syntax`` diagnostic; ``lexed`` is what
    the lexer collected up to the error."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    path, text = source.path, source.text

    def at(line: int, col: int, width: int = 1) -> Span:
        return Span(path, line, col, line, col + max(width, 1))

    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        span = at(e.line, e.column)
        if ch in "\"'":
            return diag(span, "syntax", "unterminated string",
                        f"close the string with {ch} on the same line")
        if (said := unsupported.at_char(text, e.pos_in_stream)) is not None:
            return diag(span, "syntax", *said)
        if ch.isdigit() or ch == ".":
            return diag(span, "syntax", f"malformed number starting at '{ch}'",
                        "write numbers like 3, 0.5, 1e-5 or 1_000")
        if ch == "/" and text.startswith("//", e.pos_in_stream):
            return diag(span, "syntax", "unexpected '//'", "comments start with '#'")
        if ch == ";":
            return diag(span, "syntax", "unexpected ';'", "statements need no separator: start a new line")
        shown = ch if ch.isprintable() and ch.strip() else repr(ch)[1:-1]
        return diag(span, "syntax", f"unexpected character '{shown}'",
                    "names use letters, digits and '_' (ASCII only); strings go in quotes")

    if isinstance(e, (UnexpectedToken, UnexpectedEOF)):
        tok = getattr(e, "token", None)
        expected = set(getattr(e, "expected", None) or getattr(e, "accepts", None) or ())
        if tok is None or tok.type == "$END" or isinstance(e, UnexpectedEOF):
            end = source.end_span()
            if lexed.open_braces:  # at the end of the file, the lexer has seen every brace
                brace = lexed.open_braces[-1]
                line, col = brace.line, brace.column
                return diag(at(line, col), "syntax",
                            f"'{{' opened at line {line} is never closed",
                            "add '}' at the end of the model or block")
            want = _expected_phrase(expected)
            return diag(end, "syntax", f"unexpected end of file{want}",
                        "finish the statement")
        span = Span(path, tok.line, tok.column, tok.end_line or tok.line,
                    tok.end_column or tok.column + len(str(tok)))
        what = _describe_token(tok)
        prev = text[: tok.start_pos].rstrip()
        if tok.type == "__ANON_0" or str(tok) == "->":
            if prev.endswith("->"):
                return diag(span, "syntax", "'->' twice in a row", "put a layer between the arrows, or remove one")
            return diag(span, "syntax", "misplaced '->'",
                        "a chain starts from a value: write 'y = x -> Layer(...)'")
        if (said := unsupported.at_token(text, tok)) is not None:
            back = 1 if str(tok) == "*" else 0  # '**' starts a character before the second '*'
            return diag(Span(path, tok.line, tok.column - back, span.end_line, span.end_col), "syntax", *said)
        if tok.type == "COMMA" or str(tok) == ",":
            if prev.endswith(",") or prev.endswith("("):
                return diag(span, "syntax", "stray ','", "remove the extra comma")
            return diag(span, "syntax", "unexpected ','", "commas separate arguments inside (...) or dims inside [...]")
        if tok.type == "RBRACE":
            return diag(span, "syntax", "unexpected '}'" + _expected_phrase(expected),
                        "is the statement before it complete?")
        if tok.type in ("RPAR", "RSQB") and (expected & _EXPR_START):
            return diag(span, "syntax", f"unexpected {what}: an expression is missing",
                        "write a value before the closing bracket, or remove the comma")
        if tok.type in ("INT", "FLOAT", "NAME") and prev and (prev[-1].isdigit() or prev[-1] == "."):
            return diag(span, "syntax", f"malformed number: {what} follows a number",
                        "write numbers like 3, 0.5, 1e-5; put an operator between two values")
        if tok.type == "EQUAL" and "RPAR" not in expected and prev.endswith("="):
            return diag(span, "syntax", "unexpected '='", "'==' is not an operator here; write one '='")
        if tok.type == "LSQB" and "COLON" in expected:
            param = prev[prev.rfind("\n") + 1:].split()[:1] == ["param"]
            return diag(span, "syntax", "missing ':' before the shape",
                        "write 'param pos: [1, 16, 64]'" if param else "write 'input x: [B, 3, 32, 32]'")
        if str(tok) in ("/", "//"):
            return diag(span, "syntax", f"unexpected '{tok}'", "comments start with '#'")
        if tok.type == "NAME" and text[tok.end_pos:tok.end_pos + 1] == "[":
            return diag(span, "syntax", f"unknown dtype '{tok}'",
                        "dtypes are float32 (the default), float16, bfloat16, float64, long, int32 and bool")
        if tok.type == "LPAR" and "EQUAL" in expected:
            callee = prev.split()[-1] if prev.split() else "?"
            start = len(prev) - len(callee)  # the cause is before the callee: point at it
            if "\n" not in text[start:tok.start_pos] and callee != "?":
                col = start - (text.rfind("\n", 0, start) + 1) + 1
                span = Span(path, tok.line, col, tok.line, col + len(callee))
            return diag(span, "syntax", f"'{callee}(' cannot follow a value: is '->' missing before '{callee}'?",
                        f"a chain puts '->' before each layer: 'y = x -> {callee}(...)'")
        if tok.type == "LPAR" and prev.endswith(",") and "NAME" in expected:
            return diag(span, "syntax", "nested names ('out, (h, c) = ...') are not in the language",
                        "write the names flat: 'out, h, c = x -> LSTM(64, state=true)' for an LSTM's final "
                        "state, or one name for its output: 'out = x -> LSTM(64)'")
        if "EQUAL" in expected and (said := _after_a_value(text, prev, path)) is not None:
            return said
        want = _expected_phrase(expected)
        return diag(span, "syntax", f"unexpected {what}{want}", _hint_for(expected))
    return diag(source.end_span(), "syntax", str(e).splitlines()[0] if str(e) else "syntax error")


_PYTHON = ("def", "class", "return", "import", "from", "self", "for", "if", "while", "with", "lambda")


def _after_a_value(text: str, prev: str, path: str) -> Diagnostic | None:
    """The parser wanted '=' after a name: that name began a new statement.  If it follows a value
    on its own line (``y = x -> Conv2d(16, 3) ReLU``), '->' is missing before it: say so there,
    not at the next line's first word; if it is a Python keyword (``def forward``), say that a
    model is not Python."""
    j = len(prev)
    i = j
    while i > 0 and (prev[i - 1].isalnum() or prev[i - 1] == "_"):
        i -= 1
    name = prev[i:j]
    if not name or name[0].isdigit():
        return None
    line_start = prev.rfind("\n", 0, i) + 1
    before = prev[line_start:i].rstrip(" \t")
    line = text.count("\n", 0, i) + 1
    col = i - line_start + 1
    span = Span(path, line, col, line, col + len(name))
    if name in _PYTHON and not before:
        return diag(span, "syntax", f"'{name}' is Python: a .model file describes the model, it has no code",
                    "chain layers instead: 'y = x -> Linear(10) -> ReLU'; graphc writes the forward method")
    if before and (before[-1] in ")]" or before[-1].isalnum() or before[-1] == "_") and "=" in before:
        return diag(span, "syntax", f"'{name}' cannot follow a value: is '->' missing before '{name}'?",
                    f"a chain puts '->' before each layer: 'y = x -> {name}'")
    return None


def _expected_phrase(expected: set[str]) -> str:
    words: list[str] = []
    if expected & _EXPR_START and len(expected & _EXPR_START) >= 3:
        words.append("an expression")
        expected = expected - _EXPR_START
    for t in ("RBRACE", "RPAR", "RSQB", "EQUAL", "COLON", "__ANON_0", "COMMA", "NAME", "LBRACE", "$END"):
        if t in expected and _TOKEN_WORDS[t] not in words:
            words.append(_TOKEN_WORDS[t])
    words = words[:4]
    if not words:
        return ""
    if len(words) == 1:
        return f"; expected {words[0]}"
    return "; expected " + ", ".join(words[:-1]) + " or " + words[-1]


def _hint_for(expected: set[str]) -> str | None:
    if expected & {"INPUT", "OUTPUT", "CONST"} or "RBRACE" in expected:
        return "statements are 'input', 'output', 'const' or 'name = value -> Layer(...)'"
    if "RPAR" in expected:
        return "separate arguments with ',' and close the call with ')'"
    if "EQUAL" in expected:
        return "an assignment looks like 'y = x -> Layer(...)'"
    return None
