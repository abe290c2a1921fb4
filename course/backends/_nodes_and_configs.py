"""What every backend does the same way: describe Nodes, and write the course kubeconfig."""

from __future__ import annotations

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
