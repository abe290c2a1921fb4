"""Creating and updating objects with server-side apply: running a cell twice is always safe."""

from __future__ import annotations

import json
import time
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from course._client import dynamic_client
from course._errors import ManifestError, explain_api_error
from course._manifests import Manifest, load_objects

FIELD_MANAGER = "k8s-course"
"""The name the API server records as the owner of the fields the learner sets through the course."""

QUOTA_RETRIES = 5
"""How often an object is sent again when the namespace's ResourceQuota was busy (see :func:`_quota_was_busy`)."""


def _quota_was_busy(error: ApiException) -> bool:
    """A 409 about the namespace's ResourceQuota, not about the object: while many objects of one
    namespace are created or deleted at once (a crowd of Pods), the API server's quota admission may
    lose the race to record their usage and give up with "Operation cannot be fulfilled on
    resourcequotas". Nothing was stored, and sending the same object again is what kubectl's users do."""
    if error.status != 409:
        return False
    try:
        details = json.loads(error.body or "{}").get("details") or {}
    except (ValueError, AttributeError):
        return False
    return bool(details.get("kind") == "resourcequotas")


def apply(manifest: Manifest, namespace: str) -> list[dict[str, Any]]:
    """Create or update every object of ``manifest``; namespaced ones without a namespace go to ``namespace``.

    Server-side apply sends the whole desired object and lets the API server merge it, like
    ``kubectl apply --server-side``: the first call creates, later calls update, and fields the learner
    no longer lists are removed. Returns the objects as the API server stored them.
    """
    applied = []
    for obj in load_objects(manifest):
        kind, name = obj["kind"], obj["metadata"]["name"]
        try:
            resource = dynamic_client().resources.get(api_version=obj["apiVersion"], kind=kind)
        except ResourceNotFoundError:
            raise ManifestError(
                f"This cluster has no kind {kind!r} in apiVersion {obj['apiVersion']!r}.\n"
                "  Check the spelling and the apiVersion (kubectl api-resources lists them all)."
            ) from None
        target_namespace = None
        if resource.namespaced:
            target_namespace = obj["metadata"].get("namespace") or namespace
            obj = {**obj, "metadata": {**obj["metadata"], "namespace": target_namespace}}
        for attempt in range(QUOTA_RETRIES + 1):
            try:
                result = resource.server_side_apply(
                    body=obj, name=name, namespace=target_namespace, field_manager=FIELD_MANAGER, force_conflicts=True
                )
                break
            except ApiException as error:
                if attempt < QUOTA_RETRIES and _quota_was_busy(error):
                    time.sleep(0.2 * (attempt + 1))
                    continue
                raise explain_api_error(error, f"Applying {kind} {name!r}") from None
        applied.append(result.to_dict())
    return applied
