"""The table of malformed inputs and the exact diagnostics each one gets.

``tests/data/diagnostics.json`` holds every case: the source, and the
expected ``line:col severity [code] message || hint`` lines.  A change to a
message shows up here as a diff.  Regenerate after a deliberate change with
``GRAPHC_UPDATE_GOLDEN=1 pytest tests/test_diagnostics.py`` and review the diff.
"""

import json
import os
from pathlib import Path

import pytest

from graphc.api import compile_source

DATA = Path(__file__).parent / "data" / "diagnostics.json"
CASES = json.loads(DATA.read_text())


def render(src: str) -> list[str]:
    comp = compile_source(src, "t.model")
    return [f"{d.span.line}:{d.span.col} {d.severity} [{d.code}] {d.message}"
            + (f" || hint: {d.hint}" if d.hint else "") for d in comp.diagnostics]


def test_table_is_large_and_varied():
    codes = {line.split("[")[1].split("]")[0] for c in CASES for line in c["expected"]}
    syntax = [c for c in CASES if any("[syntax]" in e for e in c["expected"])]
    assert len(CASES) >= 30 and len(syntax) >= 10
    assert {"unknown-layer", "unknown-argument", "invalid-argument", "undefined-name", "duplicate-name",
            "shape-mismatch", "shape-nonpositive", "shape-rank", "recursion"} <= codes


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_diagnostic(case):
    got = render(case["source"])
    if os.environ.get("GRAPHC_UPDATE_GOLDEN"):
        case["expected"] = got
        DATA.write_text(json.dumps(CASES, indent=1, ensure_ascii=False) + "\n")
    assert got == case["expected"]
    assert got, "every malformed input gets at least one diagnostic"
    for line in got:
        assert "expected one of" not in line.lower() and "Token(" not in line and "__ANON" not in line


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_diagnostics_point_into_the_file(case):
    lines = case["source"].splitlines()
    comp = compile_source(case["source"], "t.model")
    for d in comp.diagnostics:
        assert 1 <= d.span.line <= max(len(lines), 1)
        assert 1 <= d.span.col <= len(lines[d.span.line - 1]) + 1 if lines else d.span.col == 1


def test_dropout_at_output_asks_the_layers_category(monkeypatch):
    """The lint rule asks the layer's category, not its name: a layer that declares itself
    dropout is reported whatever its name."""
    from graphc.layers.base import LAYERS

    src = "model M {\n    input x: [B, 4]\n    y = x -> Linear(3) -> Identity\n    output y\n}\n"
    assert not compile_source(src, "m.model").warnings
    monkeypatch.setattr(type(LAYERS["Identity"]), "category", "dropout")
    warnings = compile_source(src, "m.model").warnings
    assert [d.code for d in warnings] == ["dropout-at-output"]
    assert warnings[0].message.startswith("Identity right before output 'y'")
