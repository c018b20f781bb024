"""``graphc lsp``: a language server for ``.model`` files (needs the ``lsp`` extra: pygls 2).

Run on stdio by an editor; see docs/editor.md.  The server never imports torch.
"""

from __future__ import annotations

import sys

MISSING = ("graphc lsp needs pygls 2: pip install 'graphc[lsp]' (or pip install 'pygls>=2')")


def available() -> bool:
    try:
        import lsprotocol  # noqa: F401
        import pygls.lsp.server  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> int:
    """Serve on stdin/stdout until the client exits; 2 with a one-line error without pygls."""
    if not available():
        print(f"graphc: error: {MISSING}", file=sys.stderr)
        return 2
    import gc

    gc.enable()  # the command line pauses the collector for short runs; a server runs for hours
    from graphc.lsp.server import server

    server.start_io()
    return 0
