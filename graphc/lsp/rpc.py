"""JSON-RPC 2.0 over stdio, as the Language Server Protocol frames it (``Content-Length`` headers),
with plain dicts for messages.

graphc's server speaks the protocol itself rather than through pygls: importing pygls's protocol
types (lsprotocol: a thousand attrs classes) takes 0.8–1.6 s, three times the start the issue
allows, and the server needs a dozen methods of it.  One thread reads stdin and hands each message
to the asyncio loop of the main thread, which runs every handler and timer and writes every reply,
so handlers never run concurrently.  A handler that raises :class:`RequestFailed` answers with
its message (shown by the editor); any other exception answers with an internal error and is
logged, and the server goes on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
from collections.abc import Callable

log = logging.getLogger("graphc.lsp")

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INTERNAL_ERROR = -32700, -32600, -32601, -32603
SERVER_NOT_INITIALIZED, REQUEST_FAILED = -32002, -32803
#: A message larger than this is refused (a .model file is at most 1 MiB).
MAX_MESSAGE = 64 << 20


class RequestFailed(Exception):
    """A request that cannot be done: its message goes back to the editor."""


class Server:
    def __init__(self):
        self.requests: dict[str, Callable] = {}
        self.notifications: dict[str, Callable] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.out = sys.stdout.buffer
        self.shutdown_requested = False
        self.initialized = False
        self.exit_code: int | None = None
        self._next_id = 0

    # ------------------------------------------------------------------ registration
    def request(self, method: str):
        def register(fn):
            self.requests[method] = fn
            return fn
        return register

    def notification(self, method: str):
        def register(fn):
            self.notifications[method] = fn
            return fn
        return register

    # ------------------------------------------------------------------ output
    def send(self, message: dict) -> None:
        message["jsonrpc"] = "2.0"
        body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self.out.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.out.flush()

    def notify(self, method: str, params) -> None:
        self.send({"method": method, "params": params})

    def send_request(self, method: str, params) -> None:
        """A request to the client whose answer is not awaited (``window/workDoneProgress``...)."""
        self._next_id += 1
        self.send({"id": f"graphc-{self._next_id}", "method": method, "params": params})

    # ------------------------------------------------------------------ input
    def dispatch(self, message) -> None:
        if not isinstance(message, dict):
            self.send({"id": None, "error": {"code": INVALID_REQUEST, "message": "not a JSON-RPC message"}})
            return
        method = message.get("method")
        if method is None:
            return  # an answer to one of our requests
        params = message.get("params")
        if "id" not in message:
            fn = self.notifications.get(method)
            if fn is not None and (self.initialized or method == "exit"):
                try:
                    fn(params)
                except Exception:
                    log.exception("notification %s failed", method)
            return
        rid = message["id"]
        fn = self.requests.get(method)
        if fn is None:
            self.send({"id": rid, "error": {"code": METHOD_NOT_FOUND, "message": f"no method {method}"}})
            return
        if not self.initialized and method != "initialize":
            self.send({"id": rid, "error": {"code": SERVER_NOT_INITIALIZED, "message": "not initialized"}})
            return
        try:
            result = fn(params)
        except RequestFailed as e:
            self.send({"id": rid, "error": {"code": REQUEST_FAILED, "message": str(e)}})
            return
        except Exception as e:
            log.exception("request %s failed", method)
            self.send({"id": rid, "error": {"code": INTERNAL_ERROR,
                                            "message": f"graphc internal error: {type(e).__name__}: {e}"}})
            return
        self.send({"id": rid, "result": result})

    def _read(self, stream) -> None:
        """The reader thread: each message to the loop, then the end of input."""
        try:
            while True:
                length = None
                while True:
                    line = stream.readline()
                    if not line:
                        return
                    line = line.strip()
                    if not line:
                        break
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                if length is None or length > MAX_MESSAGE:
                    continue
                body = stream.read(length)
                if len(body) < length:
                    return
                try:
                    message = json.loads(body.decode("utf-8"))
                except ValueError:
                    self.loop.call_soon_threadsafe(self.send, {"id": None, "error": {
                        "code": PARSE_ERROR, "message": "invalid JSON"}})
                    continue
                self.loop.call_soon_threadsafe(self.dispatch, message)
        finally:
            self.loop.call_soon_threadsafe(self.stop, None)

    def stop(self, code: int | None) -> None:
        if self.exit_code is None:
            self.exit_code = code if code is not None else (0 if self.shutdown_requested else 1)
        self.loop.stop()

    def start_io(self, stdin=None, stdout=None) -> int:
        """Serve until ``exit`` or the end of input; the exit status (0 after ``shutdown``)."""
        self.out = stdout or sys.stdout.buffer
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        reader = threading.Thread(target=self._read, args=(stdin or sys.stdin.buffer,), daemon=True)
        reader.start()
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()
        return self.exit_code or 0
