"""``graphc serve FILE...``: the interactive view of each file, following the file as it changes.

A small server from the standard library (``http.server``, one thread per request) bound to
127.0.0.1 only.  The main thread watches the files: every ``POLL`` seconds it compares each
file's (mtime, size, inode) with the last it saw (an editor that saves by writing a new file and
renaming it changes the inode), and when they differ and hold still for ``SETTLE`` seconds (an
editor that truncates the file and then writes it is not caught half way) it checks the file
again, exactly as ``graphc check`` does (never importing torch), and makes the page's data
(graphc.emit.html).

The page (the same as ``graphc viz -o X.html``, plus graphc/emit/templates/viz/live.js) asks
``/data/K?have=V``: the server answers at once with the data when its version is not V, and
otherwise waits until the file changes (a long poll), answering 204 after ``WAIT`` seconds so
the page asks again.  The page then redraws in place and keeps its view (zoom, pan, open blocks,
selection, search, colour).

What it serves: ``/`` (the one file's page, or a list of the files), ``/view/K`` and
``/data/K`` for K the file's position on the command line.  Nothing is looked up by a path
taken from the request, so no request can reach another file; a request whose Host header is
not this server's (a web page that rebinds its domain to 127.0.0.1) is refused.
"""

from __future__ import annotations

import gc
import html
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

POLL = 0.25  # seconds between two looks at the files
WAIT = 20.0  # seconds a /data request waits for a change before answering 204
SETTLE = 0.05  # a changed file is checked once it has not changed again for this long


class Watched:
    """One file: its latest page data and version, recomputed when the file changes."""

    def __init__(self, path: str, model: str | None = None):
        self.path, self.model = path, model
        self.version, self.data, self.stamp = 0, None, ()
        self.errors = 0

    def stamp_now(self):
        try:
            st = os.stat(self.path)
        except OSError:
            return ("missing",)
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def refresh(self, lock) -> bool:
        """Check the file again if it changed; True if it did (the data is new)."""
        stamp = self.stamp_now()
        if stamp == self.stamp and self.data is not None:
            return False
        if self.data is not None:  # an editor may still be writing: wait until the file holds still
            time.sleep(SETTLE)
            if self.stamp_now() != stamp:
                return False  # the next look sees it again
        data, errors = page_data(self.path, self.model)
        with lock:  # the data and its version change together for the pages that read them
            self.stamp, self.data, self.errors = stamp, data, errors
            self.version += 1
        return True

    def first_error(self) -> str:
        d = next((d for d in self.data["diags"] if d["sev"] == "error"), None)
        return f"{d['loc']}: error[{d['code']}]: {d['msg']}" if d else ""


