"""``graphc serve``: the live page, driven in a real browser while the file changes.

The browser is headless chromium driven over its DevTools pipe (``--remote-debugging-pipe``:
JSON messages on file descriptors 3 and 4, so no extra package): the test loads the page the
server gives, changes the view with the page's own event handlers (a wheel zoom, a block's
``−``, a click on a layer), edits the .model file, and reads the page's state (``#graphc-state``,
as tests/test_viz_html.py does) until the update arrives.  The numbers the updated page shows
are compared with torch's own modules.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chromium import chromium, detail, edge_labels, needs_browser, node_ids

ROOT = Path(__file__).resolve().parents[1]

MODEL = """block Res(c) {{
    input x
    y = x -> conv1: Conv2d(c, 3, padding=1) -> ReLU -> conv2: Conv2d(c, 3, padding=1) -> add(x) -> ReLU
    output y
}}

model Live {{
    input image: [B, 8, 16, 16]
    y = image
        -> stem: Conv2d({stem}, 3, padding=1)
        -> blocks: Res({width}) * 2
        -> pool: AdaptiveAvgPool2d((1, 1))
        -> Flatten
        -> fc: Linear(10)
    output y
}}
"""


def model(stem: int, width: int) -> str:
    return MODEL.format(stem=stem, width=width)


# ---------------------------------------------------------------- chromium over its DevTools pipe
class Browser:
    def __init__(self, profile: Path):
        import fcntl  # POSIX only, as the pipe's fd 3 and 4 are

        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()

        def fds():  # the child's fd 3 reads our commands, its fd 4 writes the answers
            a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            chromium(profile, "--remote-debugging-pipe", "about:blank"),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=fds)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf, self._id, self.session = b"", 0, None

    def call(self, method: str, timeout: float = 30, **params):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        end = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._id:
                    assert "error" not in reply, reply["error"]
                    return reply["result"]
            left = end - time.monotonic()
            assert left > 0, f"chromium did not answer {method}"
            if select.select([self._r], [], [], left)[0]:
                chunk = os.read(self._r, 1 << 20)
                assert chunk, "chromium closed its pipe"
                self._buf += chunk

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", url=url)["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def js(self, expression: str):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in r, r["exceptionDetails"]
        return r["result"].get("value")

    def state(self) -> dict:
        return json.loads(self.js("(document.getElementById('graphc-state') || {}).textContent") or "null")

    def dom(self) -> str:
        return self.js("document.documentElement.outerHTML")

    def wait(self, pred, what: str, timeout: float = 20) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            st = self.state()
            if st and pred(st):
                return st
            time.sleep(0.05)
        raise AssertionError(f"the page never showed {what}; its state: {self.state()}")

    def wait_js(self, expression: str, what: str, timeout: float = 20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = self.js(expression)
            if v:
                return v
            time.sleep(0.05)
        raise AssertionError(f"the page never showed {what}")

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._r)
        os.close(self._w)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One chromium for the module's tests; each test opens its own tab."""
    b = Browser(tmp_path_factory.mktemp("chromium") / "profile")
    yield b
    b.close()


@pytest.fixture
def served(tmp_path):
    from graphc.serve import start

    path = tmp_path / "live.model"
    path.write_text(model(16, 16))
    server = start([str(path)], 0)
    yield server, path
    server.stop()


def rewrite(server, path: Path, text: str) -> None:
    """Save the file as an editor would, then let the server look (as its watch loop does)."""
    path.write_text(text)
    assert server.check_files(), "the server did not see the change"


