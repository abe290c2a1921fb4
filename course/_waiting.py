"""Waiting for the cluster to reach a state, with visible progress and a deadline that explains itself.

Controllers work asynchronously: a Deployment you apply has no Pods yet when ``apply`` returns.
:func:`wait_for` polls the object until a named condition holds (``"Ready"``, ``"Complete"``,
``"Bound"``, ...) or a function of the object returns True, and says what it saw when time runs out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException

from course._client import dynamic_client
from course._errors import CourseError, explain_api_error
from course._i18n import tr
from course._readiness import RULES, condition, readiness
from course._wait_progress import progress_bar

Condition = str | Callable[[dict[str, Any]], bool]


class WaitTimeout(CourseError):
    """The cluster did not reach the awaited state in time; the message says what it last saw."""


def _true(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda obj: condition(obj, name) == "True"


def _phase(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda obj: obj.get("status", {}).get("phase") == name


def _ready_as(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda obj: readiness({**obj, "kind": kind}).ready


# (kind, condition) -> predicate. A kind of None applies to every kind. "Ready" is course._readiness's.
_NAMED: dict[tuple[str | None, str], Callable[[dict[str, Any]], bool]] = {
    (None, "exists"): lambda obj: True,
    **{(kind, "Ready"): _ready_as(kind) for kind in RULES if kind != "Job"},
    ("Deployment", "Available"): _ready_as("Deployment"),  # as `kubectl rollout status`: updated and available
    ("Pod", "Running"): _phase("Running"),
    ("Pod", "Succeeded"): _phase("Succeeded"),
    ("Job", "Complete"): _ready_as("Job"),
    ("Job", "Failed"): _true("Failed"),
    ("PersistentVolumeClaim", "Bound"): _phase("Bound"),
    ("PersistentVolume", "Bound"): _phase("Bound"),
}


def summarize(obj: dict[str, Any] | None) -> str:
    """One line about an object's state, for progress and timeout messages."""
    if obj is None:
        return "it does not exist"
    status = obj.get("status") or {}
    parts = []
    if "phase" in status:
        parts.append(f"phase={status['phase']}")
    for key in ("replicas", "readyReplicas", "availableReplicas", "succeeded", "active", "failed"):
        if key in status:
            parts.append(f"{key}={status[key]}")
    false = [c["type"] for c in status.get("conditions") or [] if c.get("status") != "True"]
    if false:
        parts.append("not yet: " + ",".join(false))
    return ", ".join(parts) or "no status yet"


def _predicate(kind: str, until: Condition) -> Callable[[dict[str, Any]], bool]:
    if callable(until):
        return until
    for key in ((kind, until), (None, until)):
        if key in _NAMED:
            return _NAMED[key]
    known = [*sorted(c for k, c in _NAMED if k in (kind, None)), "deleted"]
    raise ValueError(f"No condition {until!r} for {kind}: use one of {', '.join(known)}, or a function.")


def progress_of(kind: str, obj: dict[str, Any] | None) -> tuple[int, int] | None:
    """(done, wanted) for kinds whose progress can be counted: replicas ready, Pods scheduled, completions.

    >>> progress_of("Deployment", {"spec": {"replicas": 3}, "status": {"readyReplicas": 2}})
    (2, 3)
    >>> progress_of("ConfigMap", {}) is None
    True
    """
    if obj is None or kind not in RULES or kind in ("Pod", "Node"):
        return None
    return readiness({**obj, "kind": kind}).counted


def wait_for(
    kind: str,
    name: str,
    namespace: str | None,
    until: Condition = "Ready",
    timeout: float = 60.0,
    api_version: str | None = None,
    poll: float = 0.25,
    missing_grace: float = 10.0,
) -> dict[str, Any] | None:
    """Wait until ``kind``/``name`` satisfies ``until``; return the object (None once ``"deleted"``).

    ``until`` is a name (``"Ready"``, ``"Available"``, ``"Complete"``, ``"Bound"``, ``"Running"``,
    ``"exists"``, ``"deleted"``) or a function that takes the object as a dict. An object that still
    does not exist after ``missing_grace`` seconds is reported at once rather than at the deadline:
    usually the cell that should create it did not run, or the name is misspelt. While waiting, a
    progress bar (a widget in a notebook, text lines elsewhere) shows what the cluster reports, and the
    last line says what was seen at the end.

    >>> wait_for("Deployment", "web", "ada-00-setup", "Ready")     # doctest: +SKIP
      waiting for Deployment 'web' to be Ready: [#####.....] 1/2 replicas=2, readyReplicas=1 (0s)
      ✓ Deployment 'web' is Ready (1.4s): replicas=2, readyReplicas=2, availableReplicas=2
    """
    wants_deleted = until == "deleted"
    predicate = (lambda obj: False) if wants_deleted else _predicate(kind, until)
    label = until if isinstance(until, str) else getattr(until, "__name__", "the condition")
    resource = dynamic_client().resources.get(api_version=api_version, kind=kind) if api_version else (
        dynamic_client().resources.get(kind=kind)
    )
    bar = progress_bar(tr("{kind} {name!r} to be {label}", kind=kind, name=name, label=label), timeout)
    started = time.monotonic()
    obj: dict[str, Any] | None = None
    while True:
        try:
            obj = resource.get(name=name, namespace=namespace).to_dict()
        except ApiException as error:
            if error.status != 404:
                bar.finish(False, tr("{kind} {name!r}: the API server refused to tell", kind=kind, name=name))
                raise explain_api_error(error, f"Reading {kind} {name!r}") from None
            obj = None
        done = obj is None if wants_deleted else (obj is not None and predicate(obj))
        elapsed = time.monotonic() - started
        if done:
            seen = "" if obj is None else f": {summarize(obj)}"
            done_line = "✓ {kind} {name!r} is {label} ({elapsed:.1f}s){seen}"
            bar.finish(True, tr(done_line, kind=kind, name=name, label=label, elapsed=elapsed, seen=seen))
            return obj
        if obj is None and not wants_deleted and elapsed > min(missing_grace, timeout):
            gone = "✗ {kind} {name!r} does not exist ({elapsed:.0f}s)"
            bar.finish(False, tr(gone, kind=kind, name=name, elapsed=elapsed))
            where = tr(" in namespace {namespace!r}", namespace=namespace) if namespace else ""
            missing = "There is no {kind} named {name!r}{where} (waited {elapsed:.0f}s).\n"
            missing += "  Did the cell that creates it run? Is the name spelt the same?"
            raise WaitTimeout(tr(missing, kind=kind, name=name, where=where, elapsed=elapsed))
        if elapsed > timeout:
            late = "{kind} {name!r} was not {label} after {timeout:.0f}s; last seen: {seen}."
            message = tr(late, kind=kind, name=name, label=label, timeout=timeout, seen=summarize(obj))
            bar.finish(False, f"✗ {message}")
            command = f"kubectl describe {kind.lower()} {name}" + (f" -n {namespace}" if namespace else "")
            raise WaitTimeout(f"{message}\n" + tr("  Look closer: {command}", command=command))
        bar.update(elapsed, progress_of(kind, obj), summarize(obj))
        time.sleep(poll)
