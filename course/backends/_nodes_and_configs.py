"""What every backend does the same way: describe Nodes, and write the course kubeconfig."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import yaml

from course._paths import CONTEXT, kubeconfig_path
from course._readiness import is_ready


def node_ready(node: dict[str, Any]) -> bool:
    """Whether a Node (as a dict, with or without its ``kind``) is Ready, by :mod:`course._readiness`."""
    return is_ready({**node, "kind": "Node"})


def describe_node(node: dict[str, Any]) -> str:
    """``course-worker (worker, Ready)``: one line of ``cluster status``."""
    labels = node["metadata"].get("labels", {})
    role = "control-plane" if "node-role.kubernetes.io/control-plane" in labels else "worker"
    return f"{node['metadata']['name']} ({role}, {'Ready' if node_ready(node) else 'NotReady'})"


def write_course_kubeconfig(config: dict[str, Any]) -> None:
    """Save a backend's one-cluster kubeconfig at the course's place, its context renamed ``k8s-course``.

    The learner's own ``~/.kube/config`` is never read or written.
    """
    config["clusters"][0]["name"] = CONTEXT
    config["users"][0]["name"] = CONTEXT
    config["contexts"] = [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT}}]
    config["current-context"] = CONTEXT
    path = kubeconfig_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


def discovery_cache_name(server: str) -> str:
    """The file the ``kubernetes`` package's ``DynamicClient`` caches API discovery in, in the temp folder,
    for the API server at ``server`` (a kubeconfig's ``server``): ``osrcp-<md5 of the URL>.json``."""
    return f"osrcp-{hashlib.md5(server.rstrip('/').encode(), usedforsecurity=False).hexdigest()}.json"


def remove_course_kubeconfig() -> None:
    """Remove the course kubeconfig when its cluster is gone, and the discovery cache of that cluster's API
    server: a new cluster listens on another port, so the old cache would stay in the temp folder for good
    (one file per cluster ever started, dozens per test run)."""
    path = kubeconfig_path()
    try:
        server = yaml.safe_load(path.read_text())["clusters"][0]["cluster"]["server"]
        (Path(tempfile.gettempdir()) / discovery_cache_name(server)).unlink(missing_ok=True)
    except (OSError, yaml.YAMLError, LookupError, TypeError, AttributeError):
        pass  # no kubeconfig, not ours, or a cache another user owns: nothing of ours to remove
    path.unlink(missing_ok=True)
