"""The check library behind every graded test: read the live cluster, explain what is wrong.

A check reads objects from the cluster (never the learner's variables alone) and, when the cluster is
not as the exercise asks, raises :class:`CheckFailed` with what it expected, what it found and a hint.
``CheckFailed`` is an ``AssertionError``, so nbgrader counts the test cell as failed and shows the
message in the learner's feedback.

>>> pod = expect_object("Pod", "hello", namespace="ada-00-setup")          # doctest: +SKIP
>>> expect_field(pod, "spec.containers[0].image", "nginx:1.27")            # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException

from course._client import dynamic_client
from course._session import namespace_for

__all__ = [
    "CheckFailed",
    "expect",
    "expect_field",
    "expect_object",
    "field",
    "namespace",
]

_MISSING = object()


class CheckFailed(AssertionError):
    """The cluster is not as the exercise asks. The message has expected, found and a hint."""

    def __init__(self, what: str, expected: Any, found: Any, hint: str = "") -> None:
        lines = [what, f"  expected: {expected}", f"  found:    {found}"]
        if hint:
            lines.append(f"  hint:     {hint}")
        super().__init__("\n".join(lines))


def namespace(chapter_id: str) -> str:
    """The namespace a chapter's checks read: the same one ``course.connect(chapter_id)`` prepared."""
    return namespace_for(chapter_id)


def field(obj: dict[str, Any], path: str, default: Any = None) -> Any:
    """Read a field by path, like ``spec.containers[0].image`` or ``metadata.labels.app``.

    >>> field({"spec": {"containers": [{"image": "nginx"}]}}, "spec.containers[0].image")
    'nginx'
    >>> field({}, "metadata.labels.app", default="(none)")
    '(none)'
    """
    current: Any = obj
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(current, list) or index >= len(current):
                return default
            current = current[index]
        else:
            if not isinstance(current, dict) or part not in current:
                return default
            current = current[part]
    return current


def expect_object(kind: str, name: str, namespace: str | None = None, hint: str = "") -> dict[str, Any]:
    """Return ``kind``/``name`` from the cluster as a dict, or fail naming what exists instead."""
    resource = dynamic_client().resources.get(kind=kind)
    where = f" in namespace {namespace!r}" if resource.namespaced and namespace else ""
    scope = namespace if resource.namespaced else None
    try:
        return dict(resource.get(name=name, namespace=scope).to_dict())
    except ApiException as error:
        if error.status != 404:
            raise
    others = sorted(item.metadata.name for item in resource.get(namespace=scope).items)
    raise CheckFailed(
        f"There is no {kind} named {name!r}{where}.",
        f"a {kind} named {name!r}",
        f"{kind}s here: {', '.join(others)}" if others else f"no {kind} at all",
        hint or f"Create it (check the spelling of the name: {name!r}), then run this check again.",
    )


def expect_field(obj: dict[str, Any], path: str, expected: Any, hint: str = "") -> Any:
    """Fail unless the field at ``path`` of ``obj`` equals ``expected``; return the value."""
    found = field(obj, path, _MISSING)
    if found != expected:
        meta = obj.get("metadata", {})
        raise CheckFailed(
            f"{obj.get('kind', 'The object')} {meta.get('name', '')!r}: {path} is not as asked.",
            repr(expected),
            "(not set)" if found is _MISSING else repr(found),
            hint,
        )
    return found


def expect(condition: bool | Callable[[], bool], what: str, expected: Any, found: Any, hint: str = "") -> None:
    """The general form: fail with ``what``/``expected``/``found``/``hint`` unless ``condition`` holds."""
    holds = condition() if callable(condition) else condition
    if not holds:
        raise CheckFailed(what, expected, found, hint)
