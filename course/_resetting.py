"""A chapter's namespace: created when missing, emptied and restored to its starting state on reset.

Reset empties the namespace the way the namespace controller does when a namespace is deleted: it
asks discovery for every namespaced kind and deletes each collection. It needs only rights inside the
namespace (and over the one PersistentVolume a chapter may create, ``<namespace>-pv``), so a learner
or a sandboxed grader can reset without cluster-wide permissions.

The order matters, because controllers make objects again. A StatefulSet whose Pod and claim are
deleted while it still exists makes ``db-0`` and ``data-db-0`` again at once, and the claim outlives
the StatefulSet (claims are kept unless ``persistentVolumeClaimRetentionPolicy`` says otherwise). So
reset goes in three steps, each waited for:

1. the controllers (:data:`OWNERS`, owners before what they own), with foreground propagation: a
   controller stops acting on an object that is being deleted, and the object stays until the garbage
   collector has deleted what the controller made;
2. every other kind except Pods and claims, which nothing recreates any more;
3. Pods and PersistentVolumeClaims, then the chapter's own PersistentVolume once its claim is gone.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.resource import ResourceList

from course._applying import apply
from course._chapters import Chapter
from course._client import api_client, dynamic_client
from course._errors import CourseError, explain_api_error
from course._wait_progress import progress_bar
from course.backends import simulated

# Recreated by controllers at once; deleting them would only race with Pods created right after.
_KEEP = {"ServiceAccount": "default", "ConfigMap": "kube-root-ca.crt"}
_GONE_TIMEOUT = 60.0

CLASSROOM_KINDS = ("ResourceQuota", "LimitRange", "RoleBinding")
"""What a classroom sandbox holds besides the learner's work, each labelled ``k8s-course/classroom=sandbox``
(``course/classroom/_objects.py``). A reset with admin rights (plain ``nbgrader autograde`` on a classroom
cluster) leaves them alone; with the student's own identity it may not delete them anyway. Students cannot
create these kinds in a sandbox, so the label shields nothing of theirs from a reset."""
_NOT_CLASSROOM = "k8s-course/classroom!=sandbox"

OWNERS = ("CronJob", "Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet", "ReplicationController")
"""Kinds whose controllers make other objects, each listed before the kinds it makes (a Deployment
before its ReplicaSets, a CronJob before its Jobs): deleted first, and waited for."""

LAST = ("Pod", "PersistentVolumeClaim")
"""Kinds deleted once no controller is left to make them again, and waited for (a claim stays until no
Pod uses it, so the two go together)."""


def _namespace_manifest(chapter: Chapter, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {"k8s-course/chapter": chapter.id}},
    }


def _deletable_kinds() -> list[Any]:
    """Every namespaced kind (preferred version only) that can be listed and deleted as a collection."""
    kinds = []
    for resource in dynamic_client().resources.search():
        verbs = set(getattr(resource, "verbs", None) or ())
        if (
            not isinstance(resource, ResourceList)
            and resource.namespaced
            and "/" not in resource.name
            and {"list", "deletecollection"} <= verbs
            and getattr(resource, "preferred", False)
        ):
            kinds.append(resource)
    return kinds


def _delete_collection(resource: Any, namespace: str, propagation: str, at_once: bool = False) -> None:
    """DELETE on the collection's path, as the namespace controller does (the client's own delete()
    insists on a selector, which not every kind supports); ``at_once``: with no grace period."""
    keep = _KEEP.get(resource.kind)
    body: dict[str, Any] = {"propagationPolicy": propagation}
    if at_once:
        body["gracePeriodSeconds"] = 0
    try:
        dynamic_client().request(
            "delete",
            resource.path(namespace=namespace),
            body=body,
            field_selector=f"metadata.name!={keep}" if keep else None,
            label_selector=_NOT_CLASSROOM if resource.kind in CLASSROOM_KINDS else None,
        )
    except ApiException as error:
        if error.status in (403, 404, 405):  # not ours to delete, or gone already: nothing to reset
            return
        raise explain_api_error(error, f"Deleting the {resource.kind} objects of {namespace!r}") from None


def _remaining(resources: Sequence[Any], namespace: str | None, name: str | None = None) -> dict[str, int]:
    """How many objects of each kind are still there (being deleted or not); kinds with none left out."""
    counts = {}
    for resource in resources:
        try:
            if name is None:
                found = len(resource.get(namespace=namespace).items)
            else:
                resource.get(name=name)
                found = 1
        except ApiException as error:
            if error.status not in (403, 404):
                raise explain_api_error(error, f"Reading the {resource.kind} objects of {namespace!r}") from None
            found = 0
        if found:
            counts[resource.kind] = found
    return counts


def _wait_until_gone(
    resources: Sequence[Any], namespace: str, started: float, name: str | None = None
) -> None:
    """Wait until no object of ``resources`` is left in ``namespace`` (or, with ``name``, that one
    cluster-scoped object is gone), within the reset's deadline."""
    scope = None if name else namespace
    remaining = _remaining(resources, scope, name)
    if not remaining:
        return
    what = " and ".join(f"{kind}s" for kind in remaining)
    bar, total = progress_bar(f"the {what} of {namespace!r} to be deleted", _GONE_TIMEOUT), sum(remaining.values())
    while remaining:
        elapsed = time.monotonic() - started
        left = ", ".join(f"{count} {kind}s" for kind, count in remaining.items())
        if elapsed > _GONE_TIMEOUT:
            bar.finish(False, f"✗ {left} still being deleted")
            raise CourseError(
                f"Reset: {left} in {namespace!r} are still being deleted after {_GONE_TIMEOUT:.0f}s.\n"
                "  Run reset again; if they stay, look for finalizers: kubectl get all,pvc -o yaml"
            )
        bar.update(elapsed, (max(total - sum(remaining.values()), 0), total), f"{left} left")
        time.sleep(0.2)
        remaining = _remaining(resources, scope, name)
    bar.finish(True, f"✓ {what} deleted ({time.monotonic() - started:.1f}s)")


