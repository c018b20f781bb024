"""The interactive page (``graphc viz -o X.html``) on large models, in headless chromium.

    .venv/bin/python -m bench.viz_large            # DenseNet-121 (~430 layers), 10,000-layer chain and DAG
    .venv/bin/python -m bench.viz_large --keep DIR # also keep the .model and .html files in DIR
    .venv/bin/python -m bench.viz_large --screenshots docs/images   # (re)make docs/viz.md's screenshots

For each model: the page's size (and gzipped), the time to write it (compile, page data, HTML),
the time to first render in chromium (navigation start to the end of the first draw, read from
the page: ``performance.now()`` when it is ready), and how fast it answers: opening a block,
*expand all*, a zoom and a search (each timed in the page around the handler that does it, so
layout and drawing are included, the browser's own start is not).  chromium is driven over its
DevTools pipe (tests/test_serve.py's Browser).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import os
import tempfile
import time
from pathlib import Path

DENSE_LAYERS = (6, 12, 24, 16)


def densenet121() -> str:
    """torchvision's DenseNet-121 layer for layer: 4 dense blocks of (6, 12, 24, 16) layers,
    growth 32, bottleneck 4 × 32, transitions halving the channels."""
    return """block DenseLayer(growth=32) {
    input x
    y = x
        -> norm1: BatchNorm2d -> relu1: ReLU
        -> conv1: Conv2d(4 * growth, 1, bias=false)
        -> norm2: BatchNorm2d -> relu2: ReLU
        -> conv2: Conv2d(growth, 3, padding=1, bias=false)
    out = concat(x, y)
    output out
}

block Transition(c) {
    input x
    y = x -> norm: BatchNorm2d -> relu: ReLU -> conv: Conv2d(c, 1, bias=false) -> pool: AvgPool2d(2)
    output y
}

model DenseNet121 {
    input image: [B, 3, 224, 224]
    logits = image
        -> conv0: Conv2d(64, 7, stride=2, padding=3, bias=false)
        -> norm0: BatchNorm2d
        -> relu0: ReLU
        -> pool0: MaxPool2d(3, stride=2, padding=1)
        -> denseblock1: DenseLayer() * 6
        -> transition1: Transition(128)
        -> denseblock2: DenseLayer() * 12
        -> transition2: Transition(256)
        -> denseblock3: DenseLayer() * 24
        -> transition3: Transition(512)
        -> denseblock4: DenseLayer() * 16
        -> norm5: BatchNorm2d
        -> ReLU
        -> AdaptiveAvgPool2d((1, 1))
        -> Flatten
        -> classifier: Linear(1000)
    output logits
}
"""


def write_page(model: Path, out: Path) -> dict:
    """Compile, make the page's data, write the HTML: the time of each step."""
    from graphc.cli import load
    from graphc.emit.html import to_html, viz_data

    t0 = time.perf_counter()
    comp = load(str(model))
    t1 = time.perf_counter()
    data = viz_data(comp.program, comp.source, comp.diagnostics, [p.name for p in comp.programs])
    t2 = time.perf_counter()
    text = to_html(data)
    out.write_text(text, encoding="utf-8")
    t3 = time.perf_counter()
    raw = text.encode()
    layers = sum(1 for it in data["items"] if it["t"] == "n")
    return {"errors": len(comp.errors), "layers": layers, "compile_s": t1 - t0, "data_s": t2 - t1,
            "html_s": t3 - t2, "bytes": len(raw), "gzip": len(gzip.compress(raw, 6))}