# ---------------------------------------------------------------- in the browser
@needs_browser
def test_page_follows_the_file_and_keeps_the_view(served, browser):
    torch = pytest.importorskip("torch")
    server, path = served
    b = browser
    b.open(server.url)
    st = b.wait(lambda s: s["vertices"] > 0, "the diagram")
    assert {"blocks", "blocks.0", "blocks.1"} <= set(st["open"])  # small: it opens whole
    # change the view with the page's own handlers: zoom, close a block, select a layer
    b.js("document.getElementById('svg').dispatchEvent(new WheelEvent('wheel', "
         "{deltaY: -200, clientX: 600, clientY: 300, bubbles: true, cancelable: true}))")
    b.js("document.querySelector('[data-toggle=\"blocks.1\"]').dispatchEvent("
         "new PointerEvent('pointerdown', {bubbles: true}))")
    b.js("document.querySelector('g.node[data-id=\"fc\"]').dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    b.js("const s = document.getElementById('search'); s.value = 'conv1';"
         "s.dispatchEvent(new Event('input'))")
    before = b.wait(lambda s: s["selected"] == "fc" and "blocks.1" not in s["open"], "the changed view")
    assert before["hits"] == ["blocks.0.conv1", "blocks.1"]  # the closed block lights for its match
    assert detail(b.dom(), "params") == f"{sum(p.numel() for p in torch.nn.Linear(16, 10).parameters()):,}"

    # 1. a wider model: new shapes and numbers, the same view
    rewrite(server, path, model(24, 24))
    st = b.wait(lambda s: s["updates"] == 1, "the update")
    assert st["view"] == before["view"] and st["open"] == before["open"]
    assert st["selected"] == "fc" and st["hits"] == before["hits"] and st["errors"] == 0
    # what the save changed is outlined: the shapes from the stem on, fc's parameters; not the output's (B, 10)
    assert {"stem", "blocks.0.conv1", "blocks.1", "pool", "flatten", "fc"} <= set(st["changed"])
    assert "output:y" not in st["changed"] and "image" not in st["changed"]
    assert re.search(r'<g class="node[^"]*\bchanged\b[^"]*" data-id="fc"', b.dom())
    dom = b.dom()
    out = torch.nn.Conv2d(8, 24, 3, padding=1)(torch.zeros(1, 8, 16, 16))
    assert "(B, " + ", ".join(map(str, out.shape[1:])) + ")" in edge_labels(dom)
    assert "(B, 16, 16, 16)" not in edge_labels(dom)
    assert detail(dom, "params") == f"{sum(p.numel() for p in torch.nn.Linear(24, 10).parameters()):,}"

    # 2. broken: the block's add meets 16 channels and 24; the page marks it and lists the error
    rewrite(server, path, model(16, 24))
    st = b.wait(lambda s: s["updates"] == 2, "the failing model")
    assert st["errors"] == 1 and st["diags"] == ["shape-mismatch"] and st["view"] == before["view"]
    dom = b.dom()
    assert re.search(r'<g class="node[^"]*\berr\b[^"]*" data-id="blocks.0.add"', dom)
    assert re.search(r'<g class="node[^"]*\berr\b[^"]*" data-id="blocks.1"', dom)  # closed, an error inside
    assert "live.model:3:" in dom and "errors" in b.js("document.getElementById('live').textContent")
    with pytest.raises(RuntimeError):  # torch agrees: the shapes do not add
        torch.zeros(1, 24, 16, 16) + torch.zeros(1, 16, 16, 16)

    # 3. not even parsed: the last diagram stays, marked stale, with the syntax error listed
    rewrite(server, path, model(16, 24).replace("-> Flatten", "-> Flatten ->"))
    st = b.wait(lambda s: s["updates"] == 3, "the syntax error")
    assert st["stale"] and st["vertices"] > 0 and st["errors"] >= 1 and "syntax" in st["diags"]

    # 4. fixed: it recovers, the view still as it was
    rewrite(server, path, model(32, 32))
    st = b.wait(lambda s: s["updates"] == 4, "the recovery")
    assert st["errors"] == 0 and not st["stale"] and st["diags"] == []
    assert st["view"] == before["view"] and st["open"] == before["open"] and st["selected"] == "fc"
    dom = b.dom()
    assert "blocks.0.conv1" in node_ids(dom) and "blocks.1.conv1" not in node_ids(dom)
    assert not re.search(r'<g class="node[^"]*\berr\b', dom)
    assert detail(dom, "params") == f"{sum(p.numel() for p in torch.nn.Linear(32, 10).parameters()):,}"


