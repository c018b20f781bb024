"""A closed standard output (``graphc summary big.model | head -1``): the command ends quietly
with exit status 141, as a shell reports a tool that SIGPIPE ended, instead of a traceback.

Python ignores SIGPIPE, so a write into a pipe whose reader has gone raises BrokenPipeError.
Only one raised by standard output itself ends graphc quietly (:func:`stdout_closed` asks the
pipe); one from anywhere else is an internal error like any other.  The generated training
scripts do the same in their own code (``templates/train/entry.py.tmpl`` and ``gan.py.tmpl``).
"""

from __future__ import annotations

import os
import sys

EXIT_PIPE = 141  # 128 + SIGPIPE


def stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader has gone."""
    try:
        sys.stdout.flush()  # what the failed write left in the buffer fails again
        fd = sys.stdout.fileno()
    except BrokenPipeError:
        return True
    except (AttributeError, OSError, ValueError):  # no file descriptor (captured): no pipe
        return False
    try:
        import select

        poll = select.poll()
    except AttributeError:  # no poll() (Windows): any BrokenPipeError, as in Python's docs
        return True
    poll.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poll.poll(0))


def quiet_exit() -> int:
    """EXIT_PIPE, once what is still buffered for standard output goes to devnull: the flush at
    exit then raises no second BrokenPipeError (Python's docs, "Note on SIGPIPE")."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # no file descriptor (a test's captured stdout)
        pass
    return EXIT_PIPE