TOGGLE = """(() => {{
  const t = performance.now();
  document.querySelector('[data-toggle="{id}"]').dispatchEvent(new PointerEvent('pointerdown', {{bubbles: true}}));
  return performance.now() - t;
}})()"""
CLICK = """(() => {{
  const t = performance.now();
  document.getElementById('{id}').click();
  return performance.now() - t;
}})()"""
ZOOM = """(() => {
  const t = performance.now(), svg = document.getElementById('svg');
  for (let i = 0; i < 10; i++) svg.dispatchEvent(new WheelEvent('wheel', {deltaY: 120, clientX: 700, clientY: 400, bubbles: true, cancelable: true}));
  return new Promise((ok) => requestAnimationFrame(() => ok(performance.now() - t)));
})()"""
UPDATE = """(() => {
  window.graphcUpdate(JSON.parse(document.getElementById('graphc-data').textContent));
  return JSON.parse(document.getElementById('graphc-state').textContent).update_ms;
})()"""
SEARCH = """(() => {
  const t = performance.now(), s = document.getElementById('search');
  s.value = 'conv'; s.dispatchEvent(new Event('input'));
  return performance.now() - t;
})()"""


def in_browser(page: Path, profile: Path, block: str | None) -> dict:
    from tests.test_serve import Browser

    b = Browser(profile)
    try:
        t0 = time.perf_counter()
        b.open(page.resolve().as_uri())
        st = b.wait(lambda s: s.get("ready_ms") is not None, "the first render", timeout=120)
        wall = time.perf_counter() - t0
        res = {"ready_ms": st["ready_ms"], "layout_ms": st["layout_ms"], "open_wall_s": wall,
               "vertices": st["vertices"], "drawn": st["drawn"]}
        if block:
            res["expand_block_ms"] = b.js(TOGGLE.format(id=block))
            res["vertices_after_expand"] = b.state()["vertices"]
        res["update_ms"] = b.js(UPDATE)  # what a save costs the page under graphc serve
        res["zoom_ms"] = b.js(ZOOM)
        res["search_ms"] = b.js(SEARCH)
        res["expand_all_ms"] = b.js(CLICK.format(id="expand-all"))
        st = b.state()
        res["vertices_all"], res["layout_all_ms"] = st["vertices"], st["layout_ms"]
        return res
    finally:
        b.close()


SHOTS = (  # name, model, URL fragment, window
    ("viz-digits.png", "models/digits.model", "fit=all&select=conv2", (1200, 720)),
    ("viz-resnet18.png", "models/resnet18.model", "expand=layer1.0&select=layer1.0.conv1&color=macs", (1400, 900)),
    ("viz-unet.png", "models/unet.model",
     "collapse=inc,down1,down2,down3,down4,up1,up2,up3,up4&color=params&fit=all&select=up1", (1200, 900)),
)
BAD_MODEL = """model Bad {
    input x: [B, 3, 32, 32]
    y = x -> c1: Conv2d(8, 3) -> ReLU -> Flatten -> fc: Linear(10) -> add(x) -> ReLU
    output y
}
"""


def screenshots(out: Path) -> None:
    """The screenshots of docs/viz.md and the README, made by headless chromium from the pages
    graphc writes (and, for viz-serve.png, from a running `graphc serve` after a breaking save)."""
    import base64
    import shutil
    import subprocess

    from graphc.serve import start
    from tests.test_serve import Browser, model

    browser = next(b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b))
    root, out, here = Path(__file__).resolve().parents[1], out.resolve(), Path.cwd()
    work = Path(tempfile.mkdtemp(prefix="viz_shots_"))
    (work / "models").mkdir()
    for _, path, _, _ in SHOTS:  # copied, so that every page shows its path as the docs write it
        shutil.copy(root / path, work / path)
    (work / "models" / "bad.model").write_text(BAD_MODEL)
    (work / "models" / "live.model").write_text(model(16, 16))
    os.chdir(work)
    try:
        for name, path, frag, (w, h) in SHOTS + (("viz-error.png", "models/bad.model", "select=add", (1400, 900)),):
            page = work / (name + ".html")
            with contextlib.redirect_stderr(io.StringIO()):
                write_page(Path(path), page)
            subprocess.run([browser, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
                            f"--user-data-dir={work / ('p-' + name)}", f"--window-size={w},{h}",
                            "--virtual-time-budget=4000", f"--screenshot={out / name}", f"{page.as_uri()}#{frag}"],
                           check=True, capture_output=True, timeout=120)
            print(f"wrote {out / name} ({(out / name).stat().st_size:,} bytes)")
        server = start(["models/live.model"], 0)
        b = Browser(work / "p-serve")
        try:
            b.open(server.url + "#select=blocks.0.conv2")
            b.call("Emulation.setDeviceMetricsOverride", width=1200, height=720, deviceScaleFactor=1, mobile=False)
            b.wait(lambda s: s["vertices"] > 0, "the diagram")
            Path("models/live.model").write_text(model(16, 24))  # breaks it: the block's add meets 16 and 24 channels
            server.check_files()
            b.wait(lambda s: s["updates"] == 1, "the update")
            time.sleep(0.3)
            png = base64.b64decode(b.call("Page.captureScreenshot", format="png")["data"])
            (out / "viz-serve.png").write_bytes(png)
            print(f"wrote {out / 'viz-serve.png'} ({len(png):,} bytes)")
        finally:
            b.close()
            server.stop()
    finally:
        os.chdir(here)


