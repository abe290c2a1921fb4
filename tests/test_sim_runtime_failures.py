"""On the sim cluster, kwok Stages play what a kubelet reports when a container cannot run.

The rules (``cluster-setup/sim/README.md``): an image exists when the sim registry's pattern matches it;
a container crashes when its command is ``sh -c`` with a script that ends in ``exit N``. The first
tests need no cluster: the rules are written in several Stages and must agree, and every image a
chapter uses must exist. The others watch the states appear on a live sim cluster.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import watch

import course
from course import checks
from course._chapters import chapter_ids, load_chapter
from course._paths import repo_root

from . import pictures_scenario

STAGES = repo_root() / "cluster-setup" / "sim" / "stages"
# A quoted pattern in a jq `test("...")` or a Go template's raw string.
_IN_JQ = re.compile(r'test\("([^"]+)"\)')
_IN_TEMPLATE = re.compile(r":= `([^`]+)`")


def _patterns(stage: str) -> set[str]:
    text = (STAGES / f"{stage}.yaml").read_text()
    return set(_IN_JQ.findall(text)) | set(_IN_TEMPLATE.findall(text))


def _one_pattern(*stages: str) -> re.Pattern[str]:
    found = set().union(*(_patterns(stage) for stage in stages))
    assert len(found) == 1, f"{stages} should share one pattern, found {sorted(found)}"
    return re.compile(found.pop())


def _command(*words: str) -> str:
    return " ".join(words)


def test_each_rule_is_one_pattern_wherever_it_is_written() -> None:
    _one_pattern("pod-image-pull-failed")
    _one_pattern("pod-container-crash", "pod-container-fail")


@pytest.mark.parametrize(
    ("image", "exists"),
    [
        ("nginx:1.27", True),
        ("nginx", True),
        ("docker.io/library/nginx:1.27-alpine", True),
        ("busybox:1.36", True),
        ("registry.k8s.io/pause:3.10", True),
        ("postgres:16@sha256:" + "a" * 64, True),
        ("ngnix:1.27", False),
        ("nginx:", False),
        ("example.com/shop/checkout:v1", False),
    ],
)
def test_the_sim_registry_has_the_images_of_its_pattern(image: str, exists: bool) -> None:
    assert bool(_one_pattern("pod-image-pull-failed").match(image)) == exists


@pytest.mark.parametrize(
    ("command", "crashes"),
    [
        (_command("sh", "-c", "exit 1"), True),
        (_command("/bin/sh", "-c", "echo connecting to the database; exit 3"), True),
        (_command("sh", "-c", "exit 255"), True),
        (_command("sh", "-c", "exit 0"), False),
        (_command("sh", "-c", "exit 256"), False),
        (_command("sh", "-c", "exit 1; echo never"), False),
        (_command("sh", "-c", "while true; do sleep 3600; done"), False),
    ],
)
def test_a_container_crashes_when_its_script_ends_in_exit_n(command: str, crashes: bool) -> None:
    assert bool(_one_pattern("pod-container-crash").match(command)) == crashes


def _images_in(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "image" and isinstance(item, str):
                yield item
            else:
                yield from _images_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _images_in(item)


def _chapter_images() -> set[str]:
    """Every image of a chapter's starting state, and every `image:` written in its source notebook."""
    images = {image for chapter in chapter_ids() for image in _images_in(load_chapter(chapter).starting_state)}
    # `image: x` as a YAML key (block or flow style) or `"image": "x"` in a dict.
    written = re.compile(r"""(?:^[ \t]*(?:-[ \t]*)?|[{,][ \t]*)["']?image["']?:[ \t]*["']?([\w./:@-]+)""", re.MULTILINE)
    for notebook in Path(repo_root() / "autograder" / "source").glob("*/*.ipynb"):
        for cell in json.loads(notebook.read_text())["cells"]:
            images.update(written.findall("".join(cell["source"])))
    return images


def test_every_image_the_chapters_use_exists_on_sim_except_the_typo_to_find() -> None:
    exists = _one_pattern("pod-image-pull-failed")
    missing = sorted(image for image in _chapter_images() if not exists.match(image))
    assert set(missing) <= {"ngnix:1.27"}, "the chapters use images the sim registry does not have"


