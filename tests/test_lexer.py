"""The Pygments lexer is registered and tokenizes every model without errors."""

from pathlib import Path

import pytest

pygments = pytest.importorskip("pygments")
from conftest import MODELS  # noqa: E402
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename  # noqa: E402
from pygments.token import Error, Keyword, Name  # noqa: E402

FILES = sorted(MODELS.glob("*.model")) + sorted((Path(__file__).parent / "cases").glob("*.model"))


def test_registered_through_the_entry_point():
    assert type(get_lexer_by_name("graphc")).__name__ == "GraphcLexer"
    assert type(get_lexer_for_filename("net.model")).__name__ == "GraphcLexer"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_no_error_tokens(path):
    toks = list(get_lexer_by_name("graphc").get_tokens(path.read_text()))
    assert not [t for t in toks if t[0] is Error]
    assert "".join(v for _, v in toks) == path.read_text()


def test_token_kinds():
    toks = dict((v, t) for t, v in get_lexer_by_name("graphc").get_tokens(
        "model M {\n    input x: long[B, T]\n    y = x -> emb: Embedding(10, 4)\n    output y\n}\n"))
    assert toks["model"] in Keyword and toks["long"] in Keyword and toks["input"] in Keyword
    assert toks["emb"] is Name.Label and toks["Embedding"] is Name.Class
