"""One rule per kind for "ready" (course._readiness), and every user of it agrees: waits, checks, pictures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import course
from course import checks
from course._readiness import NoReadiness, readiness
from course._waiting import progress_of
from course.pictures._status import status_of

from . import pictures_scenario


def daemon_set(desired: int, ready: int, updated: int, observed: int = 1) -> dict[str, Any]:
    return {
        "kind": "DaemonSet",
        "metadata": {"name": "log-shipper", "generation": 1},
        "status": {
            "observedGeneration": observed,
            "desiredNumberScheduled": desired,
            "numberReady": ready,
            "updatedNumberScheduled": updated,
        },
    }


def job(succeeded: int, complete: bool, completions: int = 2) -> dict[str, Any]:
    conditions = [{"type": "Complete", "status": "True"}] if complete else []
    return {
        "kind": "Job",
        "metadata": {"name": "backup"},
        "spec": {"completions": completions},
        "status": {"succeeded": succeeded, "conditions": conditions},
    }


@pytest.mark.parametrize(
    ("obj", "ready"),
    [
        (daemon_set(3, 3, 3), True),
        (daemon_set(3, 2, 3), False),
        (daemon_set(3, 3, 2), False),  # a rollout of a new template is still under way
        (daemon_set(3, 3, 3, observed=0), False),  # the controller has not seen the latest spec
        (job(2, complete=True), True),
        (job(1, complete=False), False),
        ({"kind": "Pod", "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}, True),
        ({"kind": "Pod", "status": {"phase": "Pending"}}, False),
        ({"kind": "Node", "status": {"conditions": [{"type": "Ready", "status": "False"}]}}, False),
        (
            {"kind": "StatefulSet", "metadata": {"generation": 3}, "spec": {"replicas": 2},
             "status": {"observedGeneration": 3, "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2}},
            True,
        ),
        (
            {"kind": "Deployment", "metadata": {"generation": 1}, "spec": {"replicas": 2},
             "status": {"observedGeneration": 1, "replicas": 3, "readyReplicas": 3, "availableReplicas": 3}},
            False,  # an old Pod is left over from the previous template
        ),
        (
            {"kind": "Deployment", "metadata": {"generation": 1}, "spec": {"replicas": 2},
             "status": {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "availableReplicas": 1}},
            False,  # ready but not yet available (minReadySeconds)
        ),
        (
            {"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 3},
             "status": {"observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "availableReplicas": 3}},
            False,  # a rollout has just started: no Pod of the new template yet (a zero count is left out)
        ),
        (
            {"kind": "ReplicaSet", "metadata": {"generation": 1}, "spec": {"replicas": 2},
             "status": {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2}},
            True,  # a ReplicaSet has one template: it has no updatedReplicas
        ),
    ],
)  # fmt: skip
def test_one_rule_per_kind_and_every_user_agrees(obj: dict[str, Any], ready: bool) -> None:
    assert readiness(obj).ready is ready
    picture_says_ready = status_of(obj).tone in ("ready", "done")
    assert picture_says_ready is ready, status_of(obj)
    if ready:
        checks.expect_ready(obj)
    elif obj["kind"] != "Pod":  # for a Pod the check also reads its latest event from the cluster
        with pytest.raises(checks.CheckFailed) as failure:
            checks.expect_ready(obj)
        assert readiness(obj).expected in str(failure.value) and readiness(obj).found in str(failure.value)


def test_progress_is_counted_for_daemon_sets_and_jobs() -> None:
    assert progress_of("DaemonSet", daemon_set(3, 2, 3)) == (2, 3)
    assert progress_of("Job", job(1, complete=False)) == (1, 2)
    assert progress_of("ConfigMap", {"data": {}}) is None


def test_expect_ready_on_a_kind_without_readiness_tells_the_author() -> None:
    with pytest.raises(NoReadiness, match=r"A ConfigMap has no notion of ready.*expect_field"):
        checks.expect_ready({"kind": "ConfigMap", "metadata": {"name": "settings"}})


@pytest.fixture(scope="module")
def cluster(sim_cluster: Path) -> Iterator[course.Cluster]:
    with pictures_scenario.namespace("tester-readiness") as fresh:
        yield fresh


def test_a_real_daemon_set_and_job_become_ready_for_waits_and_checks(cluster: course.Cluster) -> None:
    """``checks.expect_ready`` on a DaemonSet used to read ``spec.replicas`` and could never pass."""
    cluster.apply(
        """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: log-shipper}