# -- on a live sim cluster ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(sim_cluster: Path) -> Iterator[course.Cluster]:
    with pictures_scenario.namespace("tester-runtime-failures") as own:
        yield own


def _pod(name: str, containers: list[dict[str, Any]], restart_policy: str = "Always") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": restart_policy, "containers": containers},
    }


def _status_of(
    cluster: course.Cluster, pod: str, container: str, until: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The container's status once ``until`` holds for it (within 30 s)."""
    deadline = time.monotonic() + 30
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        found = checks.expect_object("Pod", pod, cluster.namespace)
        statuses = checks.field(found, "status.containerStatuses", []) or []
        status = next((s for s in statuses if s["name"] == container), {})
        if status and until(status):
            return status
        time.sleep(0.5)
    raise AssertionError(f"{pod}/{container}: the expected state never came; last status {status}")


def _reasons(cluster: course.Cluster, pod: str) -> set[tuple[str, str]]:
    return {(e["type"], e["message"]) for e in checks.events_about("Pod", pod, cluster.namespace)}


def test_a_missing_image_is_err_image_pull_then_image_pull_back_off(cluster: course.Cluster) -> None:
    cluster.apply(_pod("typo", [{"name": "web", "image": "ngnix:1.27"}, {"name": "side", "image": "busybox:1.36"}]))
    status = _status_of(cluster, "typo", "web", lambda s: checks.field(s, "state.waiting.reason") == "ImagePullBackOff")
    assert status["image"] == "ngnix:1.27" and status["ready"] is False and status["restartCount"] == 0
    assert 'Back-off pulling image "ngnix:1.27": ErrImagePull:' in status["state"]["waiting"]["message"]
    assert _status_of(cluster, "typo", "side", lambda s: True)["ready"] is True
    pod = checks.expect_object("Pod", "typo", cluster.namespace)
    assert checks.field(pod, "status.phase") == "Pending"
    checks.expect_condition(pod, "Ready", "False", "ContainersNotReady")
    reported = _reasons(cluster, "typo")
    assert {("Warning", "Error: ErrImagePull"), ("Warning", "Error: ImagePullBackOff")} <= reported
    # As the kubelet's events: the image named (kwok sends a Stage's fixed `event` as written; the
    # stages create these Events with a templated `apply` step instead).
    assert ("Normal", 'Back-off pulling image "ngnix:1.27"') in reported
    failed = [message for kind, message in reported if message.startswith('Failed to pull image "ngnix:1.27": ')]
    assert failed and 'no image "ngnix"' in failed[0], reported
    events = checks.events_about("Pod", "typo", cluster.namespace)
    assert {e["involvedObject"].get("fieldPath") for e in events if "ngnix" in e["message"]} == {"spec.containers{web}"}
    assert {e["source"].get("component") for e in events if "ngnix" in e["message"]} == {"kubelet"}


def test_a_crashing_container_loops_with_a_growing_restart_count(cluster: course.Cluster) -> None:
    cluster.apply(_pod("crash", [{"name": "app", "image": "busybox:1.36", "command": ["sh", "-c", "echo hi; exit 3"]}]))
    first = _status_of(cluster, "crash", "app", lambda s: checks.field(s, "state.waiting.reason") == "CrashLoopBackOff")
    assert first["restartCount"] == 0 and first["ready"] is False
    assert first["lastState"]["terminated"]["exitCode"] == 3 and first["lastState"]["terminated"]["reason"] == "Error"
    assert first["state"]["waiting"]["message"].startswith("back-off 10s restarting failed container=app pod=crash_")
    restarted = _status_of(cluster, "crash", "app", lambda s: s["restartCount"] == 1)
    assert restarted["lastState"]["terminated"]["exitCode"] == 3
    again = _status_of(
        cluster,
        "crash",
        "app",
        lambda s: s["restartCount"] == 1 and checks.field(s, "state.waiting.reason") == "CrashLoopBackOff",
    )
    assert again["state"]["waiting"]["message"].startswith("back-off 20s ")
    assert checks.field(checks.expect_object("Pod", "crash", cluster.namespace), "status.phase") == "Running"
    uid = checks.expect_object("Pod", "crash", cluster.namespace)["metadata"]["uid"]
    reported = _reasons(cluster, "crash")
    assert ("Warning", f"Back-off restarting failed container app in pod crash_{cluster.namespace}({uid})") in reported
    assert ("Normal", "Started container app") in reported


def test_a_crashing_container_that_is_never_restarted_fails_its_pod(cluster: course.Cluster) -> None:
    cluster.apply(_pod("once", [{"name": "app", "image": "busybox:1.36", "command": ["sh", "-c", "exit 1"]}], "Never"))
    status = _status_of(cluster, "once", "app", lambda s: "terminated" in s["state"])
    assert status["state"]["terminated"]["exitCode"] == 1 and status["restartCount"] == 0
    cluster.wait_for("Pod", "once", lambda pod: checks.field(pod, "status.phase") == "Failed", timeout=30)


def test_fixing_the_image_of_a_deployment_makes_it_available(cluster: course.Cluster) -> None:
    deployment = yaml.safe_load("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop}
spec:
  replicas: 2
  progressDeadlineSeconds: 5
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec: {containers: [{name: shop, image: "ngnix:1.27"}]}
""")
    cluster.apply(deployment)
    cluster.wait_for(
        "Deployment",
        "shop",
        lambda d: any(
            c.get("reason") == "ProgressDeadlineExceeded" for c in checks.field(d, "status.conditions", []) or []
        ),
        timeout=30,
    )
    assert not checks.field(checks.expect_object("Deployment", "shop", cluster.namespace), "status.availableReplicas")
    cluster.kubectl("set", "image", "deployment/shop", "shop=nginx:1.27")
    cluster.wait_for("Deployment", "shop", "Available", timeout=30)


def test_a_pod_with_a_readiness_gate_is_never_ready_not_even_for_a_moment(cluster: course.Cluster) -> None:
    # Were it Ready for a moment, the EndpointSlice controller could list it ready, as chapter 05's
    # unready-Pod demo once showed in CI.
    listed = cluster.core.list_namespaced_pod(cluster.namespace)
    pod = _pod("gated", [{"name": "web", "image": "nginx:1.27"}])
    pod["spec"]["readinessGates"] = [{"conditionType": "k8s-course.test/registered"}]
    cluster.apply(pod)
    seen: list[tuple[str, str | None]] = []
    for event in watch.Watch().stream(
        cluster.core.list_namespaced_pod,
        cluster.namespace,
        field_selector="metadata.name=gated",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=30,
    ):
        status = event["object"].status
        ready = next((c for c in status.conditions or [] if c.type == "Ready"), None)
        if ready is not None:
            seen.append((ready.status, ready.reason))
        if status.phase == "Running" and ready is not None:
            break
    assert seen and all(state == ("False", "ReadinessGatesNotReady") for state in seen), seen



def test_kwok_leaves_a_pod_deleted_with_no_grace_period_to_the_api_server(cluster: course.Cluster) -> None:
    # The API server removes such a Pod itself (after marking it deleted, which kwok sees). kwok deletes by
    # name, so had its pod-delete stage acted too, a late delete could remove a new Pod of the same name
    # (what a reset makes again): its log must name no deletion of this Pod. A finalizer keeps the marked
    # Pod in the API, so a wrong stage always has time to act, however fast the API server is.
    from course.backends.sim import SimBackend

    held = _pod("at-once", [{"name": "web", "image": "nginx:1.27"}])
    held["metadata"]["finalizers"] = ["course.test/hold"]
    cluster.apply(held)
    try:
        cluster.wait_for("Pod", "at-once", "Running", timeout=30)
        cluster.core.delete_namespaced_pod("at-once", cluster.namespace, grace_period_seconds=0)
        cluster.apply(_pod("graceful", [{"name": "web", "image": "nginx:1.27"}]))
        cluster.wait_for("Pod", "graceful", "Running", timeout=30)
        cluster.core.delete_namespaced_pod("graceful", cluster.namespace)
        cluster.wait_for("Pod", "graceful", "deleted", timeout=30)  # kwok's deletion, logged after the one above
        log = (SimBackend().cluster_dir / "logs" / "kwok-controller.log").read_text()
        deleted = {json.loads(line).get("pod") for line in log.splitlines() if '"msg":"Delete pod"' in line}
        assert f"{cluster.namespace}/graceful" in deleted
        assert f"{cluster.namespace}/at-once" not in deleted
    finally:
        cluster.core.patch_namespaced_pod("at-once", cluster.namespace, {"metadata": {"finalizers": None}})
