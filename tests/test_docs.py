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


def test_tutorial_is_current():
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_build", ROOT / "docs" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    text, images = build.render_tutorial()
    assert (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8") == text, "run: make docs"
    for path, opts in images:
        assert (ROOT / "docs" / "images" / build._image_name(path, opts)).exists()
