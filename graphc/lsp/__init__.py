"""``graphc lsp``: a language server for ``.model`` files, on stdin/stdout (docs/editor.md).

It speaks the protocol itself (graphc.lsp.rpc) and needs nothing beyond graphc; the server never
imports torch.
"""

from __future__ import annotations


def available() -> bool:
    """The server needs nothing optional (kept for callers that asked before it did)."""
    return True


def main() -> int:
    """Serve on stdin/stdout until the client exits, then end the process: status 0 after a
    ``shutdown`` request, else 1 (as the protocol asks)."""
    import gc
    import os
    import sys

    gc.enable()  # the command line pauses the collector for short runs; a server runs for hours
    from graphc.lsp.server import server

    code = server.start_io()
    sys.stdout.flush()
    sys.stderr.flush()
    # at once: the reader thread may sit in a read of stdin, and an interpreter that shuts down
    # around a daemon thread holding stdin's lock aborts (SIGABRT)
    os._exit(code)
