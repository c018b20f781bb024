"""The committed layer and component references are generated from the registries and must be current."""

from pathlib import Path

from graphc.docgen import render, render_components

ROOT = Path(__file__).resolve().parent.parent


def test_layers_md_is_current():
    committed = (ROOT / "docs" / "layers.md").read_text(encoding="utf-8")
    assert committed == render(), "docs/layers.md is stale: run `python -m graphc.docgen`"


def test_components_md_is_current():
    committed = (ROOT / "docs" / "components.md").read_text(encoding="utf-8")
    assert committed == render_components(), "docs/components.md is stale: run `python -m graphc.docgen`"


def test_layer_index_is_current():
    from graphc.layers import _index
    from graphc.layers.base import build_index

    assert _index.KINDS == build_index(), "graphc/layers/_index.py is stale: run `python -m graphc.layers`"


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


def test_limits_table_matches_the_code():
    """Every row of docs/language.md's Limits table that names a constant states its value."""
    import importlib
    import re

    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    section = text.split("## Limits", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (.+?) \| (.+?) \| `(graphc\.[\w.]+)\.(\w+)` \|$", section, re.M)
    assert len(rows) >= 12, rows
    for _, value, module, name in rows:
        actual = getattr(importlib.import_module(module), name)
        if m := re.match(r"2\*\*(\d+)", value):
            stated = 2 ** int(m.group(1))
        elif value.startswith("1 MiB"):
            stated = 1 << 20
        else:
            stated = int(re.match(r"[\d,]+", value).group().replace(",", ""))
        assert stated == actual, f"{module}.{name} is {actual}, the docs say {value}"


def test_components_md_does_not_depend_on_which_module_is_imported_first():
    """A test that imports a data-set module directly, before anything loads the registry, used to
    reorder the data sets in components.md for the rest of its process."""
    import subprocess
    import sys

    code = ("import graphc.components.datasets_textcsv, graphc.components.datasets_text\n"
            "from graphc.docgen import render_components\n"
            "import sys; sys.stdout.write(render_components())")
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert got == (ROOT / "docs" / "components.md").read_text(encoding="utf-8")
