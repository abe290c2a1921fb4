"""Waiting for deleted namespaces to be gone, without waiting on the namespace controller's estimates.

kube-controller-manager's namespace controller starts emptying a deleted namespace 5 s after the
deletion, and when that first pass still finds Pods it looks again only after about half of their
termination grace period (30 s unless the Pod says otherwise): 10 to 20 s for Pods that the sim cluster
removes at once. Deleting the Pods with a grace period of 0 as soon as the namespace is terminating (no
controller may create anything in it then) lets the first pass find it empty.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubernetes import client

from course._client import api_client
from course._waiting import wait_for


def wait_until_gone(namespaces: Iterable[str], timeout: float = 300) -> None:
    """Wait until ``namespaces``, whose deletion has been asked for, are gone; delete their Pods at once first."""
    core = client.CoreV1Api(api_client())
    names = list(namespaces)
    for name in names:
        try:
            core.delete_collection_namespaced_pod(name, grace_period_seconds=0)
        except client.ApiException as error:
            if error.status != 404:  # gone already
                raise
    for name in names:
        wait_for("Namespace", name, None, "deleted", timeout=timeout)
