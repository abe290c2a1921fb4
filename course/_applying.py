"""Creating and updating objects with server-side apply: running a cell twice is always safe."""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from course._client import dynamic_client
from course._errors import ManifestError, explain_api_error
from course._manifests import Manifest, load_objects

FIELD_MANAGER = "k8s-course"
"""The name the API server records as the owner of the fields the learner sets through the course."""


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
        try:
            result = resource.server_side_apply(
                body=obj, name=name, namespace=target_namespace, field_manager=FIELD_MANAGER, force_conflicts=True
            )
        except ApiException as error:
            raise explain_api_error(error, f"Applying {kind} {name!r}") from None
        applied.append(result.to_dict())
    return applied
