"""What "ready" means, one rule per kind: the single definition that waits, checks, pictures and
``cluster status`` all use.

Kubernetes itself has no one notion of "ready". A Pod and a Node report a ``Ready`` condition; a
workload is ready when its controller has seen the latest spec (``status.observedGeneration``) and
enough of its Pods are ready, which every kind counts in its own fields; a Job is done when it is
``Complete``. The rules below follow ``kubectl rollout status`` and ``kubectl wait``.

>>> deployment = {"kind": "Deployment", "metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 3},
...               "status": {"observedGeneration": 2, "replicas": 3, "readyReplicas": 2, "availableReplicas": 2,
...                          "updatedReplicas": 3}}
>>> readiness(deployment)
Readiness(ready=False, expected='3 of 3 replicas ready', found='2 ready, 3 in all', counted=(2, 3))
>>> readiness({"kind": "DaemonSet", "metadata": {"generation": 1}, "status": {"observedGeneration": 1,
...            "desiredNumberScheduled": 3, "numberReady": 3, "updatedNumberScheduled": 3}}).ready
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Object = Mapping[str, Any]


@dataclass(frozen=True)
class Readiness:
    """Whether an object is ready, what that takes and what it shows now (for expected/found messages)."""

    ready: bool
    expected: str
    found: str
    counted: tuple[int, int] | None = None
    """``(done, wanted)`` where readiness can be counted (replicas, Pods per node, completions)."""


class NoReadiness(ValueError):
    """The object's kind has no notion of ready (a ConfigMap, a Service): check one of its fields instead."""


def _status(obj: Object) -> Mapping[str, Any]:
    return obj.get("status") or {}


def condition(obj: Object, name: str) -> str:
    """The status (``"True"``, ``"False"``, ``"Unknown"``) of condition ``name``; ``"not set"`` when absent."""
    for item in _status(obj).get("conditions") or []:
        if item.get("type") == name:
            return str(item.get("status"))
    return "not set"


def _observed(obj: Object) -> bool:
    """Whether the controller has seen the object's latest spec (until then its status describes an older one)."""
    generation = (obj.get("metadata") or {}).get("generation", 0)
    return bool(_status(obj).get("observedGeneration", 0) >= generation)


_BEHIND = " (its controller has not caught up with the spec yet)"


def _ready_condition(obj: Object) -> Readiness:
    phase = _status(obj).get("phase")
    found = f"Ready={condition(obj, 'Ready')}"
    if phase:
        found = f"phase {phase}, {found}"
    return Readiness(condition(obj, "Ready") == "True", "condition Ready=True", found)


def _replicated(obj: Object) -> Readiness:
    """Deployment, ReplicaSet, StatefulSet: every wanted replica ready (a Deployment's also available and
    updated), none left over from an older template."""
    status = _status(obj)
    wanted = (obj.get("spec") or {}).get("replicas", 1)
    ready, total = status.get("readyReplicas", 0), status.get("replicas", 0)
    # The API server leaves zero counts out: a Deployment or StatefulSet without updatedReplicas has none
    # of its new template yet (the moment after a rollout starts); a ReplicaSet has no such field.
    updated = status.get("updatedReplicas", wanted if obj.get("kind") == "ReplicaSet" else 0)
    observed = _observed(obj)
    ok = observed and ready >= wanted and updated >= wanted and total == wanted
    found = f"{ready} ready, {total} in all"
    if obj.get("kind") == "Deployment":
        available = status.get("availableReplicas", 0)
        ok = ok and available >= wanted
        if ready >= wanted and available < wanted:
            found += f", {available} available"
    if updated < wanted:
        found += f", {updated} updated"
    return Readiness(ok, f"{wanted} of {wanted} replicas ready", found + ("" if observed else _BEHIND), (ready, wanted))


def _daemons(obj: Object) -> Readiness:
    """DaemonSet: a ready, up-to-date Pod on every node it should run on."""
    status = _status(obj)
    wanted, ready = status.get("desiredNumberScheduled", 0), status.get("numberReady", 0)
    updated = status.get("updatedNumberScheduled", 0)
    observed = _observed(obj)
    ok = observed and wanted == ready == updated
    found = f"{ready} ready, {updated} updated" + ("" if observed else _BEHIND)
    return Readiness(ok, f"{wanted} of {wanted} Pods ready (one per node it runs on)", found, (ready, wanted))


def _job(obj: Object) -> Readiness:
    """Job: done means condition Complete=True (enough Pods succeeded)."""
    status = _status(obj)
    wanted = (obj.get("spec") or {}).get("completions") or 1
    succeeded = status.get("succeeded", 0)
    found = f"{succeeded} succeeded, {status.get('failed', 0)} failed, {status.get('active', 0)} running"
    expected = f"condition Complete=True ({wanted} succeeded)"
    return Readiness(condition(obj, "Complete") == "True", expected, found, (succeeded, wanted))


RULES: dict[str, Callable[[Object], Readiness]] = {
    "Pod": _ready_condition,
    "Node": _ready_condition,
    "Deployment": _replicated,
    "ReplicaSet": _replicated,
    "StatefulSet": _replicated,
    "DaemonSet": _daemons,
    "Job": _job,
}
"""The kinds that have a notion of ready, and the rule for each."""


def readiness(obj: Object) -> Readiness:
    """Whether ``obj`` is ready, by its kind's rule; :class:`NoReadiness` for a kind without one."""
    kind = str(obj.get("kind", ""))
    rule = RULES.get(kind)
    if rule is None:
        raise NoReadiness(
            f"A {kind or 'object without a kind'} has no notion of ready; readiness is defined for "
            f"{', '.join(RULES)}. Check one of its fields instead (checks.expect_field)."
        )
    return rule(obj)


def is_ready(obj: Object) -> bool:
    """``readiness(obj).ready``, for the places that only need the answer."""
    return readiness(obj).ready
