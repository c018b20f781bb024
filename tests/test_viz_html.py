"""``graphc viz FILE -o X.html``: the self-contained page, driven in a real browser.

The pages load in headless chromium (``--dump-dom``, after the page's script has drawn and
written its state into ``#graphc-state``); the URL fragment asks for what a click would do
(``#expand=``, ``#select=``, ``#search=``, ``#color=``).  The numbers the page shows are
compared with torch's own modules.  Without chromium the browser tests are skipped (``make
setup`` installs it; CI runs them); the escaping and self-containment tests need no browser.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from chromium import BROWSER, chromium, detail, edge_labels, needs_browser, node_ids

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"

EVIL = "</script><img src=x onerror=alert(1)><!--&lt;"
HOSTILE_MODEL = f"""# </script><script>document.title="pwned"</script><!--
model Evil {{
    input x: [B, 3, 8, 8]
    y = x -> conv: Conv2d(4, 3, padding_mode="{EVIL}") -> ReLU  # </script><b id="injected">b</b>
    output y
}}
"""
BAD_MODEL = """model Bad {
    input x: [B, 3, 32, 32]
    y = x -> c1: Conv2d(8, 3) -> ReLU -> Flatten -> fc: Linear(10) -> add(x) -> ReLU
    output y
}
"""


def viz(model: Path, out: Path) -> subprocess.CompletedProcess:
    """``graphc viz MODEL -o OUT -q``, in this process (the CLI's own entry point)."""
    import contextlib
    import io

    from graphc.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(["viz", str(model), "-o", str(out), "-q"])
    return subprocess.CompletedProcess(["graphc", "viz"], rc, "", err.getvalue())


def dump(page: Path, fragment: str, profile: Path) -> str:
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    proc = subprocess.run(chromium(profile, "--virtual-time-budget=5000", "--dump-dom", url),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def state(dom: str) -> dict:
    m = re.search(r'<pre id="graphc-state"[^>]*>(.*?)</pre>', dom, re.S)
    assert m and m.group(1), "the page's script did not run to the end"
    return json.loads(html.unescape(m.group(1)))


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """Every page the browser tests look at, written by the CLI and loaded in parallel."""
    tmp = tmp_path_factory.mktemp("viz_html")
    (tmp / "bad.model").write_text(BAD_MODEL)
    evil_dir = tmp / "h<b>"  # the path is shown too
    evil_dir.mkdir()
    (evil_dir / "evil.model").write_text(HOSTILE_MODEL)
    written = {}
    for name, model in (("lenet", MODELS / "lenet.model"), ("resnet50", MODELS / "resnet50.model"),
                        ("bad", tmp / "bad.model"), ("evil", evil_dir / "evil.model")):
        proc = viz(model, tmp / f"{name}.html")
        written[name] = (proc, tmp / f"{name}.html")
    if BROWSER is None:
        return {"written": written}
    loads = {"lenet": ("lenet", "fit=all&select=conv1&search=conv&color=params"), "resnet50": ("resnet50", ""),
             "resnet50_open": ("resnet50", "expand=layer1.0&select=layer1.0.conv2"), "bad": ("bad", "select=add"),
             "evil": ("evil", "select=conv")}
    with ThreadPoolExecutor(max_workers=len(loads)) as pool:
        futures = {k: pool.submit(dump, written[p][1], frag, tmp / f"profile-{k}") for k, (p, frag) in loads.items()}
        doms = {k: f.result() for k, f in futures.items()}
    return {"written": written, **doms}


# ---------------------------------------------------------------- without a browser
def test_page_is_self_contained(pages):
    proc, page = pages["written"]["lenet"]
    assert proc.returncode == 0, proc.stderr
    text = page.read_text()
    # nothing to fetch: no external script, style, image or font, and a policy that forbids it
    assert not re.search(r"<(link|img|iframe|object|embed)\b", text)
    assert not re.search(r"<script[^>]+src=", text)
    assert not re.search(r"url\((?!#)", text)
    assert "default-src 'none'" in text
    assert re.findall(r"https?://[^\s\"']+", text) == ["http://www.w3.org/2000/svg"] * text.count("http://www.w3.org/2000/svg")


def test_hostile_text_stays_text(pages):
    proc, page = pages["written"]["evil"]
    assert proc.returncode == 1 and "invalid-argument" in proc.stderr  # it fails, and still draws
    text = page.read_text()
    assert text.count("</script>") == 2  # the page's own two script elements, no more
    assert "<img" not in text and '<b id="injected"' not in text
    assert "<!--" not in text
    data = re.search(r'<script type="application/json" id="graphc-data">(.*?)</script>', text, re.S).group(1)
    loaded = json.loads(data)  # the escaped JSON reads back as the very text of the file
    assert any(EVIL in d["msg"] for d in loaded["diags"])
    assert loaded["file"].endswith("h<b>/evil.model")


def test_deterministic(pages, tmp_path):
    _, page = pages["written"]["resnet50"]
    viz(MODELS / "resnet50.model", tmp_path / "again.html")
    assert (tmp_path / "again.html").read_bytes() == page.read_bytes()


# ---------------------------------------------------------------- in the browser
@needs_browser
def test_page_draws_nodes_and_shapes(pages):
    torch = pytest.importorskip("torch")
    dom = pages["lenet"]
    st = state(dom)
    ids = node_ids(dom)
    assert {"image", "conv1", "pool1", "conv2", "fc1", "fc3", "output:logits"} <= ids
    assert st["vertices"] == 14 and st["edges"] == 13  # input, 12 layers, output: a chain
    conv1 = torch.nn.Conv2d(1, 6, 5)
    out = conv1(torch.zeros(1, 1, 32, 32))
    shape = "(B, " + ", ".join(str(s) for s in out.shape[1:]) + ")"
    assert shape in edge_labels(dom)  # the edge out of conv1 carries its shape


@needs_browser
def test_details_numbers_are_torchs(pages):
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    dom = pages["lenet"]
    assert state(dom)["selected"] == "conv1"
    conv1 = torch.nn.Conv2d(1, 6, 5)
    x = torch.zeros(1, 1, 32, 32)
    counter = FlopCounterMode(display=False)
    with counter:
        out = conv1(x)
    assert detail(dom, "params") == f"{sum(p.numel() for p in conv1.parameters()):,}"
    assert detail(dom, "macs") == f"{counter.get_total_flops() // 2:,}"
    mem = out.numel() * out.element_size()
    assert detail(dom, "mem") == f"{mem / 1024:.2f} KB"
    assert detail(dom, "shape") == "(B, 6, 28, 28)"
    assert detail(dom, "loc").endswith("lenet.model:9")
    assert detail(dom, "call") == "Conv2d(6, kernel_size=5)"
    # colouring by parameters: the legend's top is the largest layer's count (fc1: 400 -> 120)
    assert f"{sum(p.numel() for p in torch.nn.Linear(400, 120).parameters()):,}" in dom.split('id="legend"')[1][:200]


@needs_browser
def test_search_finds_by_kind_and_name(pages):
    st = state(pages["lenet"])
    assert set(st["hits"]) == {"conv1", "conv2"}


@needs_browser
def test_blocks_start_closed_and_expand(pages):
    torch = pytest.importorskip("torch")
    closed, opened = pages["resnet50"], pages["resnet50_open"]
    st, st2 = state(closed), state(opened)
    # ResNet-50 has more layers than the page opens at once: its stages open, their blocks do not
    assert "layer1" in st["open"] and not any(b.startswith("layer1.") for b in st["open"])
    assert "layer1.0" in node_ids(closed) and "layer1.0.conv1" not in node_ids(closed)
    assert {"layer1", "layer1.0"} <= set(st2["open"]) and "layer1.1" not in st2["open"]
    assert {"layer1.0.conv1", "layer1.0.conv2", "layer1.0.downsample", "layer1.1"} <= node_ids(opened)
    assert st2["vertices"] > st["vertices"]
    conv2 = torch.nn.Conv2d(64, 64, 3, padding=1, bias=False)  # torchvision's layer1[0].conv2
    assert detail(opened, "params") == f"{sum(p.numel() for p in conv2.parameters()):,}"


@needs_browser
def test_failing_model_draws_with_its_error(pages):
    proc, page = pages["written"]["bad"]
    assert proc.returncode == 1 and page.exists()
    dom = pages["bad"]
    st = state(dom)
    assert st["errors"] == 1
    assert re.search(r'<g class="node[^"]*\berr\b[^"]*" data-id="add"', dom)  # the failing layer is marked
    assert not re.search(r'<g class="node[^"]*\berr\b[^"]*" data-id="fc"', dom)
    assert "shape-mismatch" in dom and "needs shapes that broadcast" in dom
    assert "bad.model:3:71" in dom
    assert "c1" in node_ids(dom) and "relu_1" in node_ids(dom)  # the rest still draws


@needs_browser
def test_hostile_text_in_the_browser(pages):
    dom = pages["evil"]
    st = state(dom)  # the script ran to its end: nothing closed it early
    assert st["selected"] == "conv"
    assert "<img" not in dom and 'id="injected"' not in dom and "pwned" not in dom
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in dom  # shown as text


# ---------------------------------------------------------------- the static svg: tooltips and links
@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz is not installed (make setup installs it)")
def test_svg_tooltips_and_source_links(tmp_path):
    import xml.etree.ElementTree as ET

    torch = pytest.importorskip("torch")
    out = tmp_path / "sub" / "lenet.svg"
    out.parent.mkdir()
    assert viz(MODELS / "lenet.model", out).returncode == 0
    xl = "{http://www.w3.org/1999/xlink}"
    links = {a.get(xl + "title").split("\n")[0]: a for a in ET.parse(out).iter("{http://www.w3.org/2000/svg}a")}
    conv1 = links["conv1"]
    rows = conv1.get(xl + "title").split("\n")
    assert rows[1] == "Conv2d" and rows[2] == "(B, 6, 28, 28)"
    assert rows[3] == f"{sum(p.numel() for p in torch.nn.Conv2d(1, 6, 5).parameters()):,} params"
    assert rows[4].endswith("lenet.model:9")
    target, line = conv1.get(xl + "href").split("#L")
    assert (out.parent / target).resolve() == (MODELS / "lenet.model").resolve() and line == "9"
    assert "Conv2d(6, kernel_size=5)" in (MODELS / "lenet.model").read_text().splitlines()[8]


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz is not installed (make setup installs it)")
def test_svg_tooltips_of_hostile_text(tmp_path):
    import xml.etree.ElementTree as ET

    folder = tmp_path / 'h<b>"&amp;\\N'  # markup, a quote, an entity and graphviz's \N in the path
    folder.mkdir()
    (folder / "evil.model").write_text(HOSTILE_MODEL)
    out = tmp_path / "evil.svg"
    assert viz(folder / "evil.model", out).returncode == 1
    tree = ET.parse(out)  # well-formed
    assert not [e for e in tree.iter() if e.tag.endswith("}img") or e.tag.endswith("}script")]
    titles = [a.get("{http://www.w3.org/1999/xlink}title") for a in tree.iter("{http://www.w3.org/2000/svg}a")]
    shown = str(folder).replace("\\", "\u29f5")  # a backslash is shown as ⧵ (graphviz's escapes)
    assert any(t.endswith(f"{shown}/evil.model:4") for t in titles if t)
