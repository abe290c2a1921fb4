"""One word and one colour for the state of any object, shared by every picture.

A learner should see at a glance what is fine (green), what is on its way (amber), what is broken
(red), what has finished its work (blue) and what has no state of its own (grey). :func:`status_of`
reads an object as the API server returns it (a dict with camelCase keys) and says which.

>>> status_of({"kind": "Pod", "status": {"phase": "Pending"}}).tone
'progress'
>>> status_of({"kind": "PersistentVolumeClaim", "status": {"phase": "Bound"}})
Status(tone='ready', label='Bound', detail='')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from course._readiness import is_ready

Tone = Literal["ready", "progress", "failed", "done", "idle", "info"]

TONES: tuple[Tone, ...] = ("ready", "progress", "failed", "done", "idle", "info")
"""Every tone, in the order a legend lists them."""

# Waiting reasons of a container that will not fix themselves: the learner has to change something.
_BROKEN_WAITING = {
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}


@dataclass(frozen=True)
class Status:
    """``tone`` picks the colour, ``label`` is the one or two words shown, ``detail`` goes in a tooltip."""

    tone: Tone
    label: str
    detail: str = ""


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type", ""): c for c in (obj.get("status") or {}).get("conditions") or []}


def pod_status(pod: dict[str, Any]) -> Status:
    """Terminating, Succeeded, Failed, a broken container, Ready, or why it is not Ready yet."""
    status = pod.get("status") or {}
    phase = status.get("phase", "Pending")
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return Status("progress", "Terminating")
    if phase == "Succeeded":
        return Status("done", "Succeeded")
    if phase == "Failed":
        return Status("failed", "Failed", status.get("reason", "") or status.get("message", ""))
    for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _BROKEN_WAITING:
            return Status("failed", waiting["reason"], waiting.get("message", ""))
    scheduled = _conditions(pod).get("PodScheduled", {})
    if scheduled.get("status") == "False":
        return Status("progress", scheduled.get("reason") or "Pending", scheduled.get("message", ""))
    if phase == "Running":
        return Status("ready", "Ready") if is_ready({**pod, "kind": "Pod"}) else Status("progress", "NotReady")
    return Status("progress", phase)


def _replicas(obj: dict[str, Any]) -> Status:
    """``READY`` as kubectl shows it (``3/2`` while a rollout has a Pod too many); the counts in ``detail``."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    wanted = spec.get("replicas", 1)
    ready = status.get("readyReplicas", 0)
    label = f"{ready}/{wanted} ready"
    counts = f"pods={status.get('replicas', 0)}"
    if obj.get("kind") == "Deployment":
        counts += f", updated={status.get('updatedReplicas', 0)}"
    failing = [
        c for c in _conditions(obj).values()
        if (c.get("type") == "ReplicaFailure" and c.get("status") == "True")
        or (c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded")
    ]  # fmt: skip
    if failing:
        return Status("failed", label, failing[0].get("message", ""))
    if wanted == 0 and status.get("replicas", 0) == 0:
        return Status("idle", "0/0")
    return Status("ready" if is_ready(obj) else "progress", label, counts)


def _daemons(obj: dict[str, Any]) -> Status:
    status = obj.get("status") or {}
    wanted, ready = status.get("desiredNumberScheduled", 0), status.get("numberReady", 0)
    return Status("ready" if is_ready(obj) else "progress", f"{ready}/{wanted} ready")


def _job(obj: dict[str, Any]) -> Status:
    conditions = _conditions(obj)
    for kind, tone in (("Complete", "done"), ("Failed", "failed"), ("Suspended", "idle")):
        if conditions.get(kind, {}).get("status") == "True":
            return Status(tone, kind, conditions[kind].get("message", ""))  # type: ignore[arg-type]
    status = obj.get("status") or {}
    done, wanted = status.get("succeeded", 0), (obj.get("spec") or {}).get("completions", 1)
    return Status("progress", f"{done}/{wanted} done")


def _cron_job(obj: dict[str, Any]) -> Status:
    if (obj.get("spec") or {}).get("suspend"):
        return Status("idle", "Suspended")
    active = len((obj.get("status") or {}).get("active") or [])
    return Status("info", f"{active} active" if active else obj.get("spec", {}).get("schedule", ""))


def _phase(tones: dict[str, Tone]) -> Callable[[dict[str, Any]], Status]:
    def read(obj: dict[str, Any]) -> Status:
        phase = (obj.get("status") or {}).get("phase", "Pending")
        return Status(tones.get(phase, "progress"), phase)

    return read


def _ingress(obj: dict[str, Any]) -> Status:
    addresses = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if addresses:
        first = addresses[0]
        return Status("ready", first.get("ip") or first.get("hostname") or "address")
    return Status("info", "no address")


def _endpoint_slice(obj: dict[str, Any]) -> Status:
    endpoints = obj.get("endpoints") or []
    ready = sum(1 for e in endpoints if (e.get("conditions") or {}).get("ready"))
    return Status("ready" if ready else "progress", f"{ready}/{len(endpoints)} ready")


def _storage_class(obj: dict[str, Any]) -> Status:
    default = (obj.get("metadata", {}).get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class")
    return Status("info", "default" if default == "true" else obj.get("provisioner", ""))


def _node(obj: dict[str, Any]) -> Status:
    if (obj.get("spec") or {}).get("unschedulable"):
        return Status("idle", "Cordoned")
    return Status("ready", "Ready") if is_ready(obj) else Status("failed", "NotReady")


_BY_KIND: dict[str, Callable[[dict[str, Any]], Status]] = {
    "Pod": pod_status,
    "Deployment": _replicas,
    "ReplicaSet": _replicas,
    "StatefulSet": _replicas,
    "DaemonSet": _daemons,
    "Job": _job,
    "CronJob": _cron_job,
    "PersistentVolumeClaim": _phase({"Bound": "ready", "Lost": "failed"}),
    "PersistentVolume": _phase({"Bound": "ready", "Available": "info", "Released": "idle", "Failed": "failed"}),
    "Ingress": _ingress,
    "EndpointSlice": _endpoint_slice,
    "StorageClass": _storage_class,
    "Node": _node,
}


def status_of(obj: dict[str, Any]) -> Status:
    """The :class:`Status` of any object; kinds without a notion of state are ``info``."""
    read = _BY_KIND.get(obj.get("kind", ""))
    if read is None:
        return Status("info", "")
    return read(obj)
