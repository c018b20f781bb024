"""``graphc lsp``: a language server for ``.model`` files, on stdin/stdout (docs/editor.md).

It speaks the protocol itself (graphc.lsp.rpc) and needs nothing beyond graphc; the server never
imports torch.
"""

from __future__ import annotations


def available() -> bool:
    """The server needs nothing optional (kept for callers that asked before it did)."""
    return True


def main() -> int:
    """Serve on stdin/stdout until the client exits; 0 after a ``shutdown`` request, else 1."""
    import gc

    gc.enable()  # the command line pauses the collector for short runs; a server runs for hours
    from graphc.lsp.server import server

    return server.start_io()
