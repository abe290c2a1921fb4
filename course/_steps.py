"""Progress lines for the command line, in the style of kind.

Each step prints `` • Doing something ...`` when it starts and `` ✓ Doing something (1.2s)`` or
`` ✗ Doing something`` when it ends. On a real terminal the bullet becomes a spinner; in a pipe, a
log or CI the output is plain, one line per state, so it can be read (and compared) afterwards.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


def _fancy(stream: TextIO) -> bool:
    return stream.isatty() and os.environ.get("TERM") != "dumb" and "NO_COLOR" not in os.environ


class StepFailed(Exception):
    """A step went wrong in a way the learner can act on; the message says what to do."""


@contextmanager
def step(title: str, stream: TextIO | None = None) -> Iterator[None]:
    """Show ``title`` as a running step; tick it on success, cross it on failure.

    >>> with step("Preparing nodes"):
    ...     pass                                   # doctest: +SKIP
     ✓ Preparing nodes (0.0s)
    """
    out = stream or sys.stderr
    started = time.monotonic()
    stop = threading.Event()
    spinner: threading.Thread | None = None
    if _fancy(out):

        def spin() -> None:
            for frame in itertools.cycle("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"):
                out.write(f"\r {frame} {title} ... ({time.monotonic() - started:.0f}s)")
                out.flush()
                if stop.wait(0.1):
                    return

        spinner = threading.Thread(target=spin, daemon=True)
        spinner.start()
    else:
        out.write(f" • {title} ...\n")
        out.flush()
    try:
        yield
    except BaseException:
        _finish(out, spinner, stop, f" ✗ {title}")
        raise
    _finish(out, spinner, stop, f" ✓ {title} ({time.monotonic() - started:.1f}s)")


def _finish(out: TextIO, spinner: threading.Thread | None, stop: threading.Event, line: str) -> None:
    stop.set()
    if spinner is not None:
        spinner.join()
        out.write("\r\033[K")
    out.write(line + "\n")
    out.flush()


def say(line: str, stream: TextIO | None = None) -> None:
    """Print a plain line of the command's output (status, the next command to run)."""
    out = stream or sys.stderr
    out.write(line + "\n")
    out.flush()
