"""Waiting for deleted namespaces to be gone, without waiting on the namespace controller's estimates
(:func:`course._resetting.delete_pods_now` says why deleting their Pods at once is enough)."""

from __future__ import annotations

from collections.abc import Iterable

from course._resetting import delete_pods_now
from course._waiting import wait_for


def wait_until_gone(namespaces: Iterable[str], timeout: float = 300) -> None:
    """Wait until ``namespaces``, whose deletion has been asked for, are gone; delete their Pods at once first."""
    names = list(namespaces)
    delete_pods_now(names)
    for name in names:
        wait_for("Namespace", name, None, "deleted", timeout=timeout)
