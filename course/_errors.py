"""Short, useful messages for the mistakes learners make, instead of walls of traceback.

Every problem a learner can cause becomes two or three lines: what Kubernetes said, what it means,
what to try. The API server's whole answer is kept in ``details``: in a notebook,
:func:`course._notebook_errors.install_notebook_handler` shows the short lines and, one click away,
the full error (and ``%tb`` still shows the full traceback).

:class:`CourseError` is the one root of every problem the course reports to a person, in a notebook
or on the command line (``ERROR: <message>``, no traceback): :class:`course._cli_output.StepFailed` and
:class:`course._config.ConfigError` are course errors too. This module is the lowest layer of the
course: it imports nothing of it.

>>> problem = explain_api_error(ApiException(status=404, reason="Not Found"), "Reading Pod 'web'")
>>> print(problem)
Reading Pod 'web' failed: 404 Not Found.
  What it means: there is no such object (or no such kind on this cluster).
  Try: check the name, the namespace and the kind (kubectl get <kind> lists what exists).
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from kubernetes.client.exceptions import ApiException

from course._i18n import tr


class CourseError(Exception):
    """A problem the learner can fix; ``str()`` is the whole message, ready to show.

    ``details`` holds the full error behind the short message (the API server's answer, the YAML
    parser's words), for the learner who clicks "full error".
    """

    details: str = ""


class ManifestError(CourseError):
    """A YAML manifest that cannot be read (syntax) or is not a Kubernetes object (shape)."""


class ApiProblem(CourseError):
    """The API server refused a request; the message says what it said and what to try."""

    def __init__(self, message: str, status: int, reason: str, details: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.details = details


_MEANINGS: dict[int, tuple[str, str]] = {
    400: ("the request itself is malformed", "check the apiVersion, kind and the field names"),
    401: ("the cluster did not accept your credentials", "run: python -m course cluster status"),
    403: (
        "you are not allowed to do this (RBAC)",
        "work in your own namespace; cluster-wide objects may be read-only for you",
    ),
    404: (
        "there is no such object (or no such kind on this cluster)",
        "check the name, the namespace and the kind (kubectl get <kind> lists what exists)",
    ),
    409: (
        "it conflicts with what is already there: the name is taken, or someone changed it first",
        "use cluster.apply(...), which updates an existing object, or pick another name",
    ),
    410: ("what you asked for is too old; the cluster has moved on", "read the object again and repeat"),
    422: ("the object is not valid: a field has a wrong value or is missing", "fix the field named above"),
    429: ("the API server is busy", "wait a moment and run the cell again"),
    500: (
        "the API server had an internal problem",
        "try again; if it persists: python -m course cluster status",
    ),
    503: ("the API server is not ready", "wait a moment; if it persists: python -m course cluster status"),
}

_FORBIDDEN = re.compile(
    r'cannot (\w+) resource "([^"]+)"(?: in API group "[^"]*")?(?: in the namespace "([^"]+)")?'
)


def _body(error: ApiException) -> dict[str, Any]:
    try:
        body = json.loads(error.body or "{}")
    except (ValueError, TypeError):
        return {}
    return body if isinstance(body, dict) else {}


def _invalid(causes: list[dict[str, Any]], said: str) -> tuple[str, str]:
    """What a 422 means, from the causes the API server lists (field, reason, message)."""
    fields = [c.get("field", "") for c in causes if c.get("field")]
    named = ", ".join(dict.fromkeys(fields)) or "the field named above"
    reasons = {c.get("reason", "") for c in causes}
    if "field is immutable" in said or any("immutable" in (c.get("message") or "") for c in causes):
        return (
            f"{named} cannot be changed once the object exists",
            "delete the object and create it again (or create it under a new name)",
        )
    if "FieldValueRequired" in reasons:
        return f"a required field is missing: {named}", f"add {named} to the manifest"
    if "FieldValueNotSupported" in reasons:
        return f"{named} has a value Kubernetes does not support", "use one of the values the message lists"
    if "FieldValueDuplicate" in reasons:
        return f"two entries have the same {named}", "make each entry's value unique"
    return f"{named} has a value Kubernetes does not accept", f"fix {named} as the message says"


def _conflict(reason: str, said: str) -> tuple[str, str]:
    if reason == "AlreadyExists":
        return (
            "an object of this kind with this name exists already",
            "use cluster.apply(...) to update it, or pick another name",
        )
    if "Apply failed" in said:
        return (
            "another field manager (kubectl, a controller) owns the fields you set",
            "let cluster.apply(...) take them over (it forces), or change them the way they were set",
        )
    return (
        "the object changed after you read it (its resourceVersion moved on)",
        "read it again, make your change on the fresh copy and send it again; cluster.apply(...) avoids this",
    )


def _forbidden(said: str) -> tuple[str, str]:
    if "exceeded quota" in said:
        return (
            "the namespace's ResourceQuota does not leave room for this",
            "ask for less (requests, replicas) or delete objects you no longer need",
        )
    match = _FORBIDDEN.search(said)
    if match:
        verb, resource, namespace = match.groups()
        where = f" in namespace {namespace!r}" if namespace else " cluster-wide"
        return (
            f"you are not allowed to {verb} {resource}{where} (RBAC)",
            "work in your chapter's namespace (cluster.namespace); cluster-wide objects may be read-only",
        )
    return _MEANINGS[403]


def _not_found(body: dict[str, Any], said: str) -> tuple[str, str]:
    details = body.get("details") or {}
    kind, name = details.get("kind", ""), details.get("name", "")
    if kind == "namespaces":
        return f"the namespace {name!r} does not exist", "use cluster.namespace (course.connect() made it)"
    if kind and name:
        return (
            f"there is no {kind} named {name!r} here",
            f"check the spelling and the namespace (kubectl get {kind} lists what exists)",
        )
    if "the server could not find the requested resource" in said:
        return "this cluster serves no such kind at that apiVersion", "check them (kubectl api-resources)"
    return _MEANINGS[404]


_TYPED_PATCH = re.compile(r"failed to create typed patch object \([^)]*\): (?:errors:\n)?(.*)", re.DOTALL)
_WRONG_TYPE = re.compile(r"^\s*\.?(\S.*?): expected (.+?), got (.+)$")
_CONVERSION = re.compile(
    r"failed to convert new object .*?(?:cannot convert (\w+) to (\w+)"
    r"|cannot unmarshal (\w+) into Go (?:struct field \w+\.(\S+) of type|value of type) (\S+))"
)
_EXPECTED: dict[str, tuple[str, str]] = {
    "numeric (int or float)": ("a number", "write numbers without quotes (replicas: 3)"),
    "string": ("a string", 'quote text that looks like a number or true/false ("80", "true")'),
    "boolean": ("true or false", "write true or false without quotes"),
    "map": ("a map of key: value lines", "write key: value lines indented under the field, not '- ' items"),
    "list": ("a list", "start each item of a list with '- '"),
    "any scalar": ("a single value", "write one value there, not a list or a map"),
}
_GO_TYPES = {
    "float64": "a decimal number", "int32": "a whole number", "int64": "a whole number", "string": "a string",
    "bool": "true or false", "number": "a number", "array": "a list", "object": "a map",
}


def _go_type(name: str) -> str:
    """A Go type the API server names (``int32``, ``[]v1.Container``, JSON's ``array``), in words."""
    if name.startswith("[]"):
        return "a list"
    return _GO_TYPES.get(name.lstrip("*").split(".")[-1], name)


def _found(got: str) -> str:
    """What the API server's structured-merge-diff found, in words (it prints Go values)."""
    if got == "string":
        return "a string"
    if match := re.fullmatch(r"&value\.valueUnstructured\{Value:(.*)\}", got):
        return match.group(1)
    if got.startswith("&{[") or got.startswith("&{map["):
        return "a list" if got.startswith("&{[") else "a map"
    if match := re.fullmatch(r"&\{(.*)\}", got):
        return f"the string {match.group(1)!r}"
    return got


def _wrong_types(said: str) -> list[str] | None:
    """The lines that name each field of the wrong type, from a server-side apply error; None if it is not one.

    Server-side apply checks every field against the kind's schema before anything else, and the API
    server reports a mismatch as a 500 ("failed to create typed patch object ..." or "failed to convert
    new object ..."), which is the learner's manifest, not the server.
    """
    if match := _TYPED_PATCH.search(said):
        lines, tips = [], []
        for error in match.group(1).splitlines():
            if wrong := _WRONG_TYPE.match(error):
                path, expected, got = wrong.groups()
                wanted, tip = _EXPECTED.get(expected, (expected, "write the value as expected"))
                lines.append(f"  {path}: expected {wanted}, found {_found(got)}.")
                tips.append(tip)
        return [*lines, f"  Try: {'; '.join(dict.fromkeys(tips))}."] if lines else None
    if match := _CONVERSION.search(said):
        found, wanted, found_json, field, wanted_json = match.groups()
        found_words = _go_type(found or found_json)
        wanted_words = _go_type(wanted or wanted_json)
        where = f"{field}: " if field else "a field (Kubernetes does not say which): "
        return [
            f"  {where}expected {wanted_words}, found {found_words}.",
            f"  Try: find {found_words} in the manifest where {wanted_words} belongs, and write {wanted_words}.",
        ]
    return None


def explain_api_error(error: ApiException, action: str) -> ApiProblem:
    """Turn an ``ApiException`` raised while doing ``action`` into a short :class:`ApiProblem`.

    The first line is what Kubernetes said, the second what it means, the third what to try.
    """
    body = _body(error)
    said = str(body.get("message") or "")
    status = int(error.status or body.get("code") or 0)
    reason = str(body.get("reason") or error.reason or "")
    causes = list((body.get("details") or {}).get("causes") or [])
    if status == 422:
        meaning, advice = _invalid(causes, said)
    elif status == 409:
        meaning, advice = _conflict(reason, said)
    elif status == 403:
        meaning, advice = _forbidden(said)
    elif status == 404:
        meaning, advice = _not_found(body, said)
    elif status == 400 and ("unknown field" in said or "field not declared in schema" in said):
        meaning, advice = (
            "a field name is misspelled or indented under the wrong parent",
            "compare the field named above with the docs (kubectl explain <kind>.<field>)",
        )
    else:
        meaning, advice = _MEANINGS.get(status, ("", ""))
    wrong_types = _wrong_types(said) if status == 500 else None
    if wrong_types:
        lines = [tr("{action} failed: a value in the manifest has the wrong type.", action=action), *wrong_types]
        return ApiProblem("\n".join(lines), status, reason, json.dumps(body, indent=2))
    first = tr("{action} failed: {status} {reason}", action=action, status=status, reason=error.reason or reason)
    first += tr(". Kubernetes said: {said}", said=said) if said else "."
    lines = [first]
    if meaning:  # the fixed meanings are in the catalog; one that names a field stays in English
        lines.append(tr("  What it means: {meaning}.", meaning=tr(meaning)))
        lines.append(tr("  Try: {advice}.", advice=tr(advice)))
    details = json.dumps(body, indent=2) if body else str(error)
    return ApiProblem("\n".join(lines), status, reason, details)


def explain_yaml_error(error: yaml.YAMLError, text: str) -> ManifestError:
    """Point at the line of a YAML syntax error, with the usual cause when the error is at a tab.

    Tabs are refused only where they would indent (the loader takes them elsewhere, as kubectl does),
    so the tab hint is given only when the error points at one.
    """
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if mark is None:
        failure = ManifestError(tr("The YAML could not be read: {problem}", problem=problem))
        failure.details = str(error)
        return failure
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    message = [
        tr("YAML syntax error on line {line}, column {column}: {problem}", line=mark.line + 1, column=mark.column + 1,
           problem=problem),
        f"  {mark.line + 1:>3} | {line.expandtabs(4)}",
    ]
    before = line[: mark.column]
    if line[mark.column : mark.column + 1] == "\t" and not before.strip():
        message.append(tr("  Hint: this line is indented with a tab character. YAML indents with spaces only."))
    elif line[mark.column : mark.column + 1] == "\t":
        # Elsewhere kubectl and the course take a tab as a space; after '- ' it would indent what follows.
        message.append(
            tr("  Hint: a tab character after {before!r} indents what follows. Use a space.", before=before.strip()[-1])
        )
    else:
        message.append(tr("  Hint: check the indentation (spaces only) and the ':' after each key on this line."))
    failure = ManifestError("\n".join(message))
    failure.details = str(error)
    return failure