@needs_browser
def test_index_of_several_files_and_fragment(served, browser, tmp_path):
    """Several files: / lists them; a page takes the static page's #fragment (here, a selection)."""
    from graphc.serve import start

    other = tmp_path / "other.model"
    other.write_text(model(16, 16).replace("model Live", "model Other"))
    server = start([str(served[1]), str(other)], 0)
    b = browser
    try:
        b.open(server.url)
        links = b.wait_js("Array.from(document.querySelectorAll('a'), (a) => a.getAttribute('href'))", "the list")
        assert links == ["/view/0", "/view/1"]
        b.open(server.url + "view/1#select=blocks.0.conv1")
        st = b.wait(lambda s: s["vertices"] > 0, "the diagram")
        dom = b.dom()
        assert st["selected"] == "blocks.0.conv1" and "blocks.0.conv1" in node_ids(dom)
        assert "Other" in b.js("document.getElementById('model-name').textContent")
        assert "connect-src 'self'" in dom
    finally:
        server.stop()


@needs_browser
def test_page_of_a_file_that_does_not_parse_yet(browser, tmp_path):
    """Started on a file that does not parse (nothing to draw): the page lists the error, then
    draws the model once the file is fixed, opening and fitting it as a fresh page would."""
    from graphc.serve import start

    path = tmp_path / "later.model"
    path.write_text("model Later {\n    input x: [B, 4\n}\n")
    server = start([str(path)], 0)
    b = browser
    try:
        b.open(server.url)
        st = b.wait(lambda s: s["ready_ms"] is not None, "the page")
        assert st["vertices"] == 0 and st["errors"] >= 1 and "syntax" in st["diags"] and not st["stale"]
        rewrite(server, path, model(16, 16))
        st = b.wait(lambda s: s["updates"] == 1, "the model")
        assert st["errors"] == 0 and st["vertices"] > 0 and "blocks" in st["open"]
        assert "stem" in node_ids(b.dom())
        server.stop()  # the page says the server is gone, and keeps its diagram
        assert "does not answer" in b.wait_js("(document.querySelector('#live.down') || {}).textContent", "it")
        assert b.state()["vertices"] == st["vertices"]
    finally:
        server.stop()


