"""Cluster backends: where the course's Kubernetes cluster comes from.

Every backend gives the same thing to the rest of the course: a cluster that answers at the
kubeconfig :func:`course._paths.kubeconfig_path` (context ``k8s-course``), with Nodes named
``course-control-plane``, ``course-worker``, ... and a default StorageClass ``standard``. Graded
checks never ask which backend they run on; notebooks may, through :class:`Capabilities`, to show
a real-traffic demo on kind and a clearly labelled alternative on sim.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from course.backends._interface import (
    CNI_LABEL,
    SIM_NODE_ANNOTATION,
    Backend,
    Capabilities,
    Status,
    recorded_capabilities,
)
from course.backends._nodes_and_configs import discovery_cache_name
from course.backends.engine import find_engine
from course.backends.kind import KIND, KIND_CALICO, KindBackend
from course.backends.sim import SimBackend

__all__ = [
    "BACKEND_NAMES",
    "CNI_LABEL",
    "SIM_NODE_ANNOTATION",
    "Backend",
    "Capabilities",
    "Status",
    "all_backends",
    "capabilities_of",
    "choose_backend",
    "discovery_cache_name",
    "get_backend",
    "simulated",
]

BACKEND_NAMES = ("sim", "kind", "kind-calico")


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (``sim``, ``kind``, ``kind-calico``), or the best one here (``auto``)."""
    if name == "auto":
        return choose_backend()[0]
    if name not in BACKEND_NAMES:
        raise ValueError(f"Unknown backend {name!r}: choose one of {', '.join(BACKEND_NAMES)} or auto.")
    return _make(name)


def _make(name: str) -> Backend:
    if name == "sim":
        return SimBackend()
    return KindBackend(network_policy=name == "kind-calico")


def all_backends() -> list[Backend]:
    """One backend of each kind (kind's variants share one cluster): what ``cluster down`` looks at."""
    return [_make("sim"), _make("kind")]


def choose_backend() -> tuple[Backend, str]:
    """What ``--backend auto`` means on this machine, and why (one sentence, for the learner).

    A cluster that already exists wins, so ``status`` and ``lab`` find it; otherwise kind when a
    Docker or Podman engine answers (real containers), else sim, which runs anywhere.
    """
    sim = SimBackend()
    if sim.exists():
        return sim, "a sim course cluster already exists"
    probe = find_engine()
    if probe.engine is None:
        return sim, f"no container engine for kind ({probe.reason}), so the simulated cluster"
    kind = KindBackend(network_policy=None)
    if kind.exists():
        return kind, "a kind course cluster already exists"
    return kind, f"{probe.engine.label} answers, so real containers (kind)"


def simulated(nodes: Iterable[Mapping[str, Any]]) -> bool:
    """Whether kwok plays any of the Nodes whose ``metadata`` (as dicts) are given: the sim backend's cluster,
    whose Pods run no container.

    >>> simulated([{"annotations": {SIM_NODE_ANNOTATION: "fake"}}]), simulated([{"labels": {}}])
    (True, False)
    """
    return any((m.get("annotations") or {}).get(SIM_NODE_ANNOTATION) for m in nodes)


def capabilities_of(nodes: Iterable[Mapping[str, Any]]) -> Capabilities:
    """What the cluster whose Nodes' ``metadata`` (as dicts) are given can do.

    The sim backend's Nodes carry kwok's annotation; the kind backend's carry :data:`CNI_LABEL`, and
    ``k8s-course/capabilities`` when ``cluster up`` found an add-on that could not run. A cluster with
    none of these (a classroom's own cluster) runs containers; nothing else is promised.
    """
    metadata = list(nodes)
    if simulated(metadata):
        return SimBackend.capabilities
    recorded = recorded_capabilities(metadata)
    if recorded is not None:
        return recorded
    cni = {(m.get("labels") or {}).get(CNI_LABEL) for m in metadata}
    if "calico" in cni:
        return KIND_CALICO
    if "kindnet" in cni:
        return KIND
    return Capabilities(containers=True, network_policy=False, load_balancer=False, ingress=False)