def chapter_volume(namespace: str) -> str:
    """The one PersistentVolume a chapter may create, named after its namespace (see chapter 06).

    PersistentVolumes are cluster-scoped, so a reset of the namespace deletes this one by name.

    >>> chapter_volume("ada-06-storage")
    'ada-06-storage-pv'
    """
    return f"{namespace}-pv"


def _nodes_are_simulated() -> bool:
    """Whether kwok plays this cluster's nodes (:func:`course.backends.simulated`); a learner who may not
    list Nodes is taken to be on a cluster with real ones."""
    try:
        nodes = dynamic_client().resources.get(api_version="v1", kind="Node").get().items
    except ApiException:
        return False
    return simulated({"annotations": dict(node.metadata.annotations or {})} for node in nodes)


def empty_namespace(namespace: str) -> None:
    """Delete every object in ``namespace`` (and its chapter volume), owners first; wait until they are gone.

    On sim, Pods go with no grace period: kwok finishes a graceful deletion by deleting the Pod *by name*
    (a kubelet names the Pod's uid too), and under load a second such delete, queued for the old Pod,
    can come after the reset has made a Pod of the same name again, and delete that one. With no grace
    period the API server removes the Pod itself and kwok has nothing to finish. On a real cluster the
    kubelet stops the containers first, as it should.
    """
    started = time.monotonic()
    pods_at_once = _nodes_are_simulated()
    kinds = _deletable_kinds()
    by_kind = {resource.kind: resource for resource in kinds}
    owners = [by_kind[kind] for kind in OWNERS if kind in by_kind]
    for resource in owners:
        _delete_collection(resource, namespace, "Foreground")
    _wait_until_gone(owners, namespace, started)
    last = [by_kind[kind] for kind in LAST if kind in by_kind]
    for resource in kinds:
        if resource.kind not in OWNERS and resource.kind not in LAST:
            _delete_collection(resource, namespace, "Background")
    for resource in last:
        _delete_collection(resource, namespace, "Background", at_once=pods_at_once and resource.kind == "Pod")
    _wait_until_gone(last, namespace, started)
    _delete_chapter_volume(namespace, started)


def _delete_chapter_volume(namespace: str, started: float) -> None:
    """Delete ``<namespace>-pv`` once its claim is gone; a learner without rights on it leaves it be."""
    volumes = dynamic_client().resources.get(api_version="v1", kind="PersistentVolume")
    name = chapter_volume(namespace)
    try:
        volumes.delete(name=name)
    except ApiException as error:
        if error.status in (403, 404):
            return
        raise explain_api_error(error, f"Deleting the PersistentVolume {name!r}") from None
    _wait_until_gone([volumes], namespace, started, name=name)


def namespace_exists(namespace: str) -> bool:
    """Whether ``namespace`` exists; one that is being deleted is waited out first, and then does not.

    A namespace being deleted refuses new objects, and it can be made again only once the namespace
    controller has emptied it and it is gone (about 5 s after the deletion, when nothing in it has a
    grace period to wait out).
    """
    namespaces = dynamic_client().resources.get(api_version="v1", kind="Namespace")
    try:
        existing = namespaces.get(name=namespace)
    except ApiException as error:
        if error.status != 404:
            raise explain_api_error(error, f"Reading namespace {namespace!r}") from None
        return False
    if existing.status.phase != "Terminating":
        return True
    _wait_until_gone([namespaces], namespace, time.monotonic(), name=namespace)
    return False


def prepare_namespace(chapter: Chapter, namespace: str, fresh: bool) -> None:
    """Create ``namespace`` with the starting state if it is new; with ``fresh``, empty and restore it."""
    if not namespace_exists(namespace):
        apply(_namespace_manifest(chapter, namespace), namespace)
    elif fresh:
        empty_namespace(namespace)
    else:
        return  # a learner's work in progress: running connect() again must not undo their fixes
    if chapter.starting_state:
        apply(list(chapter.starting_state), namespace)


def delete_namespaces(namespaces: Iterable[str]) -> list[str]:
    """Ask for the deletion of ``namespaces`` (one gone or already being deleted is fine); return their names,
    for :func:`delete_pods_now`. Needs the right to delete namespaces: for the tests and the graders, not a
    learner's reset."""
    core = client.CoreV1Api(api_client())
    names = list(namespaces)
    for name in names:
        try:
            core.delete_namespace(name)
        except ApiException as error:
            if error.status not in (404, 409):  # gone already, or already being deleted
                raise
    return names


def delete_pods_now(namespaces: Iterable[str]) -> None:
    """Delete the Pods of ``namespaces``, being deleted, with no grace period, without waiting for them.

    kube-controller-manager's namespace controller starts emptying a deleted namespace 5 s after the deletion,
    and when that first pass still finds Pods it looks again only after about half of their termination grace
    period (30 s unless the Pod says otherwise), and a Pod given 30 s to stop keeps its requests on its node
    until then. Deleted at once as soon as the namespace is terminating (no controller may create anything in
    it then), the Pods free their room, and the first pass finds the namespace empty."""
    core = client.CoreV1Api(api_client())
    for name in namespaces:
        try:
            core.delete_collection_namespaced_pod(name, grace_period_seconds=0)
        except ApiException as error:
            if error.status != 404:  # gone already
                raise
