"""Course problems and failed checks in a notebook: their short message, not a wall of traceback.

:func:`install_notebook_handler` is called by ``course.connect()`` (and by the class grader's referee,
which runs the check cells): a :class:`~course._errors.CourseError`, an ``ApiException`` or a
:class:`~course.checks.CheckFailed` then shows as its two or three lines, with the full error one
click away (``%tb`` still shows the whole traceback). It sits above both :mod:`course._errors` and
:mod:`course.checks`, which therefore need not know about IPython or each other.
"""

from __future__ import annotations

import traceback
from html import escape
from typing import Any

from kubernetes.client.exceptions import ApiException

from course._errors import CourseError, explain_api_error
from course._i18n import tr
from course._notebook_output import in_notebook
from course.checks import CheckFailed


def full_error_html(details: str, traceback_text: str) -> str:
    """The full error behind a short message, folded: one click on "full error" opens it."""
    parts = [f"<pre>{escape(details)}</pre>"] if details else []
    parts.append(f"<pre>{escape(traceback_text)}</pre>")
    summary = tr("full error")
    return f"<details class='course-full-error'><summary>{summary}</summary>" + "".join(parts) + "</details>"


def install_notebook_handler() -> None:
    """In IPython, show course problems and failed checks as their short message, not a traceback."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def short(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> None:
        full = "".join(traceback.format_exception(etype, value, tb))
        if isinstance(value, ApiException):
            value = explain_api_error(value, "The request")
            etype = type(value)
        # Shown as an error, so the cell still counts as failed for the learner and for nbgrader.
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset, exception_only=True)
        if in_notebook():
            from IPython.display import HTML, display

            display(HTML(full_error_html(getattr(value, "details", ""), full)))
        else:
            print(tr("(%tb in a new cell shows the full traceback)"))

    shell.set_custom_exc((CourseError, ApiException, CheckFailed), short)
