"""What the command line (``python -m course``) prints: progress lines in the style of kind, plain
lines, and :class:`StepFailed` for a step that went wrong.

(A notebook's output goes through :mod:`course._notebook_output`; the progress of a wait, in a
notebook or under nbgrader, is :mod:`course._wait_progress`.)

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

from course._errors import CourseError


def _fancy(stream: TextIO) -> bool:
    return stream.isatty() and os.environ.get("TERM") != "dumb" and "NO_COLOR" not in os.environ


class StepFailed(CourseError):
    """A step went wrong in a way the learner can act on; the message says what to do.

    A :class:`~course._errors.CourseError` like every problem the course reports: the CLI prints it
    as one ``ERROR:`` line, a notebook as its short message.
    """


def elapsed(seconds: float) -> str:
    """A duration as a person reads it.

    >>> elapsed(7.25), elapsed(125)
    ('7s', '2m05s')
    """
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


@contextmanager
def step(title: str, stream: TextIO | None = None, heartbeat: float | None = None) -> Iterator[None]:
    """Show ``title`` as a running step; tick it on success, cross it on failure.

    On a terminal a spinner counts the seconds. Elsewhere (a pipe, a log, CI) a long step would print
    nothing for minutes and look hung, so ``heartbeat`` (seconds) adds a ``still working`` line that
    often.

    >>> with step("Preparing nodes"):
    ...     pass                                   # doctest: +SKIP
     ✓ Preparing nodes (0.0s)
    """
    out = stream or sys.stderr
    started = time.monotonic()
    stop = threading.Event()
    ticker: threading.Thread | None = None
    if _fancy(out):

        def spin() -> None:
            for frame in itertools.cycle("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"):
                out.write(f"\r {frame} {title} ... ({elapsed(time.monotonic() - started)})")
                out.flush()
                if stop.wait(0.1):
                    return

        ticker = threading.Thread(target=spin, daemon=True)
    else:
        out.write(f" • {title} ...\n")
        out.flush()
        if heartbeat:
            period = heartbeat

            def beat() -> None:
                while not stop.wait(period):
                    out.write(f"   {title}: still working ({elapsed(time.monotonic() - started)})\n")
                    out.flush()

            ticker = threading.Thread(target=beat, daemon=True)
    if ticker is not None:
        ticker.start()
    fancy = _fancy(out)
    try:
        yield
    except BaseException:
        _finish(out, ticker, stop, fancy, f" ✗ {title}")
        raise
    _finish(out, ticker, stop, fancy, f" ✓ {title} ({time.monotonic() - started:.1f}s)")


def _finish(out: TextIO, ticker: threading.Thread | None, stop: threading.Event, fancy: bool, line: str) -> None:
    stop.set()
    if ticker is not None:
        ticker.join()
    if fancy:
        out.write("\r\033[K")
    out.write(line + "\n")
    out.flush()


def say(line: str, stream: TextIO | None = None) -> None:
    """Print a plain line of the command's output (status, the next command to run)."""
    out = stream or sys.stderr
    out.write(line + "\n")
    out.flush()
