"""A chapter's namespace: created when missing, emptied and restored to its starting state on reset.

Reset empties the namespace the way the namespace controller does when a namespace is deleted: it
asks discovery for every namespaced kind and deletes each collection. It needs only rights inside the
namespace, so a learner (or a sandboxed grader) can reset without cluster-wide permissions.
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.resource import ResourceList

from course._applying import apply
from course._chapters import Chapter
from course._client import dynamic_client
from course._errors import CourseError, explain_api_error
from course._progress import progress_bar

# Recreated by controllers at once; deleting them would only race with Pods created right after.
_KEEP = {"ServiceAccount": "default", "ConfigMap": "kube-root-ca.crt"}
_GONE_TIMEOUT = 60.0


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


def empty_namespace(namespace: str) -> None:
    """Delete every object in ``namespace`` and wait until its Pods and claims are gone."""
    for resource in _deletable_kinds():
        keep = _KEEP.get(resource.kind)
        try:
            # DELETE on the collection's path, as the namespace controller does (the client's own
            # delete() insists on a selector, which not every kind supports).
            dynamic_client().request(
                "delete",
                resource.path(namespace=namespace),
                body={"propagationPolicy": "Background"},
                field_selector=f"metadata.name!={keep}" if keep else None,
            )
        except ApiException as error:
            if error.status in (403, 404, 405):  # not ours to delete, or gone already: nothing to reset
                continue
            raise explain_api_error(error, f"Deleting the {resource.kind} objects of {namespace!r}") from None
    started = time.monotonic()
    for kind in ("Pod", "PersistentVolumeClaim"):
        resource = dynamic_client().resources.get(api_version="v1", kind=kind)
        remaining = len(resource.get(namespace=namespace).items)
        if not remaining:
            continue
        bar, total = progress_bar(f"the {kind}s of {namespace!r} to be deleted", _GONE_TIMEOUT), remaining
        while remaining:
            elapsed = time.monotonic() - started
            if elapsed > _GONE_TIMEOUT:
                bar.finish(False, f"✗ {remaining} {kind}s are still being deleted")
                raise CourseError(f"Reset: {kind}s in {namespace!r} are still being deleted; run reset again.")
            bar.update(elapsed, (total - remaining, total), f"{remaining} left")
            time.sleep(0.2)
            remaining = len(resource.get(namespace=namespace).items)
        bar.finish(True, f"✓ {total} {kind}s deleted ({time.monotonic() - started:.1f}s)")


def prepare_namespace(chapter: Chapter, namespace: str, fresh: bool) -> None:
    """Create ``namespace`` with the starting state if it is new; with ``fresh``, empty and restore it."""
    namespaces = dynamic_client().resources.get(api_version="v1", kind="Namespace")
    try:
        existing = namespaces.get(name=namespace)
        if existing.status.phase == "Terminating":
            raise CourseError(f"Namespace {namespace!r} is being deleted; wait a few seconds and run this again.")
    except ApiException as error:
        if error.status != 404:
            raise explain_api_error(error, f"Reading namespace {namespace!r}") from None
        existing = None
    if existing is None:
        apply(_namespace_manifest(chapter, namespace), namespace)
    elif fresh:
        empty_namespace(namespace)
    else:
        return  # a learner's work in progress: running connect() again must not undo their fixes
    if chapter.starting_state:
        apply(list(chapter.starting_state), namespace)
