"""Parsing: the only module that knows Lark.

``parse(text, path)`` returns an :class:`graphc.ast.File`, or raises
:class:`GraphcError` with one ``syntax`` diagnostic.  Lark's exceptions are
turned into friendly messages here and nowhere else: no message ever lists the
parser's internal terminal names.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from pathlib import Path

from graphc import ast as A
from graphc.errors import Diagnostic, GraphcError, diag
from graphc.source import Source, Span
from graphc.syntax_messages import _offset_to_linecol, syntax_diagnostic

#: Limits of the parser step (docs/language.md, "Limits"): past them a file gets one
#: ``limit`` diagnostic instead of costing unbounded time, memory or recursion.
MAX_SOURCE_BYTES = 1_048_576  # 1 MiB of UTF-8
MAX_NESTING = 100  # brackets, and operators, unary signs, calls, tuples and lists inside each other
MAX_INT = 2**62  # the largest integer literal; also the limit of constant arithmetic (graphc.lower.evaluate)


def grammar_path() -> Path:
    """The grammar inside the installed package, or the source tree's ``grammars/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "grammars" / "model.lark", here.parent / "grammars" / "model.lark"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("graphc's grammar (model.lark) is missing from the installation")


@functools.lru_cache(maxsize=2)
def _parser(lexer: str = "contextual"):
    """The LALR parser.  ``contextual`` (the reference) lexes each token with only the
    terminals its parser state accepts, so a keyword may be a name where no keyword fits
    (``output="hidden"``).  ``basic`` lexes with one scanner: a parse that succeeds with it
    is the contextual parse too (every token it made was accepted where it stood, so the
    contextual lexer would have made the same one), and it costs one regex compile instead
    of one per parser state (about 40 ms of a cold ``graphc check``).  parse() tries basic
    first and falls back to contextual, whose errors and results are the reference."""
    from lark import Lark

    # cache=True keeps the built LALR tables in the temp directory, keyed by the
    # grammar's hash, the options and Lark's version: later runs load them instead of building.
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
        lexer=lexer,
        cache=True,
        lexer_callbacks=_CALLBACKS,
    )


class _Lexed:
    """What the lexer hands over as it meets it (Lark's ``lexer_callbacks``): the comments,
    which the parser drops, and the '{' still open.  The parsers are shared, so the callbacks
    fill the record of the parse running in their thread, ``_lexing.now``."""

    def __init__(self):
        self.comments: list = []     # COMMENT tokens
        self.open_braces: list = []  # LBRACE tokens not closed yet

    def comment(self, tok):
        self.comments.append(tok)
        return tok

    def brace(self, tok):
        if tok.type == "LBRACE":
            self.open_braces.append(tok)
        elif self.open_braces:
            self.open_braces.pop()
        return tok

    def comment_nodes(self, path: str, text: str) -> tuple[A.Comment, ...]:
        out = []
        for tok in self.comments:
            body = str(tok).rstrip()
            line_start = text.rfind("\n", 0, tok.start_pos) + 1
            out.append(A.Comment(body, Span(path, tok.line, tok.column, tok.line, tok.column + len(body)),
                                 bool(text[line_start:tok.start_pos].strip())))
        return tuple(out)


_lexing = threading.local()
_CALLBACKS = {"COMMENT": lambda tok: _lexing.now.comment(tok), "LBRACE": lambda tok: _lexing.now.brace(tok),
              "RBRACE": lambda tok: _lexing.now.brace(tok)}


def _run(lexer: str, text: str):
    """Parse ``text`` with the parser of ``lexer``; returns the tree and what its lexer collected."""
    _lexing.now = lexed = _Lexed()
    return _parser(lexer).parse(text), lexed


