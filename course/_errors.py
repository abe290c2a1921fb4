"""Short, useful messages for the mistakes learners make, instead of walls of traceback.

Every problem a learner can cause becomes two or three lines: what went wrong, what it means, what
to try. In a notebook, :func:`install_notebook_handler` shows just those lines; ``%tb`` still shows
the full traceback for the curious.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from kubernetes.client.exceptions import ApiException


class CourseError(Exception):
    """A problem the learner can fix; ``str()`` is the whole message, ready to show."""


class ManifestError(CourseError):
    """A YAML manifest that cannot be read (syntax) or is not a Kubernetes object (shape)."""


class ApiProblem(CourseError):
    """The API server refused a request; the message says what it said and what to try."""

    def __init__(self, message: str, status: int, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


_MEANINGS: dict[int, tuple[str, str]] = {
    400: ("The request itself is malformed.", "Check the apiVersion, kind and the field names."),
    401: ("The cluster did not accept your credentials.", "Run: python -m course cluster status"),
    403: (
        "You are not allowed to do this (RBAC).",
        "Work in your own namespace; cluster-wide objects may be read-only for you.",
    ),
    404: ("No such object (or no such kind on this cluster).", "Check the name, the namespace and the kind."),
    409: (
        "It conflicts with what is already there: the name is taken, or someone changed it first.",
        "Use cluster.apply(...), which updates an existing object, or pick another name.",
    ),
    422: ("The object is not valid: a field has a wrong value or is missing.", "Fix the field named above."),
    500: ("The API server had an internal problem.", "Try again; if it persists: python -m course cluster status"),
}


def explain_api_error(error: ApiException, action: str) -> ApiProblem:
    """Turn an ``ApiException`` raised while doing ``action`` into a short :class:`ApiProblem`."""
    said = error.reason or ""
    try:
        body: dict[str, Any] = json.loads(error.body or "{}")
        said = body.get("message", said)
    except (ValueError, TypeError):
        pass
    status = int(error.status or 0)
    meaning, advice = _MEANINGS.get(status, ("", ""))
    lines = [f"{action} failed ({status} {error.reason}): {said}"]
    if meaning:
        lines.append(f"  What it means: {meaning}")
        lines.append(f"  Try: {advice}")
    return ApiProblem("\n".join(lines), status, str(error.reason))


def explain_yaml_error(error: yaml.YAMLError, text: str) -> ManifestError:
    """Point at the line of a YAML syntax error, with the usual cause when it is a tab."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if mark is None:
        return ManifestError(f"The YAML could not be read: {problem}")
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    message = [
        f"YAML syntax error on line {mark.line + 1}, column {mark.column + 1}: {problem}",
        f"  {mark.line + 1:>3} | {line.expandtabs(4)}",
    ]
    if "\t" in line:
        message.append("  Hint: this line contains a tab character. YAML indents with spaces only.")
    else:
        message.append("  Hint: check the indentation (spaces only) and the ':' after each key on this line.")
    return ManifestError("\n".join(message))


def install_notebook_handler() -> None:
    """In IPython, show course problems and failed checks as their short message, not a traceback."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    from course.checks import CheckFailed

    def short(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> None:
        if isinstance(value, ApiException):
            value = explain_api_error(value, "The request")
            etype = type(value)
        # Shown as an error, so the cell still counts as failed for the learner and for nbgrader.
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset, exception_only=True)
        print("(%tb in a new cell shows the full traceback)")

    shell.set_custom_exc((CourseError, ApiException, CheckFailed), short)
