"""Deleting namespaces, and waiting for them to be gone, without waiting on the namespace controller's estimates.

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


def delete_namespaces(namespaces: Iterable[str]) -> list[str]:
    """Ask for the deletion of ``namespaces`` (one gone or already being deleted is fine); return their names."""
    core = client.CoreV1Api(api_client())
    names = list(namespaces)
    for name in names:
        try:
            core.delete_namespace(name)
        except client.ApiException as error:
            if error.status not in (404, 409):  # gone already, or already being deleted
                raise
    return names


def delete_pods_now(namespaces: Iterable[str]) -> None:
    """Delete the Pods of ``namespaces``, being deleted, with no grace period (see above)."""
    core = client.CoreV1Api(api_client())
    for name in namespaces:
        try:
            core.delete_collection_namespaced_pod(name, grace_period_seconds=0)
        except client.ApiException as error:
            if error.status != 404:  # gone already
                raise


def wait_until_gone(namespaces: Iterable[str], timeout: float = 300) -> None:
    """Wait until ``namespaces``, whose deletion has been asked for, are gone; delete their Pods at once first."""
    names = list(namespaces)
    delete_pods_now(names)
    for name in names:
        wait_for("Namespace", name, None, "deleted", timeout=timeout)
