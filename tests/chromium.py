"""Headless chromium for the tests of graphc's pages (tests/test_viz_html.py loads the written
pages, tests/test_serve.py drives the live one), and what those tests read in a page's DOM.
Without chromium the tests marked ``needs_browser`` are skipped (``make setup`` installs it)."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
needs_browser = pytest.mark.skipif(BROWSER is None, reason="chromium is not installed (make setup installs it)")


def chromium(profile: Path, *args: str) -> list[str]:
    """The command line of a headless chromium with its own profile and a fixed window size."""
    return [BROWSER, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", f"--user-data-dir={profile}",
            "--window-size=1400,900", *args]


def node_ids(dom: str) -> set[str]:
    """The ids of the graph's drawn nodes."""
    return {html.unescape(m) for m in re.findall(r'<g class="node[^"]*" data-id="([^"]*)"', dom)}


def edge_labels(dom: str) -> set[str]:
    """The texts on the graph's edges (their shapes)."""
    return {html.unescape(t) for t in re.findall(r'<g class="edge[^"]*">.*?<text[^>]*>(.*?)</text>', dom)}


def detail(dom: str, key: str) -> str:
    """One entry of the details panel (``params``, ``macs``, ``shape``, ``loc``, ...)."""
    m = re.search(rf'<dd data-k="{key}">(.*?)</dd>', dom, re.S)
    assert m, f"no {key} in the details"
    return html.unescape(m.group(1))
