"""What every backend gives the rest of the course: the types :mod:`course.backends` exports.

They live here, below the package and its backends, so that ``kind`` and ``sim`` can use them while
``course.backends`` picks among ``kind`` and ``sim`` (no module imports the one that imports it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

CNI_LABEL = "k8s-course/cni"
"""Node label the kind configs set (``kindnet`` or ``calico``): how a notebook tells the variants apart."""
SIM_NODE_ANNOTATION = "kwok.x-k8s.io/node"
"""Annotation of the Nodes that kwok simulates (sim backend)."""
CAPABILITIES_ANNOTATION = "k8s-course/capabilities"
"""Node annotation where ``cluster up`` records what a kind cluster turned out to do, when an add-on could
not run (no LoadBalancer addresses offline, for one): the names of the true :class:`Capabilities` fields."""


@dataclass(frozen=True)
class Capabilities:
    """What a backend can really do, beyond the Kubernetes API that every backend serves for real."""

    containers: bool
    """Containers really run: logs, exec and application traffic work."""
    network_policy: bool
    """NetworkPolicy objects are enforced by the CNI (otherwise stored only)."""
    load_balancer: bool
    """Services of type LoadBalancer get a reachable address."""
    ingress: bool
    """An Ingress controller routes real requests."""

    def as_annotation(self) -> str:
        """The names of the true fields, comma-separated: the value of :data:`CAPABILITIES_ANNOTATION`.

        >>> Capabilities(containers=True, network_policy=True, load_balancer=False, ingress=True).as_annotation()
        'containers,network_policy,ingress'
        """
        return ",".join(field.name for field in fields(self) if getattr(self, field.name))

    @classmethod
    def from_annotation(cls, text: str) -> Capabilities:
        """The capabilities an annotation written by :meth:`as_annotation` names.

        >>> Capabilities.from_annotation("containers,ingress").load_balancer
        False
        """
        named = {name.strip() for name in text.split(",")}
        return cls(**{field.name: field.name in named for field in fields(cls)})


def recorded_capabilities(metadata: Iterable[Mapping[str, Any]]) -> Capabilities | None:
    """What the Nodes' :data:`CAPABILITIES_ANNOTATION` says (their ``metadata`` as dicts), if any Node has it."""
    for node in metadata:
        recorded = (node.get("annotations") or {}).get(CAPABILITIES_ANNOTATION)
        if recorded is not None:
            return Capabilities.from_annotation(str(recorded))
    return None


@dataclass(frozen=True)
class Status:
    """What ``cluster status`` prints: is it up, and what is it."""

    backend: str
    running: bool
    server: str = ""
    version: str = ""
    nodes: tuple[str, ...] = ()
    detail: str = ""


class Backend(Protocol):
    """A way to run the course cluster. ``up`` and ``down`` are idempotent."""

    name: str
    capabilities: Capabilities

    def available(self) -> tuple[bool, str]:
        """Whether this machine can run the backend, and if not, why (one sentence)."""
        ...

    def exists(self) -> bool:
        """Whether anything of this backend's cluster is there, working or not (``cluster down`` asks)."""
        ...

    def up(self) -> Status:
        """Start the cluster (or find it running) and wait until every Node is Ready."""
        ...

    def down(self) -> None:
        """Stop the cluster and leave no process or state behind."""
        ...

    def status(self) -> Status:
        """Report without changing anything."""
        ...