# ---------------------------------------------------------------- without a browser
def get(server, path: str, host: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    conn.putrequest("GET", path, skip_host=True)
    conn.putheader("Host", host or f"127.0.0.1:{server.server_address[1]}")
    conn.endheaders()
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


def test_serves_only_the_given_files(served, tmp_path):
    server, path = served
    secret = tmp_path / "secret.model"
    secret.write_text("model Secret {}\n")
    assert server.server_address[0] == "127.0.0.1"
    for bad in ("/../secret.model", "/view/../secret.model", "/view/1", "/data/1", "/view/-1", "/view/0/../1",
                "/%2e%2e/secret.model", "/" + str(secret), "/view/" + str(secret), "/data/00000000001",
                "/live.model", "/view/", "/view/0x0"):
        code, body = get(server, bad)
        assert code == 404 and b"Secret" not in body, bad
    code, body = get(server, "/view/0")
    assert code == 200 and b"stem" in body
    code, _ = get(server, "/", host="attacker.example:80")  # a rebound domain is refused
    assert code == 403
    for have in ("%C2%B2", "9" * 5000):  # a digit int() refuses, a number past int()'s limit: the data
        code, body = get(server, "/data/0?have=" + have)
        assert code == 200 and json.loads(body)["version"] == 1, have


def test_data_waits_for_a_change(served):
    server, path = served
    code, body = get(server, "/data/0?have=0")
    assert code == 200 and json.loads(body)["version"] == 1
    import graphc.serve as serve_mod

    old, serve_mod.WAIT = serve_mod.WAIT, 0.3
    try:
        t0 = time.monotonic()
        assert get(server, "/data/0?have=1")[0] == 204 and time.monotonic() - t0 >= 0.25  # nothing new
    finally:
        serve_mod.WAIT = old
    path.write_text(model(16, 16).replace("Linear(10)", "Linear(7)"))
    server.check_files()
    code, body = get(server, "/data/0?have=1")
    data = json.loads(body)
    assert data["version"] == 2 and next(i for i in data["data"]["items"] if i["id"] == "fc")["shape"] == "(B, 7)"


def test_cli_serves_follows_and_stops_on_ctrl_c(tmp_path):
    """The command itself: never imports torch, sees a save, and Ctrl-C stops it with exit 0."""
    path = tmp_path / "m.model"
    path.write_text(model(16, 16))
    code = ("import sys, gc, graphc.cli as c, graphc.serve as s; seen = []\n"
            "s.time.sleep = lambda t, sleep=s.time.sleep: (seen.append(gc.isenabled()), sleep(t))[1]\n"
            "rc = c.main(['serve', sys.argv[1], '--port', '0'])\n"
            "print('torch' in sys.modules, rc, all(seen), flush=True)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        first = proc.stderr.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", first)
        assert m, first + proc.stderr.read()
        assert "m.model: ok" in proc.stderr.readline()
        port = int(m.group(1))
        path.write_text(model(16, 24))  # broken
        line = proc.stderr.readline()
        assert "1 error" in line and re.search(r"m\.model:3:\d+: error\[shape-mismatch\]: add: needs shapes", line), line
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/data/0?have=1")
        data = json.loads(conn.getresponse().read())["data"]
        assert [d["code"] for d in data["diags"]] == ["shape-mismatch"]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "stopped" in err and "Traceback" not in err
    # torch was never imported; serve returned 0; the cyclic collector ran while it served
    assert out.split() == ["False", "0", "True"]


def test_a_closed_page_is_no_traceback(served, capfd):
    """A page that goes away while its request waits: the server says nothing and goes on."""
    import socket

    server, path = served
    with socket.create_connection(("127.0.0.1", server.server_address[1])) as s:
        s.sendall(f"GET /data/0?have=1 HTTP/1.1\r\nHost: 127.0.0.1:{server.server_address[1]}\r\n\r\n".encode())
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    time.sleep(0.1)
    path.write_text(model(16, 16).replace("Linear(10)", "Linear(9)"))  # the answer goes to a closed socket
    server.check_files()
    time.sleep(0.3)
    assert "Traceback" not in capfd.readouterr().err
    assert get(server, "/data/0?have=1")[0] == 200  # still serving


def test_model_of_several_and_a_missing_one(tmp_path):
    from graphc.serve import page_data

    path = tmp_path / "two.model"
    path.write_text(model(16, 16) + "\n" + model(16, 16).split("}\n\n", 1)[1].replace("model Live", "model Other")
                    .replace("Linear(10)", "Linear(3)"))
    data, errors = page_data(str(path), "Other")
    assert errors == 0 and data["model"] == "Other" and data["models"] == ["Live", "Other"]
    assert next(i for i in data["items"] if i["id"] == "fc")["shape"] == "(B, 3)"
    data, errors = page_data(str(path), "Nope")
    assert errors == 1 and data["model"] == "Live" and data["items"]  # the first, drawn, and why
    assert data["diags"][0]["code"] == "missing-model" and "it has Live, Other" in data["diags"][0]["msg"]


def test_busy_port_is_a_usage_error(served, capsys):
    from graphc.cli import main

    server, path = served
    assert main(["serve", str(path), "--port", str(server.server_address[1])]) == 2
    err = capsys.readouterr().err
    assert "cannot listen on 127.0.0.1:" in err and "--port" in err
