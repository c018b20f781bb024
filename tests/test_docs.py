"""The committed layer reference is generated from the registry and must be current."""

from pathlib import Path

from graphc.docgen import render

ROOT = Path(__file__).resolve().parent.parent


def test_layers_md_is_current():
    committed = (ROOT / "docs" / "layers.md").read_text(encoding="utf-8")
    assert committed == render(), "docs/layers.md is stale: run `python -m graphc.docgen`"


def test_every_layer_is_documented():
    from graphc.layers.base import load_all

    text = (ROOT / "docs" / "layers.md").read_text(encoding="utf-8")
    missing = [k for k in load_all() if f"| `{k}` |" not in text]
    assert not missing


def test_every_diagnostic_code_is_documented():
    from graphc.errors import CODES

    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    assert [c for c in CODES if f"| `{c}` |" not in text] == []
