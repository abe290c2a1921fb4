"""Progress bars for waits (``cluster.wait_for``, a reset): an ipywidgets bar where a person watches a
notebook, text lines elsewhere (nbgrader's feedback, a terminal). The command line's own progress
lines are :mod:`course._cli_output`.

Both show the same things: what is awaited, a count when the kind has one (``2/3`` replicas ready),
else the time spent against the deadline, what the cluster reports now, and at the end one line that
says how it ended and what was seen.

>>> bar = TextProgress("Deployment 'web' to be Ready", timeout=60)
>>> bar.update(1.0, (1, 3), "replicas=3, readyReplicas=1")   # doctest: +SKIP
  waiting for Deployment 'web' to be Ready: [###.......] 1/3 replicas=3, readyReplicas=1 (1s)
"""

from __future__ import annotations

import sys
from html import escape
from typing import Protocol, TextIO

from course._i18n import tr
from course._notebook_output import in_notebook

BAR_CELLS = 10


class Progress(Protocol):
    """What a wait reports to: ``update`` while waiting, ``finish`` once."""

    def update(self, elapsed: float, counted: tuple[int, int] | None, seen: str) -> None: ...

    def finish(self, ok: bool, message: str) -> None: ...


def text_bar(done: int, wanted: int, cells: int = BAR_CELLS) -> str:
    """``[####......]``: ``done`` of ``wanted`` in ``cells`` characters.

    >>> text_bar(2, 5)
    '[####......]'
    """
    filled = cells if wanted <= 0 else min(cells, round(cells * done / wanted))
    return "[" + "#" * filled + "." * (cells - filled) + "]"


class TextProgress:
    """One line per change of what the cluster reports (not per poll), then the closing line."""

    def __init__(self, title: str, timeout: float, stream: TextIO | None = None) -> None:
        self.title = title
        self.timeout = timeout
        self.stream = stream or sys.stderr
        self._shown: tuple[tuple[int, int] | None, str] | None = None

    def update(self, elapsed: float, counted: tuple[int, int] | None, seen: str) -> None:
        if self._shown == (counted, seen):
            return
        self._shown = (counted, seen)
        count = f"{text_bar(*counted)} {counted[0]}/{counted[1]} " if counted else ""
        waiting = tr("waiting for {title}", title=self.title)
        self.stream.write(f"  {waiting}: {count}{seen} ({elapsed:.0f}s)\n")
        self.stream.flush()

    def finish(self, ok: bool, message: str) -> None:
        self.stream.write(f"  {message}\n")
        self.stream.flush()


class WidgetProgress:
    """An ``IntProgress`` bar and a label, shown at once and updated in place; green or red at the end."""

    def __init__(self, title: str, timeout: float) -> None:
        import ipywidgets
        from IPython.display import display

        self.title = title
        self.timeout = timeout
        self.bar = ipywidgets.IntProgress(value=0, min=0, max=100, bar_style="info")
        self.label = ipywidgets.HTML(value=escape(tr("waiting for {title}", title=title)))
        self.box = ipywidgets.HBox([self.bar, self.label])
        self.box.add_class("course-progress")
        display(self.box)

    def update(self, elapsed: float, counted: tuple[int, int] | None, seen: str) -> None:
        if counted:
            self.bar.max, self.bar.value = max(counted[1], 1), min(counted[0], max(counted[1], 1))
            count = f"{counted[0]}/{counted[1]} "
        else:  # nothing to count: the bar fills towards the deadline instead
            self.bar.max, self.bar.value = 100, min(100, int(100 * elapsed / max(self.timeout, 1e-9)))
            count = ""
        progress = "waiting for {title}: {count}{seen} ({elapsed:.0f}s of {timeout:.0f}s)"
        self.label.value = escape(tr(progress, title=self.title, count=count, seen=seen, elapsed=elapsed,
                                     timeout=self.timeout))

    def finish(self, ok: bool, message: str) -> None:
        self.bar.bar_style = "success" if ok else "danger"
        if ok:
            self.bar.value = self.bar.max
        self.label.value = escape(message)


def progress_bar(title: str, timeout: float) -> Progress:
    """A widget bar in a notebook someone watches, else text lines on stderr."""
    if in_notebook():
        try:
            return WidgetProgress(title, timeout)
        except ImportError:
            pass
    return TextProgress(title, timeout)
