"""The language server as an editor sees it (issue 20): ``graphc lsp`` started as a subprocess and
driven over stdio by pygls's client.

- start: spawning ``python -m graphc lsp`` to its answer to ``initialize``, read off the pipe
  (a raw exchange: pygls's client spends longer on its first message than the server does);
- edit → diagnostics: a ``didChange`` of models/resnet50.model (a new width of the classifier
  each time) to the ``publishDiagnostics`` that answers it; the edit comes after a pause, so the
  server checks it at once (its debounce, 15 ms, applies to bursts);
- a burst: five edits 5 ms apart, from the last one to the diagnostics (the debounce included);
- hover on a block line (four uses, the ``--explain`` formulas) and inlay hints of the whole file,
  on a compiled document; and inlay hints asked right after an edit (they compile it first).

``python -m bench.lsp_latency [--quick]`` prints the section; ``python -m bench --only editor``
writes it to bench/RESULTS.md with the others.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time

from bench.common import ROOT, bench_env, fmt_time, log, table, verdict

MODEL = ROOT / "models" / "resnet50.model"
GOALS = {"start": 0.5, "edit": 0.050, "hover": 0.020, "hints": 0.020}


def _iqr(xs: list[float]) -> str:
    if len(xs) < 2:
        return ""
    q1, _, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return f"{fmt_time(q1)}–{fmt_time(q3)}"


async def _measure(repeats: int) -> dict[str, list[float]]:
    from lsprotocol import types as T
    from pygls.lsp.client import LanguageClient
    from pygls.uris import from_fs_path

    client = LanguageClient("graphc-bench", "1")
    arrived: dict[str, float] = {}
    event = asyncio.Event()

    @client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params):
        arrived["t"] = time.perf_counter()
        arrived["version"] = params.version
        event.set()

    out: dict[str, list[float]] = {"start": [], "open": [], "edit": [], "burst": [], "hover": [], "hints": [],
                                   "edit+hints": []}
    t0 = time.perf_counter()
    await client.start_io(sys.executable, "-m", "graphc", "lsp", cwd=str(ROOT), env=bench_env())
    await client.initialize_async(T.InitializeParams(capabilities=T.ClientCapabilities()))
    out["start"].append(time.perf_counter() - t0)
    client.initialized(T.InitializedParams())

    uri = from_fs_path(str(MODEL))
    text = MODEL.read_text(encoding="utf-8")
    assert "fc: Linear(1000)" in text
    event.clear()
    t0 = time.perf_counter()
    client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri=uri, language_id="graphc", version=1, text=text)))
    await event.wait()
    out["open"].append(arrived["t"] - t0)
    doc = T.TextDocumentIdentifier(uri)
    lines = text.splitlines()
    row = next(i for i, ln in enumerate(lines) if "conv2: Conv2d(c, 3, stride=stride" in ln)
    where = T.Position(row, lines[row].index("Conv2d") + 2)
    whole = T.Range(T.Position(0, 0), T.Position(len(lines), 0))
    version = 1

    def change(k: int):  # every edit a new text: a width the server has not compiled
        nonlocal version
        version += 1
        new = text.replace("fc: Linear(1000)", f"fc: Linear({1000 + version})")
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(version=version, uri=uri), [T.TextDocumentContentChangeWholeDocument(new)]))

    async def fresh():
        """Until the diagnostics of the newest version arrive."""
        while True:
            await event.wait()
            event.clear()
            if arrived.get("version") == version:
                return

    for k in range(repeats + 2):  # two warm-up rounds
        event.clear()
        t0 = time.perf_counter()
        change(k)
        await fresh()
        edit = arrived["t"] - t0
        t0 = time.perf_counter()
        h = await client.text_document_hover_async(T.HoverParams(doc, where))
        hover = time.perf_counter() - t0
        assert h is not None and "4 uses" in h.contents.value
        t0 = time.perf_counter()
        hints = await client.text_document_inlay_hint_async(T.InlayHintParams(doc, whole))
        hint_time = time.perf_counter() - t0
        assert len(hints) > 40
        await asyncio.sleep(0.05)
        event.clear()
        t0 = time.perf_counter()
        change(k + 1)
        await client.text_document_inlay_hint_async(T.InlayHintParams(doc, whole))
        after_edit = time.perf_counter() - t0
        await event.wait()
        await asyncio.sleep(0.05)
        event.clear()
        for j in range(5):  # a burst: the debounce holds the check until the last edit
            if j:
                await asyncio.sleep(0.005)
            t0 = time.perf_counter()
            change(k + 2 + j)
        await fresh()  # the diagnostics of the last text (the first edit's come first)
        burst = arrived["t"] - t0
        if k >= 2:
            out["burst"].append(burst)
            out["edit"].append(edit)
            out["hover"].append(hover)
            out["hints"].append(hint_time)
            out["edit+hints"].append(after_edit)
        await asyncio.sleep(0.05)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return out


def _start_times(n: int) -> list[float]:
    """Spawn → the answer to ``initialize``, each from a fresh server."""
    import json

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                       "params": {"processId": None, "rootUri": None, "capabilities": {}}}).encode()
    message = b"Content-Length: %d\r\n\r\n" % len(body) + body
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-m", "graphc", "lsp"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, cwd=str(ROOT), env=bench_env())
        p.stdin.write(message)
        p.stdin.flush()
        length = int(p.stdout.readline().split(b":")[1])
        p.stdout.readline()
        answer = json.loads(p.stdout.read(length))
        out.append(time.perf_counter() - t0)
        assert "capabilities" in answer["result"], answer
        p.kill()
        p.wait()
    return out


def _baselines(repeats: int) -> dict[str, list[float]]:
    """One compile in this process (new text each time), and two interpreter starts."""
    from graphc.api import compile_source

    text = MODEL.read_text(encoding="utf-8")
    compile_source(text, str(MODEL))
    compiles = []
    for k in range(repeats):
        new = text.replace("fc: Linear(1000)", f"fc: Linear({2000 + k})")
        t0 = time.perf_counter()
        compile_source(new, str(MODEL))
        compiles.append(time.perf_counter() - t0)
    starts = {"lsprotocol": [], "pass": []}
    for _ in range(max(3, repeats // 4)):
        for key, code in (("lsprotocol", "import lsprotocol.types"), ("pass", "pass")):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=bench_env(), check=True)
            starts[key].append(time.perf_counter() - t0)
    return {"compile": compiles, **starts}


def run(quick: bool = False) -> str:
    try:
        import pygls.lsp.client  # noqa: F401
    except ImportError:
        return "pygls is not installed (the `lsp` extra): no figures"
    times = asyncio.run(_measure(5 if quick else 40))
    log(f"lsp: edit median {fmt_time(statistics.median(times['edit']))}")
    times["start"] = _start_times(3 if quick else 10)
    log(f"lsp: start median {fmt_time(statistics.median(times['start']))}")
    times.update(_baselines(5 if quick else 20))
    rows = []
    labels = {"start": "server start (spawn → `initialize` answered)",
              "open": "open resnet50 → first diagnostics",
              "edit": "edit after a pause → diagnostics",
              "burst": "last edit of a burst → diagnostics (debounce 15 ms included)",
              "hover": "hover on a block line (4 uses)",
              "hints": "inlay hints, whole file (54 hints)",
              "edit+hints": "edit → inlay hints (compiles first)",
              "compile": "baseline: `compile_source(resnet50)` in process",
              "lsprotocol": "baseline: `python -c 'import lsprotocol.types'` (a pygls server's start)",
              "pass": "baseline: `python -c pass`"}
    for key, label in labels.items():
        xs = times[key]
        goal = GOALS.get(key)
        med = statistics.median(xs)
        rows.append([label, f"{fmt_time(med)}", _iqr(xs), len(xs),
                     f"≤ {fmt_time(goal)} {verdict(med <= goal)}" if goal else ""])
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return ("`graphc lsp` driven over stdio by pygls's client on models/resnet50.model (176 layers), "
            "as an editor drives it; times are client-side wall times, medians. The baselines, measured "
            "in the same run, show what the machine gives: the server's edit → diagnostics is one compile "
            "(parsing only the statement edited), its start an interpreter's plus graphc's imports. "
            f"Load average at the end: {load}."
            "\n\n"
            + table(["what", "median", "interquartile range", "samples", "goal (issue 20)"], rows))


if __name__ == "__main__":
    print(run("--quick" in sys.argv))
