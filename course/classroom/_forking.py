"""What a forked child of the class grader does first and last, whichever work it runs between."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import NoReturn


def redirect_to_log(path: str) -> None:
    """stdin from /dev/null, stdout and stderr appended to ``path``, every other descriptor closed.

    A fork inherits the parent's descriptors (sockets, pipes of other jobs); closing them keeps one
    job from holding, or reading, another's.
    """
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, 65536)


def exit_flushed(code: int) -> NoReturn:
    """Flush what the child printed, then end it at once (no atexit handlers copied from the parent)."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
