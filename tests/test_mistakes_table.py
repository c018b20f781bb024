"""The table of everyday mistakes (issue 19): what people write, from typos to PyTorch and Keras
habits, loss and data mismatches, forward references and reuse, and the exact diagnostics
`graphc check` gives each.  The messages are the expectation: a change to one shows up here as
a diff, and docs/mistakes.md (rendered from the table) must follow.

After a deliberate change: ``GRAPHC_UPDATE_GOLDEN=1 pytest tests/test_mistakes_table.py``, then
review the diff of tests/data/mistakes.toml and docs/mistakes.md.
"""

import os
from pathlib import Path

import pytest
import tomllib

from graphc.api import compile_source

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tests" / "data" / "mistakes.toml"
DOC = ROOT / "docs" / "mistakes.md"
CASES = tomllib.loads(TABLE.read_text()).get("mistake", [])
CATEGORIES = {"typo": "Typos", "syntax": "Syntax", "pytorch-habit": "PyTorch habits",
              "keras-habit": "Keras habits", "shapes": "Shapes", "references": "Names and references",
              "reuse": "Reuse, ties and blocks", "loss-data": "Losses, data and training"}


def render(src: str) -> list[str]:
    comp = compile_source(src, "t.model")
    return [f"{d.span.line}:{d.span.col} {d.severity} [{d.code}] {d.message}"
            + (f" || hint: {d.hint}" if d.hint else "") for d in comp.diagnostics]


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def write_table(cases) -> str:
    out = ["# Everyday mistakes and the exact diagnostics graphc check gives each (tests/test_mistakes_table.py).",
           "# Regenerate the expectations with GRAPHC_UPDATE_GOLDEN=1 and review the diff.", ""]
    for c in cases:
        out += ["[[mistake]]", f"name = {_toml_str(c['name'])}", f"category = {_toml_str(c['category'])}",
                f"what = {_toml_str(c['what'])}", 'source = """', c["source"].rstrip("\n"), '"""',
                "expected = [", *[f"    {_toml_str(e)}," for e in c["expected"]], "]", ""]
    return "\n".join(out)


def render_doc(cases) -> str:
    out = ["# Everyday mistakes and what graphc says", "",
           "Generated from `tests/data/mistakes.toml` by `tests/test_mistakes_table.py` "
           "(`GRAPHC_UPDATE_GOLDEN=1 pytest tests/test_mistakes_table.py`); do not edit by hand.",
           "", f"{len(cases)} mistakes people make in their first `.model` files, each with the exact "
           "diagnostics `graphc check` gives it (`line:col severity [code] message`, then the hint). "
           "The test checks every one, so the messages here are the ones you will see.", ""]
    for cat, title in CATEGORIES.items():
        mine = [c for c in cases if c["category"] == cat]
        if not mine:
            continue
        out += [f"## {title}", ""]
        for c in mine:
            out += [f"### {c['what']}", "", "```text", c["source"].rstrip("\n"), "```", "", "```console"]
            out += [line.replace(" || hint: ", "\n    hint: ") for line in c["expected"]]
            out += ["```", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def test_the_table_has_fifty_everyday_mistakes_of_every_kind():
    assert len(CASES) >= 50
    assert len({c["name"] for c in CASES}) == len(CASES)
    assert {c["category"] for c in CASES} == set(CATEGORIES)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_each_mistake_gets_its_message(case):
    got = render(case["source"])
    if os.environ.get("GRAPHC_UPDATE_GOLDEN"):
        case["expected"] = got
        TABLE.write_text(write_table(CASES))
    assert got == case["expected"]
    assert any(" error " in g or " warning " in g for g in got), "every mistake is reported"


def test_the_docs_show_the_table():
    text = render_doc(CASES)
    if os.environ.get("GRAPHC_UPDATE_GOLDEN"):
        DOC.write_text(text)
    assert DOC.read_text() == text, "docs/mistakes.md is stale: GRAPHC_UPDATE_GOLDEN=1 pytest tests/test_mistakes_table.py"
