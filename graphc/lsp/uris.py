"""``file://`` URIs and file system paths, as editors write them (RFC 8089; percent-encoded,
Windows drive letters as ``file:///c%3A/dir/x.model``)."""

from __future__ import annotations

import os
import re
from urllib.parse import quote, unquote, urlsplit

_DRIVE = re.compile(r"^/[A-Za-z]:")


def to_fs_path(uri: str) -> str | None:
    """The path of a ``file:`` URI; None for any other scheme."""
    parts = urlsplit(uri)
    if parts.scheme != "file":
        return None
    path = unquote(parts.path)
    if parts.netloc and parts.netloc != "localhost":   # a UNC path: //server/share/...
        path = f"//{parts.netloc}{path}"
    elif _DRIVE.match(path):
        path = path[1].lower() + path[2:]
    if os.sep == "\\":
        path = path.replace("/", "\\")
    return path


def from_fs_path(path: str) -> str | None:
    """The ``file:`` URI of a path (None for a path that is not absolute, such as ``<string>``)."""
    p = path.replace("\\", "/")
    if re.match(r"^[A-Za-z]:", p):
        p = "/" + p
    if not p.startswith("/"):
        return None
    return "file://" + quote(p, safe="/:")
