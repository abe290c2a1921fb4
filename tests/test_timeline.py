"""The event timeline records what controllers do on the real sim cluster, and survives broken watches."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

import course
from course.pictures.timeline import Timeline
from tests import pictures_scenario


def deployment(name: str, replicas: int, image: str = "nginx:1.27") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }


@pytest.fixture(scope="module")
def cluster(sim_cluster: Path) -> Iterator[course.Cluster]:
    with pictures_scenario.namespace("tester-timeline") as recorded:
        yield recorded


def changes_of(timeline: Timeline, kind: str, change: str) -> list[str]:
    return [c.name for c in timeline.changes if c.kind == kind and c.change == change]


def until_recorded(seen: Callable[[], bool], timeout: float = 30) -> None:
    """Inside a timeline's block, wait until its watches have delivered what the test then asserts on
    (at most ``timeout`` seconds; the assertions fail after that). A state seen by polling the API may
    come before the watch events that report it, later than the timeline's settle on a busy machine."""
    deadline = time.monotonic() + timeout
    while not seen() and time.monotonic() < deadline:
        time.sleep(0.05)


def reasons_of(timeline: Timeline, kind: str) -> list[str]:
    return [c.status.label for c in timeline.changes if c.kind == kind and c.change == "event"]


def test_a_rollout_shows_the_new_replicaset_rising_and_the_old_one_falling(cluster: course.Cluster) -> None:
    cluster.apply(deployment("roll", 2, "nginx:1.26"))
    cluster.wait_for("Deployment", "roll", "Ready")
    with cluster.timeline(show=False) as timeline:
        cluster.apply(deployment("roll", 2, "nginx:1.27"))
        cluster.wait_for("Deployment", "roll", "Ready")
        until_recorded(lambda: len(changes_of(timeline, "Pod", "deleted")) >= 2
                       and reasons_of(timeline, "Deployment").count("ScalingReplicaSet") >= 4)  # fmt: skip
    replica_sets = {c.name for c in timeline.changes if c.kind == "ReplicaSet" and c.change != "event"}
    assert len(replica_sets) == 2
    assert len(changes_of(timeline, "Pod", "added")) == 2 and len(changes_of(timeline, "Pod", "deleted")) == 2
    assert reasons_of(timeline, "Deployment").count("ScalingReplicaSet") >= 4  # up, down, up, down
    times = [c.at for c in timeline.changes]
    assert times == sorted(times) and 0 < times[-1] <= timeline.recording.duration


def test_a_deleted_pod_is_replaced_and_both_are_on_the_picture(cluster: course.Cluster) -> None:
    cluster.apply(deployment("heal", 2))
    cluster.wait_for("Deployment", "heal", "Ready")
    victim = cluster.core.list_namespaced_pod(cluster.namespace, label_selector="app=heal").items[0].metadata.name
    with cluster.timeline(show=False) as timeline:
        cluster.core.delete_namespaced_pod(victim, cluster.namespace)
        cluster.wait_for("Pod", victim, "deleted")
        cluster.wait_for("Deployment", "heal", lambda d: d.get("status", {}).get("readyReplicas") == 2)
        until_recorded(lambda: any(c.status.label == "Ready" for name in changes_of(timeline, "Pod", "added")
                                   for c in timeline.of("Pod", name) if c.change != "event"))  # fmt: skip
    assert changes_of(timeline, "Pod", "deleted") == [victim]
    [replacement] = changes_of(timeline, "Pod", "added")
    assert [c.status.label for c in timeline.of("Pod", replacement) if c.change != "event"][-1] == "Ready"
    svg = timeline.recording.to_svg()
    assert victim[:20] in svg and replacement[:20] in svg and "SuccessfulCreate" in str(timeline.table())


def test_a_job_runs_to_completion(cluster: course.Cluster) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "count"},
        "spec": {
            "completions": 2,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}},
        },
    }
    with cluster.timeline(show=False) as timeline:
        cluster.apply(job)
        cluster.wait_for("Job", "count", "Complete")
        until_recorded(lambda: succeeded_pods(timeline) >= 2 and job_states(timeline)[-1:] == ["Complete"])
    states = job_states(timeline)
    assert states[0] == "0/2 done" and states[-1] == "Complete"
    assert succeeded_pods(timeline) == 2