spec:
  selector: {matchLabels: {app: log-shipper}}
  template:
    metadata: {labels: {app: log-shipper}}
    spec: {containers: [{name: shipper, image: busybox:1.36}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: backup}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: backup, image: busybox:1.36}]
"""
    )
    cluster.wait_for("DaemonSet", "log-shipper", "Ready", timeout=60)
    cluster.wait_for("Job", "backup", "Complete", timeout=60)
    for kind, name in (("DaemonSet", "log-shipper"), ("Job", "backup")):
        obj = checks.expect_object(kind, name, namespace=cluster.namespace)
        checks.expect_ready(obj)


def _fill_every_worker(into: course.Cluster) -> None:
    """Pods in ``into``'s namespace that take whatever CPU is left on each worker."""
    from decimal import Decimal

    from course.checks import pod_requests, quantity

    for node in (n for n in checks.objects("Node") if not n["spec"].get("taints")):
        name = node["metadata"]["name"]
        running = [p for p in checks.objects("Pod", all_namespaces=True) if p["spec"].get("nodeName") == name
                   and p["status"].get("phase") not in ("Succeeded", "Failed")]  # fmt: skip
        free = quantity(node["status"]["allocatable"]["cpu"]) - sum((pod_requests(p)[0] for p in running), Decimal(0))
        into.apply(
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"filler-{name}"},
             "spec": {"nodeSelector": {"kubernetes.io/hostname": name},
                      "containers": [{"name": "fill", "image": "busybox:1.36",
                                      "resources": {"requests": {"cpu": f"{int(free * 1000)}m"}}}]}}
        )  # fmt: skip
        into.wait_for("Pod", f"filler-{name}", "Ready", timeout=60)


def _pending_pod(cluster: course.Cluster, name: str, cpu: str) -> dict[str, Any]:
    cluster.apply(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
         "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "resources": {"requests": {"cpu": cpu}}}]}}
    )  # fmt: skip
    unschedulable = lambda pod: any(  # noqa: E731
        c.get("reason") == "Unschedulable" for c in pod.get("status", {}).get("conditions") or []
    )
    cluster.wait_for("Pod", name, unschedulable, timeout=30)
    return checks.expect_object("Pod", name, namespace=cluster.namespace)


def _failure(obj: dict[str, Any]) -> str:
    with pytest.raises(checks.CheckFailed) as failed:
        checks.expect_ready(obj)
    return str(failed.value)


def test_a_cluster_filled_by_others_is_named_as_the_reason_not_the_answer(cluster: course.Cluster) -> None:
    """Issue 14: another student's Pods can fill the nodes; the check says so instead of failing silently.
    The learner's own mistakes (a request larger than any Node, their own Pods filling the cluster) are
    not excused."""
    try:
        with pictures_scenario.namespace("tester-crowd") as others:
            _fill_every_worker(others)
            crowded = _failure(_pending_pod(cluster, "small", "100m"))
            assert "no room for it right now, not because of your answer" in crowded
            assert "other namespaces' Pods" in crowded and "Insufficient cpu" in crowded
            assert "no room" not in _failure(_pending_pod(cluster, "huge", "500"))
            others.reset()
        cluster.reset()
        _fill_every_worker(cluster)
        # Larger than what any worker has left beside the learner's own Pods: their own doing, whatever
        # else runs on the cluster.
        from decimal import Decimal

        from course.checks import pod_requests, quantity

        own = checks.objects("Pod", cluster.namespace)
        room = max(
            quantity(node["status"]["allocatable"]["cpu"])
            - sum((pod_requests(p)[0] for p in own if p["spec"].get("nodeName") == node["metadata"]["name"]),
                  Decimal(0))
            for node in checks.objects("Node")
            if not node["spec"].get("taints")
        )  # fmt: skip
        too_many = f"{int(room * 1000) + 100}m"
        assert "no room" not in _failure(_pending_pod(cluster, "one-too-many", too_many))
    finally:
        cluster.reset()