def _unescape_shown(text: str) -> str:
    """A quoted label as a message shows it: in double quotes, escaped as .model text writes it."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def _unescape(body: str) -> str:
    out, i = [], 0
    table = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            out.append(table.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _make_transformer(path: str):
    from lark import Token, Transformer, v_args

    def sp(meta) -> Span:
        return Span(path, meta.line, meta.column, meta.end_line, meta.end_column)

    def tsp(tok: Token) -> Span:
        return Span(path, tok.line, tok.column, tok.end_line, tok.end_column)

    def name(tok: Token) -> A.Name:
        return A.Name(str(tok), tsp(tok))

    @v_args(meta=True)
    class ToAst(Transformer):
        def __init__(self):
            super().__init__()
            self.problems: list[Diagnostic] = []  # literals beyond the limits

        # ------------------------------------------------------------ literals
        def int(self, meta, c):
            digits = str(c[0]).replace("_", "")
            # compare the length first: int() of a 5,000-digit string is itself an error
            if len(digits) > len(str(MAX_INT)) or int(digits) > MAX_INT:
                shown = digits if len(digits) <= 24 else f"{digits[:8]}...{digits[-4:]} ({len(digits):,} digits)"
                self.problems.append(diag(tsp(c[0]), "limit", f"integer {shown} is beyond graphc's limit of 2**62",
                                          "graphc works with sizes below 2**62"))
                return A.Num(0, tsp(c[0]))
            return A.Num(int(digits), tsp(c[0]))

        def float(self, meta, c):
            value = float(str(c[0]).replace("_", ""))
            if math.isinf(value):
                text = str(c[0]) if len(str(c[0])) <= 24 else str(c[0])[:20] + "..."
                self.problems.append(diag(tsp(c[0]), "limit", f"number {text} is too large for a float",
                                          "floats go up to about 1.8e308"))
                return A.Num(0.0, tsp(c[0]))
            return A.Num(value, tsp(c[0]))

        def string(self, meta, c):
            return A.Str(_unescape(str(c[0])[1:-1]), tsp(c[0]))

        def true(self, meta, c):
            return A.Const(True, sp(meta))

        def false(self, meta, c):
            return A.Const(False, sp(meta))

        def none(self, meta, c):
            return A.Const(None, sp(meta))

        def name(self, meta, c):
            return name(c[0])

        def tuple(self, meta, c):
            return A.TupleLit(tuple(x for x in c if x is not None), sp(meta))

        def list(self, meta, c):
            return A.ListLit(tuple(x for x in c if x is not None), sp(meta))

        def neg(self, meta, c):
            return A.Neg(c[0], sp(meta))

        def add(self, meta, c):
            return A.BinOp("+", c[0], c[1], sp(meta))

        def sub(self, meta, c):
            return A.BinOp("-", c[0], c[1], sp(meta))

        def mul(self, meta, c):
            return A.BinOp("*", c[0], c[1], sp(meta))

        def div(self, meta, c):
            return A.BinOp("/", c[0], c[1], sp(meta))

        def floordiv(self, meta, c):
            return A.BinOp("//", c[0], c[1], sp(meta))

        def mod(self, meta, c):
            return A.BinOp("%", c[0], c[1], sp(meta))

        # ------------------------------------------------------------- calls
        def arg(self, meta, c):
            return A.Arg(None, c[0], sp(meta))

        def kwarg(self, meta, c):
            return A.Arg(str(c[0]), c[1], sp(meta), tsp(c[0]))

        def call(self, meta, c):
            return A.Call(str(c[0]), tsp(c[0]), tuple(a for a in c[1:] if a is not None), sp(meta))

        def bare_call(self, meta, c):
            return A.Call(str(c[0]), tsp(c[0]), (), tsp(c[0]), bare=True)

        def group(self, meta, c):
            # a plain member is its call, as groups always had; a labelled, repeated or grouped one a Step
            return A.Group(tuple(s.call if s.label is None and s.repeat is None and not isinstance(s.call, A.Group)
                                 else s for s in c), sp(meta))

        def ref(self, meta, c):
            return name(c[0])

        def quoted_label(self, meta, c):
            return A.Str(_unescape(str(c[0])[1:-1]), tsp(c[0]))

        def step(self, meta, c):
            label, callee, repeat = c
            if label is not None and not isinstance(label, A.Str):
                label = name(label)
            return A.Step(label, callee, repeat, sp(meta))

        def labelled_call(self, meta, c):
            return (name(c[0]), c[1])

        def chain(self, meta, c):
            steps = []
            for s in c[1:]:  # a quoted label names a group's member only: never an attribute
                if isinstance(s, A.Step) and isinstance(s.label, A.Str):
                    self.problems.append(diag(s.label.span, "syntax",
                                              f"a quoted label names a member of a group only; here "
                                              f"{_unescape_shown(s.label.value)} would be an attribute",
                                              "write an identifier label here, or put the step in a group: "
                                              f"-> name: ({_unescape_shown(s.label.value)}: ...)"))
                    s = A.Step(None, s.call, s.repeat, s.span)
                steps.append(s)
            c = [c[0], *steps]
            if isinstance(c[0], tuple):
                return A.Chain(c[0][1], tuple(c[1:]), sp(meta), source_label=c[0][0])
            return A.Chain(c[0], tuple(c[1:]), sp(meta))

        # -------------------------------------------------------- statements
        def assign(self, meta, c):
            return A.Assign(tuple(name(t) for t in c[:-1]), c[-1], sp(meta))

        def shape(self, meta, c):
            return tuple(x for x in c if x is not None)

        def input_decl(self, meta, c):
            tok, dtype, dims = c
            return A.InputDecl(name(tok), str(dtype) if dtype is not None else None, dims, sp(meta))

        def param_decl(self, meta, c):
            tok, dtype, dims, init = c
            return A.ParamDecl(name(tok), str(dtype) if dtype is not None else None, dims, init, sp(meta))

        def output_decl(self, meta, c):
            return A.OutputDecl(tuple(name(t) for t in c if t is not None), sp(meta))

        def setting(self, meta, c):
            return A.Setting(name(c[0]), c[1], sp(meta))

        def train_block(self, meta, c):
            return A.TrainBlock(tuple(c), sp(meta))

        def init_block(self, meta, c):
            return A.InitBlock(tuple(c), sp(meta))

        def import_def(self, meta, c):
            return A.Import(_unescape(str(c[0])[1:-1]), sp(meta), tsp(c[0]))

        def path(self, meta, c):
            return tuple(name(t) for t in c)

        def item_path(self, meta, c):  # a quoted part ("block1-0") names a group's member
            return tuple(A.Name(_unescape(str(t)[1:-1]), tsp(t)) if t.type == "STRING" else name(t) for t in c)

        def freeze_decl(self, meta, c):
            return A.Freeze(tuple(x for x in c if x is not None), sp(meta))

        def tie_decl(self, meta, c):
            return A.Tie(c[0], c[1], sp(meta))

        def const_def(self, meta, c):
            return A.ConstDef(name(c[0]), c[1], sp(meta))

        def param(self, meta, c):
            return A.Param(name(c[0]), c[1], sp(meta))

        def model_def(self, meta, c):
            return A.ModelDef(name(c[0]), tuple(c[1:]), sp(meta))

        def block_def(self, meta, c):
            params = tuple(x for x in c[1:] if isinstance(x, A.Param))
            body = tuple(x for x in c[1:] if x is not None and not isinstance(x, A.Param))
            return A.BlockDef(name(c[0]), params, body, sp(meta))

        def start(self, meta, c):
            return list(c)

    return ToAst()


def parse(text: str, path: str = "<string>") -> A.File:
    """Parse ``.model`` text into an AST, or raise GraphcError with a syntax diagnostic."""
    from lark.exceptions import UnexpectedInput, VisitError

    source = Source(path, text)
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        raise GraphcError([diag(Span(path, 1, 1, 1, 2), "limit",
                                f"the file is {size:,} bytes; graphc reads at most {MAX_SOURCE_BYTES:,} (1 MiB)",
                                "describe repeated structure with blocks and '* N' repeats")])
    deep = _bracket_too_deep(text)
    if deep is not None:  # before Lark: thousands of '(' would cost a long parse for nothing
        raise GraphcError([_nesting_diagnostic(Span(path, *_offset_to_linecol(text, deep),
                                                    *_offset_to_linecol(text, deep + 1)))])
    try:
        tree, lexed = _run("basic", text)
    except UnexpectedInput:
        try:
            tree, lexed = _run("contextual", text)
        except UnexpectedInput as e:
            raise GraphcError([syntax_diagnostic(e, source, _lexing.now)]) from None
    deep = _tree_too_deep(tree)
    if deep is not None:  # the transformer and every later pass recurse over expressions
        m = deep.meta
        raise GraphcError([_nesting_diagnostic(Span(path, m.line, m.column, m.end_line, m.end_column))])
    transformer = _make_transformer(path)
    try:
        items = transformer.transform(tree)
    except VisitError as e:  # pragma: no cover - a transformer bug, not user input
        raise e.orig_exc from None
    if transformer.problems:
        raise GraphcError(transformer.problems)
    end = source.end_span()
    return A.File(path, tuple(items), Span(path, 1, 1, end.end_line, end.end_col),
                  lexed.comment_nodes(path, text))


# ------------------------------------------------------------------ nesting
# Comments and strings are skipped; an unterminated string ends at its line's end.  The one
# scan of the raw text left: it runs before the lexer, on text that may not lex at all (the
# comments and braces of a file that does come from the lexer, see _Lexed).
_BRACKET_RE = re.compile(r"#[^\n]*|\"(?:[^\"\\\n]|\\.)*\"?|'(?:[^'\\\n]|\\.)*'?|[(\[\])]")
#: Rules of the parse tree that nest an expression one level deeper.
_NESTING_RULES = frozenset({"add", "sub", "mul", "div", "floordiv", "mod", "neg", "tuple", "list", "call"})


def _bracket_too_deep(text: str) -> int | None:
    """Offset of the first '(' or '[' nested more than MAX_NESTING deep, or None."""
    if text.count("(") + text.count("[") <= MAX_NESTING:
        return None
    depth = 0
    for m in _BRACKET_RE.finditer(text):
        c = m.group()
        if c in "([":
            depth += 1
            if depth > MAX_NESTING:
                return m.start()
        elif c in ")]":
            depth = max(depth - 1, 0)
    return None


def _tree_too_deep(tree):
    """A parse-tree node (with a position) nested more than MAX_NESTING expression levels
    deep, or None.  Iterative: the tree may be far deeper than Python's recursion limit."""
    from lark import Tree

    stack = [(tree, 0, tree)]
    while stack:
        t, depth, placed = stack.pop()
        if not t.meta.empty:  # an empty '()' has no position: report its parent's
            placed = t
        if t.data in _NESTING_RULES:
            depth += 1
            if depth > MAX_NESTING:
                return placed
        stack.extend((c, depth, placed) for c in t.children if isinstance(c, Tree))
    return None


def _nesting_diagnostic(span: Span) -> Diagnostic:
    return diag(span, "limit", f"expression nested more than {MAX_NESTING} levels deep",
                "each bracket, call and operator nests one level (a sum of 200 terms is 199 levels): "
                "split the expression into several constants")


# ------------------------------------------------------------------ syntax errors