def main(argv: list[str] | None = None) -> int:
    from bench.compile_scaling import chain, residual

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", metavar="DIR", help="keep the .model and .html files here")
    ap.add_argument("--screenshots", metavar="DIR", help="write docs/viz.md's screenshots into DIR instead")
    args = ap.parse_args(argv)
    if args.screenshots:
        screenshots(Path(args.screenshots))
        return 0
    work = Path(args.keep or tempfile.mkdtemp(prefix="viz_large_"))
    work.mkdir(parents=True, exist_ok=True)
    cases = [("DenseNet-121", "densenet121", densenet121(), "denseblock1.0"),
             ("10,000-layer chain", "chain10000", chain(10_000), None),
             ("2,500 residual blocks (10,000 layers)", "residual10000", residual(10_000), "res")]
    rows = []
    for title, stem, text, block in cases:
        model = work / f"{stem}.model"
        model.write_text(text)
        with contextlib.redirect_stderr(io.StringIO()):
            w = write_page(model, work / f"{stem}.html")
        assert not w["errors"], f"{stem} does not check"
        b = in_browser(work / f"{stem}.html", work / f"profile-{stem}", block)
        rows.append((title, w, b))
        print(f"{title}: {w} {b}", flush=True)
    print()
    print("| | " + " | ".join(t for t, _, _ in rows) + " |")
    print("|---|" + "---|" * len(rows))

    def row(label, f):
        print(f"| {label} | " + " | ".join(f(w, b) for _, w, b in rows) + " |")

    row("layers", lambda w, b: f"{w['layers']:,}")
    row("HTML size (gzipped)", lambda w, b: f"{w['bytes'] / 1e6:.2f} MB ({w['gzip'] / 1e3:.0f} KB)")
    row("write: compile + page data + HTML", lambda w, b: f"{w['compile_s']:.2f} + {w['data_s']:.2f} + {w['html_s']:.2f} s")
    row("first render in chromium (navigation to drawn)", lambda w, b: f"{b['ready_ms']:,} ms (layout {b['layout_ms']} ms)")
    row("boxes at the start: laid out / in the DOM", lambda w, b: f"{b['vertices']:,} / {b['drawn']}")
    row("open one block", lambda w, b: f"{b['expand_block_ms']:.0f} ms ({b['vertices_after_expand']:,} boxes)"
        if "expand_block_ms" in b else "—")
    row("*expand all*", lambda w, b: f"{b['expand_all_ms']:.0f} ms ({b['vertices_all']:,} boxes)")
    row("redraw after a save (`graphc serve`)", lambda w, b: f"{b['update_ms']:,} ms")
    row("zoom out (10 wheel steps, redraw)", lambda w, b: f"{b['zoom_ms']:.0f} ms")
    row("search 'conv'", lambda w, b: f"{b['search_ms']:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
