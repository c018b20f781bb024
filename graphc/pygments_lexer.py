"""A Pygments lexer for ``.model`` files (registered as ``graphc`` / ``model``).

Installed through the ``pygments.lexers`` entry point, so Markdown renderers
and Sphinx highlight ```` ```graphc ```` blocks once graphc is installed.
"""

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text, Whitespace


class GraphcLexer(RegexLexer):
    name = "graphc"
    aliases = ["graphc", "model"]
    filenames = ["*.model"]
    url = "https://pypi.org/project/graphc/"

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"#.*$", Comment.Single),
            (words(("model", "block"), suffix=r"\b"), Keyword.Declaration, "defname"),
            (words(("input", "output", "const", "train", "init", "tie", "param", "freeze"), suffix=r"\b"), Keyword),
            (words(("true", "false", "none"), suffix=r"\b"), Keyword.Constant),
            (r"(float16|float32|float64|bfloat16|half|float|double|long|int64|int32|int|bool)(?=\[)",
             Keyword.Type),
            (r"([A-Za-z_][A-Za-z0-9_]*)(\s*)(:)(?!\s*[\[A-Za-z_]*\[)", bygroups(Name.Label, Whitespace, Punctuation)),
            (r"[A-Z][A-Za-z0-9_]*(?=\s*\()", Name.Class),
            (r"[a-z_][A-Za-z0-9_]*(?=\s*\()", Name.Function),
            (r"[A-Z][A-Za-z0-9_]*", Name.Class),
            (r"[A-Za-z_][A-Za-z0-9_]*", Name),
            (r"([0-9][0-9_]*\.[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[0-9][0-9_]*[eE][+-]?[0-9]+", Number.Float),
            (r"0|[1-9][0-9_]*", Number.Integer),
            (r'"([^"\\\n]|\\.)*"', String.Double),
            (r"'([^'\\\n]|\\.)*'", String.Single),
            (r"->", Operator),
            (r"//|[-+*/%=]", Operator),
            (r"[{}()\[\],:]", Punctuation),
            (r".", Text),
        ],
        "defname": [
            (r"\s+", Whitespace),
            (r"[A-Za-z_][A-Za-z0-9_]*", Name.Class, "#pop"),
        ],
    }
