"""What every backend gives the rest of the course: the types :mod:`course.backends` exports.

They live here, below the package and its backends, so that ``kind`` and ``sim`` can use them while
``course.backends`` picks among ``kind`` and ``sim`` (no module imports the one that imports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

CNI_LABEL = "k8s-course/cni"
"""Node label the kind configs set (``kindnet`` or ``calico``): how a notebook tells the variants apart."""
SIM_NODE_ANNOTATION = "kwok.x-k8s.io/node"
"""Annotation of the Nodes that kwok simulates (sim backend)."""


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
