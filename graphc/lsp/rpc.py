"""JSON-RPC 2.0 over stdio, as the Language Server Protocol frames it (``Content-Length`` headers),
with plain dicts for messages.

graphc's server speaks the protocol itself rather than through pygls: importing pygls's protocol
types (lsprotocol: a thousand attrs classes) takes 0.8–1.6 s, three times the start the issue
allows, and the server needs a dozen methods of it.  One thread reads stdin and hands each message
to the main thread's loop (:class:`Loop`: a queue and timers, not asyncio, whose import alone
costs a fifth of the start), which runs every handler and timer and writes every reply, so
handlers never run concurrently.  A handler that raises :class:`RequestFailed` answers with
its message (shown by the editor); any other exception answers with an internal error and is
logged, and the server goes on.
"""

from __future__ import annotations

import heapq
import json
import queue
import sys
import threading
import time
from collections.abc import Callable


def log_exception(what: str, *args) -> None:
    """Log the exception being handled (logging is imported the first time it is needed)."""
    import logging

    logging.getLogger("graphc.lsp").exception(what, *args)


class Timer:
    __slots__ = ("when", "fn", "args", "cancelled")

    def __init__(self, when: float, fn: Callable, args: tuple):
        self.when, self.fn, self.args, self.cancelled = when, fn, args, False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: Timer) -> bool:
        return self.when < other.when


class Loop:
    """Callbacks from other threads (``call_soon_threadsafe``) and timers, run one at a time on
    the thread that calls ``run_forever``: the few parts of asyncio's loop the server uses."""

    def __init__(self):
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.timers: list[Timer] = []
        self.running = False

    def time(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, fn: Callable, *args) -> Timer:
        t = Timer(self.time() + max(0.0, delay), fn, args)
        heapq.heappush(self.timers, t)
        return t

    def call_soon(self, fn: Callable, *args) -> Timer:
        return self.call_later(0, fn, *args)

    def call_soon_threadsafe(self, fn: Callable, *args) -> None:
        self.inbox.put((fn, args))

    def stop(self) -> None:
        self.running = False

    def run_forever(self) -> None:
        self.running = True
        while self.running:
            while self.timers and self.timers[0].cancelled:
                heapq.heappop(self.timers)
            try:  # messages first: the edits of a burst all arrive before a timer checks the text
                fn, args = self.inbox.get_nowait()
            except queue.Empty:
                fn = None
            if fn is not None:
                pass
            elif self.timers and self.timers[0].when <= self.time():
                t = heapq.heappop(self.timers)
                fn, args = t.fn, t.args
            else:
                wait = max(0.0, self.timers[0].when - self.time()) if self.timers else None
                try:
                    fn, args = self.inbox.get(timeout=wait)
                except queue.Empty:
                    continue
            try:
                fn(*args)
            except Exception:  # a bug in one callback: logged, the server goes on
                log_exception("callback %s failed", getattr(fn, "__name__", fn))

    def close(self) -> None:
        self.timers.clear()

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
        self.loop: Loop | None = None
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
                    log_exception("notification %s failed", method)
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
            log_exception("request %s failed", method)
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
                    if name.strip().lower() == b"content-length" and value.strip().isdigit():
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
        self.loop = Loop()
        reader = threading.Thread(target=self._read, args=(stdin or sys.stdin.buffer,), daemon=True)
        reader.start()
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()
        return self.exit_code or 0