def job_states(timeline: Timeline) -> list[str]:
    return [c.status.label for c in timeline.of("Job", "count") if c.change != "event"]


def succeeded_pods(timeline: Timeline) -> int:
    return [c.status.label for c in timeline.changes if c.kind == "Pod" and c.change == "modified"].count("Succeeded")


def test_nothing_changed_gives_a_picture_that_says_so(cluster: course.Cluster) -> None:
    with cluster.timeline(show=False) as timeline:
        pass
    assert not timeline.changes and "Nothing changed" in timeline.recording.to_svg()


def test_watches_resume_from_the_last_resource_version(cluster: course.Cluster) -> None:
    """One-second watches end many times during the block; no change may fall between two of them."""
    timeline = Timeline(cluster.namespace, kinds=("Pod",), show=False, watch_seconds=1)
    names = [f"step-{index}" for index in range(4)]
    with timeline:
        for name in names:
            cluster.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                           "spec": {"containers": [{"name": "c", "image": "busybox"}]}})  # fmt: skip
            # Not a fixed sleep (too short on a busy machine): wait until a watch has ended and resumed.
            resumed, deadline = timeline.reconnects, time.monotonic() + 30
            while timeline.reconnects == resumed and time.monotonic() < deadline:
                time.sleep(0.05)
            assert timeline.reconnects > resumed, "the one-second watch never ended and resumed"
        until_recorded(lambda: len(changes_of(timeline, "Pod", "added")) >= len(names))
    assert sorted(changes_of(timeline, "Pod", "added")) == names


def test_a_broken_connection_is_resumed_without_losing_changes(
    cluster: course.Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_stream = Timeline._stream
    broken: list[str] = []

    def breaks_once(self: Timeline, kind: str, resource_version: str) -> Iterator[dict[str, Any]]:
        for event in real_stream(self, kind, resource_version):
            yield event
            if kind == "Pod" and not broken:
                broken.append(resource_version)
                raise urllib3.exceptions.ProtocolError("connection reset by peer")

    monkeypatch.setattr(Timeline, "_stream", breaks_once)
    with cluster.timeline(show=False) as timeline:
        cluster.apply(deployment("flaky", 3))
        cluster.wait_for("Deployment", "flaky", "Ready")
        until_recorded(lambda: len(ready_pods(timeline)) >= 3)
    assert broken, "the connection was never broken"
    assert len(changes_of(timeline, "Pod", "added")) == 3
    assert len(ready_pods(timeline)) == 3 and not changes_of(timeline, "Pod", "lost")


def ready_pods(timeline: Timeline) -> set[str]:
    return {c.name for c in timeline.changes if c.kind == "Pod" and c.status.label == "Ready"}


def test_a_gone_resource_version_is_marked_as_lost_events_and_relisted(
    cluster: course.Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_stream = Timeline._stream
    expired: list[str] = []

    def expires_once(self: Timeline, kind: str, resource_version: str) -> Iterator[dict[str, Any]]:
        if kind == "Pod" and not expired:
            expired.append(resource_version)
            time.sleep(1.0)  # meanwhile the Pods are created: only the relist can see them
            raise ApiException(status=410, reason="Gone: too old resource version")
        yield from real_stream(self, kind, resource_version)

    monkeypatch.setattr(Timeline, "_stream", expires_once)
    with cluster.timeline(show=False) as timeline:
        cluster.apply(deployment("gap", 2))
        cluster.wait_for("Deployment", "gap", "Ready")
        until_recorded(lambda: len(pods_seen(timeline)) >= 2)
    [lost] = [c for c in timeline.changes if c.change == "lost"]
    assert lost.kind == "Pod"
    assert len(pods_seen(timeline)) == 2
    assert "events lost" in timeline.recording.to_svg()


def pods_seen(timeline: Timeline) -> set[str]:
    return {c.name for c in timeline.changes if c.kind == "Pod" and c.change in ("added", "modified")}