def page_data(path: str, model: str | None = None) -> tuple[dict, int]:
    """The page's data for one file and its number of errors; an internal failure of graphc is
    shown on the page as a diagnostic rather than stopping the server."""
    from graphc.cli import load
    from graphc.emit.html import viz_data

    try:
        comp = load(path)
        prog, diags = comp.program, list(comp.diagnostics)
        if model and comp.programs:
            prog = next((p for p in comp.programs if p.name == model), None)
            if prog is None:  # drawn: the first model, with the reason it is not the one asked for
                from graphc.errors import diag
                from graphc.source import Span

                prog = comp.program
                diags.append(diag(Span(path, 1, 1, 1, 1), "missing-model",
                                  f"{path} has no model '{model}'; it has {', '.join(p.name for p in comp.programs)}",
                                  "give one of those to --model; the page draws the first"))
        data = viz_data(prog, comp.source, diags, [p.name for p in comp.programs])
        return data, sum(d.severity == "error" for d in diags)
    except Exception as e:  # a bug in graphc: say so on the page, keep serving
        return ({"model": "", "file": path, "models": [], "items": [], "edges": [],
                 "diags": [{"loc": f"{path}:1:1", "sev": "error", "code": "internal",
                            "msg": f"graphc failed on this file: {type(e).__name__}: {e} (a bug in graphc; "
                                   f"'graphc check --debug {path}' shows the traceback)",
                            "hint": "", "items": []}]}, 1)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, files: list[Watched], port: int):
        self.files = files
        self.changed = threading.Condition()
        self.stopping = False
        super().__init__(("127.0.0.1", port), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def check_files(self) -> list[Watched]:
        """Look at every file once; wake the waiting pages if one changed."""
        changed = [w for w in self.files if w.refresh(self.changed)]
        if changed:
            with self.changed:
                self.changed.notify_all()
        return changed

    def wait_for(self, w: Watched, have: int, timeout: float) -> bool:
        end = time.monotonic() + timeout
        with self.changed:
            while w.version == have and not self.stopping:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
        return w.version != have

    def handle_error(self, request, client_address) -> None:
        """A page closed while its request waited is not an error worth a traceback."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def stop(self) -> None:
        with self.changed:
            self.stopping = True
            self.changed.notify_all()
        self.shutdown()
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: the terminal shows the checks, not the requests
        pass

    def send(self, code: int, body: bytes = b"", ctype: str = "text/plain; charset=utf-8") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        if self.server.stopping:  # a kept-alive connection outlives the listening socket: end it
            return self.gone()
        port = self.server.server_address[1]
        if self.headers.get("Host", "") not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            return self.send(403, b"graphc serve answers requests for 127.0.0.1 only\n")
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        files = self.server.files
        if url.path == "/":
            if len(files) == 1:
                return self.page(0)
            return self.send(200, index_page(files).encode(), "text/html; charset=utf-8")
        if len(parts) == 2 and parts[0] in ("view", "data") and parts[1].isdigit() and len(parts[1]) < 6 \
                and int(parts[1]) < len(files):
            k = int(parts[1])
            return self.page(k) if parts[0] == "view" else self.data(k, parse_qs(url.query).get("have", [""])[0])
        return self.send(404, b"not found: graphc serve shows only the files it was given (see /)\n")

    def gone(self) -> None:
        self.close_connection = True
        self.send(503, b"graphc serve has stopped\n")

    def page(self, k: int) -> None:
        from graphc.emit.html import to_html

        w = self.server.files[k]
        with self.server.changed:
            data, version = w.data, w.version
        body = to_html(data, live={"data": f"/data/{k}", "version": version}).encode()
        self.send(200, body, "text/html; charset=utf-8")

    def data(self, k: int, have: str) -> None:
        w = self.server.files[k]
        known = int(have) if have.isdigit() else -1
        if not self.server.wait_for(w, known, WAIT):
            return self.gone() if self.server.stopping else self.send(204)
        with self.server.changed:
            body = json.dumps({"version": w.version, "data": w.data}, ensure_ascii=False,
                              separators=(",", ":")).encode()
        self.send(200, body, "application/json")


def index_page(files: list[Watched]) -> str:
    rows = "\n".join(f'<li><a href="/view/{k}">{html.escape(w.path)}</a>'
                     f'{" — " + str(w.errors) + " error" + ("s" if w.errors != 1 else "") if w.errors else ""}</li>'
                     for k, w in enumerate(files))
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\">"
            "<title>graphc serve</title></head><body style=\"font: 14px system-ui, sans-serif\">"
            f"<h3>graphc serve</h3><ol>\n{rows}\n</ol></body></html>\n")


def start(paths: list[str], port: int = 0, model: str | None = None) -> Server:
    """Check the files and start serving them in a thread (the caller watches: ``check_files``)."""
    server = Server([Watched(p, model) for p in paths], port)
    server.check_files()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
                     name="graphc-serve").start()
    return server


def serve(paths: list[str], port: int, model: str | None = None, out=sys.stderr, until=None) -> int:
    """Serve until Ctrl-C (or until ``until()`` is true): report each check on ``out``."""
    # graphc.cli turns the cyclic collector off for its short commands; this one runs for hours
    # and compiles at every save, so it collects as a long-lived program should
    gc.enable()
    server = start(paths, port, model)
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C (and a plain kill) stop it cleanly, even where the shell started it with SIGINT ignored
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _interrupt)
    print(f"graphc serve: {server.url} (127.0.0.1 only; Ctrl-C stops)", file=out)
    for w in server.files:
        print(f"  {w.path}: {_verdict(w)}", file=out)
    out.flush()
    try:
        while until is None or not until():
            time.sleep(POLL)
            for w in server.check_files():
                print(f"{time.strftime('%H:%M:%S')} {w.path}: {_verdict(w)}", file=out)
                out.flush()
    except KeyboardInterrupt:
        print("graphc serve: stopped", file=out)
    finally:
        server.stop()
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _verdict(w: Watched) -> str:
    n = w.errors
    if not n:
        return "ok"
    return f"{n} error{'s' if n != 1 else ''} (the page lists them); the first: {w.first_error()}"
