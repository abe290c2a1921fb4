"""Reading live objects for a picture: plain dicts, every kind at most ``limit`` times, never a hang.

A namespace with thousands of Pods must still give a picture in a second or two, so each kind is
listed once with ``limit`` (the API server then says how many it left out) and a request timeout.
The result is a :class:`Snapshot`: the objects as the API server returned them (camelCase dicts,
``kind`` filled in), which every picture's model is built from, and which tests can save as JSON.

>>> snapshot = Snapshot.read("ada-00-setup")          # doctest: +SKIP
>>> [pod["metadata"]["name"] for pod in snapshot.of("Pod")]   # doctest: +SKIP
['web-7d9f8c6b5d-x2x4k']
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from course._client import dynamic_client
from course._errors import explain_api_error

READ_LIMIT = 500
"""Objects read per kind; more are counted, not read."""

REQUEST_TIMEOUT = 20.0

KINDS: dict[str, tuple[str, bool]] = {
    "Deployment": ("apps/v1", True),
    "ReplicaSet": ("apps/v1", True),
    "StatefulSet": ("apps/v1", True),
    "DaemonSet": ("apps/v1", True),
    "CronJob": ("batch/v1", True),
    "Job": ("batch/v1", True),
    "Pod": ("v1", True),
    "Service": ("v1", True),
    "EndpointSlice": ("discovery.k8s.io/v1", True),
    "Ingress": ("networking.k8s.io/v1", True),
    "IngressClass": ("networking.k8s.io/v1", False),
    "PersistentVolumeClaim": ("v1", True),
    "PersistentVolume": ("v1", False),
    "StorageClass": ("storage.k8s.io/v1", False),
    "Node": ("v1", False),
    "Event": ("v1", True),
    "Lease": ("coordination.k8s.io/v1", True),
}
"""Every kind a picture reads: its apiVersion and whether it lives in a namespace."""


def _raw(_client: Any, data: Any) -> Any:
    """A serializer for the dynamic client that keeps the JSON as it came (fast for big lists)."""
    return data


@dataclass(frozen=True)
class Listing:
    """Up to ``limit`` objects of one kind and how many exist in all."""

    items: list[dict[str, Any]]
    total: int

    @property
    def capped(self) -> bool:
        return self.total > len(self.items)


def list_objects(
    kind: str,
    namespace: str | None = None,
    limit: int = READ_LIMIT,
    label_selector: str | None = None,
    field_selector: str | None = None,
) -> Listing:
    """List ``kind`` (in ``namespace`` when it is namespaced), at most ``limit`` objects.

    Kinds the learner may not read (403) or the cluster does not serve (404) list as empty: a
    picture shows what it can see rather than failing.
    """
    api_version, namespaced = KINDS[kind]
    resource = dynamic_client().resources.get(api_version=api_version, kind=kind)
    try:
        data = resource.get(
            namespace=namespace if namespaced else None,
            limit=limit,
            label_selector=label_selector,
            field_selector=field_selector,
            serializer=_raw,
            _request_timeout=REQUEST_TIMEOUT,
        )
    except ApiException as error:
        if error.status in (403, 404):
            return Listing([], 0)
        raise explain_api_error(error, f"Listing {kind} objects") from None
    items = [{"kind": kind, "apiVersion": api_version, **item} for item in data.get("items") or []]
    remaining = (data.get("metadata") or {}).get("remainingItemCount") or 0
    return Listing(items, len(items) + int(remaining))


def read_object(kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
    """One object as a dict, or None when it does not exist (or may not be read)."""
    api_version, namespaced = KINDS[kind]
    resource = dynamic_client().resources.get(api_version=api_version, kind=kind)
    try:
        data = resource.get(
            name=name,
            namespace=namespace if namespaced else None,
            serializer=_raw,
            _request_timeout=REQUEST_TIMEOUT,
        )
    except ApiException as error:
        if error.status in (403, 404):
            return None
        raise explain_api_error(error, f"Reading {kind} {name!r}") from None
    return {"kind": kind, "apiVersion": api_version, **data}


@dataclass
class Snapshot:
    """Objects of several kinds read at one moment, with the full count of each capped kind."""

    namespace: str
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)

    @classmethod
    def read(cls, namespace: str, kinds: Iterable[str] = (), limit: int = READ_LIMIT) -> Snapshot:
        """List every kind in ``kinds`` (namespaced ones in ``namespace``)."""
        snapshot = cls(namespace)
        for kind in kinds:
            listing = list_objects(kind, namespace, limit)
            snapshot.objects[kind] = listing.items
            snapshot.totals[kind] = listing.total
        return snapshot

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The objects of ``kind`` that were read (none when the kind was not read)."""
        return self.objects.get(kind, [])

    def left_out(self, kind: str) -> int:
        """How many objects of ``kind`` exist but were not read because of the limit."""
        return self.totals.get(kind, 0) - len(self.of(kind))

    def save(self, path: Path) -> None:
        """Write the snapshot as JSON (tests keep real cluster state this way)."""
        data = {"namespace": self.namespace, "objects": self.objects, "totals": self.totals}
        path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> Snapshot:
        data = json.loads(path.read_text())
        return cls(data["namespace"], data["objects"], data["totals"])
