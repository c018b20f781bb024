"""Writing the files graphc makes (build, viz, fmt): atomically, all or nothing, as an
ordinary write would leave them.

A file is written to a temporary file beside it and renamed over the target, so a reader
never sees half a file and a crash leaves the old one.  Several files (a module and its
training script) are all written to temporary files first and renamed only when every one
was written: a failure (a full disk, a directory where a file should go) changes nothing.
A symbolic link is followed (the file it points to is replaced, the link stays), an
existing file keeps its permission bits, and a new file gets 0666 less the umask
(mkstemp's 0600 would hide generated code from the group and from other users).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class WriteError(Exception):
    """A file could not be written; the message names it and says why."""


_UMASK: list[int] = []  # the fallback's reading, taken once (see _umask)


def _umask() -> int:
    """The process's umask, without changing it where the OS can tell (Linux 4.7+: the
    ``Umask:`` line of /proc/self/status).  Elsewhere os.umask must set it to read it,
    which races with other threads: that is done once, at the first write, and kept."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    if not _UMASK:
        old = os.umask(0o022)
        os.umask(old)
        _UMASK.append(old)
    return _UMASK[0]


def _stage(path: Path, data: bytes) -> tuple[str, Path]:
    """Write ``data`` to a temporary file beside ``path`` (resolved): (temp, target)."""
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise WriteError(f"cannot write {path}: it is a directory")
    try:
        mode = os.stat(target).st_mode & 0o777
    except OSError:
        mode = 0o666 & ~_umask()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WriteError(f"cannot create the folder {target.parent}: {e.strerror or e}") from None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise WriteError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            else:  # pragma: no cover - Windows before Python 3.13
                os.chmod(tmp, mode)
            f.write(data)
    except BaseException as e:
        _unlink(tmp)
        if isinstance(e, OSError):
            raise WriteError(f"cannot write {path}: {e.strerror or e}") from None
        raise
    return tmp, target


def _unlink(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def write_files(files: dict[Path, bytes | str]) -> None:
    """Write every file, or none: all are staged before the first rename."""
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files.items():
            staged.append(_stage(path, data.encode("utf-8") if isinstance(data, str) else data))
        for i, (tmp, target) in enumerate(staged):
            try:
                os.replace(tmp, target)
            except OSError as e:
                for t, _ in staged[i + 1:]:
                    _unlink(t)
                staged = []
                raise WriteError(f"cannot write {target}: {e.strerror or e}") from None
    except BaseException:
        for tmp, _ in staged:
            _unlink(tmp)
        raise


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write one file atomically (see the module's docstring)."""
    write_files({path: data})
