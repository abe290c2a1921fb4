"""``reset`` puts a chapter back to its starting state, whatever the learner did in between.

For every chapter in ``FIXES``: connect in a namespace of its own, do what a learner does (fix the
broken objects the way the chapter's exercises ask, then add objects of one's own), check that
connecting again keeps that work, reset with ``python -m course reset <id>``, and check that

* every starting object is back exactly as its manifest declares it (the broken ones broken again),
* nothing else is left: the learner's objects are gone, and every Pod, ReplicaSet, ... belongs to a
  starting object.

A chapter with a ``starting-state`` adds its fix to ``FIXES`` (``delete_starting_objects`` will do
when deleting what the learner was given is test enough).

And for every chapter, the normal flow: run the whole solved notebook, twice (a learner re-runs
cells: the second run must pass every check too), then reset. Whatever the solutions made
(StatefulSets with claim templates, Jobs, a PersistentVolume, ...), reset converges and the starting
state is back; for the capstone, grading the solved notebook afterwards (the grader
resets first) still earns every point.
"""

from __future__ import annotations

import copy
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import nbformat
import pytest
from kubernetes import client, watch

import course
from course import checks
from course._chapters import chapter_ids, load_chapter
from course._resetting import _deletable_kinds, chapter_volume
from course.cli import main as course_cli
from course.nbgrader_glue import autograde, sandbox_namespace

from .background import Ahead, ahead, selected
from .conftest import copy_of_course
from .test_chapters import graded_cells, run_solutions, source_of

pytestmark = pytest.mark.usefixtures("sim_cluster")

# Objects every namespace has, made by the cluster itself.
CLUSTER_MADE = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}
# Written about whatever happens in a namespace, the starting state's objects included.
CLUSTER_WRITTEN = {"Event"}


def fix_01_why_kubernetes(cluster: course.Cluster) -> None:
    """Exercise 4: shop scaled to 3, the hand-made Pods deleted."""
    cluster.apps.patch_namespaced_deployment_scale("shop", cluster.namespace, {"spec": {"replicas": 3}})
    for name in ("shop-1", "shop-2", "shop-3"):
        cluster.core.delete_namespaced_pod(name, cluster.namespace, grace_period_seconds=0)
    cluster.wait_for("Deployment", "shop", "Ready", timeout=30)


def fix_02_control_plane(cluster: course.Cluster) -> None:
    """Exercise 2: settings says mode=fast; exercise 5: report, applied again without its GPU, runs."""
    cluster.core.patch_namespaced_config_map("settings", cluster.namespace, {"data": {"mode": "fast"}})
    [report] = [m for m in load_chapter("02-control-plane").starting_state if m["metadata"]["name"] == "report"]
    report = copy.deepcopy(report)
    del report["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    cluster.apply(report)
    cluster.wait_for("Deployment", "report", "Ready", timeout=30)


def fix_03_nodes_and_pods(cluster: course.Cluster) -> None:
    """Exercise 2: team=payments labels; exercise 3: an api Pod quarantined; exercise 4: site recreated fixed."""
    for name in ("shop-web", "shop-api"):
        cluster.core.patch_namespaced_pod(name, cluster.namespace, {"metadata": {"labels": {"team": "payments"}}})
    cluster.wait_for("Deployment", "api", "Ready", timeout=30)
    first = checks.objects("Pod", cluster.namespace, "app=api")[0]["metadata"]["name"]
    cluster.core.patch_namespaced_pod(first, cluster.namespace, {"metadata": {"labels": {"app": "api-quarantine"}}})
    site = next(obj for obj in load_chapter("03-nodes-and-pods").starting_state if obj["metadata"]["name"] == "site")
    cluster.core.delete_namespaced_pod("site", cluster.namespace, grace_period_seconds=0)
    cluster.wait_for("Pod", "site", "deleted", timeout=30)
    fixed = {**site, "spec": {**site["spec"], "volumes": [{"name": "html", "emptyDir": {}}]}}
    writer = fixed["spec"]["containers"][1]
    fixed["spec"]["containers"] = [
        fixed["spec"]["containers"][0],
        {**writer, "volumeMounts": [{"name": "html", "mountPath": "/pages"}]},
    ]
    cluster.apply(fixed)


def fix_04_workloads(cluster: course.Cluster) -> None:
    """Exercise 4: checkout runs the image nginx:1.27 instead of the mistyped ngnix:1.27 and becomes available."""
    cluster.kubectl("set", "image", "deployment/checkout", "checkout=nginx:1.27")
    cluster.wait_for("Deployment", "checkout", "Ready", timeout=30)


def fix_04b_more_workloads(cluster: course.Cluster) -> None:
    """Exercise 2: node-agent on every node; exercise 3: report created again for Linux nodes and completed."""
    cluster.apps.patch_namespaced_daemon_set(
        "node-agent",
        cluster.namespace,
        {"spec": {"template": {"spec": {
            "nodeSelector": None,
            "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}],
        }}}},
    )
    starting = load_chapter("04b-more-workloads").starting_state
    report = next(obj for obj in starting if obj["metadata"]["name"] == "report")
    cluster.batch.delete_namespaced_job("report", cluster.namespace, propagation_policy="Foreground")
    cluster.wait_for("Job", "report", "deleted", timeout=30)
    template = report["spec"]["template"]
    cluster.apply({**report, "spec": {**report["spec"], "template": {
        **template, "spec": {**template["spec"], "nodeSelector": {"kubernetes.io/os": "linux"}}}}})
    cluster.wait_for("Job", "report", "Complete", timeout=30)


def fix_05_network(cluster: course.Cluster) -> None:
    """Exercise 2: the Service shop selects the shop Pods (app=shop) and reaches both."""
    cluster.core.patch_namespaced_service("shop", cluster.namespace, {"spec": {"selector": {"app": "shop"}}})
    cluster.wait_for("Deployment", "shop", "Ready", timeout=30)
    checks.expect_ready_endpoints("shop", cluster.namespace, count=2)


def fix_06_storage(cluster: course.Cluster) -> None:
    """Exercise 4: the claim reports-data created again with the class standard; reports runs."""
    claim = next(obj for obj in cluster.chapter.starting_state if obj["metadata"]["name"] == "reports-data")
    cluster.core.delete_namespaced_persistent_volume_claim("reports-data", cluster.namespace)
    cluster.wait_for("PersistentVolumeClaim", "reports-data", "deleted", timeout=30)
    cluster.apply({**claim, "spec": {**claim["spec"], "storageClassName": "standard"}})
    cluster.wait_for("Deployment", "reports", "Ready", timeout=30)


FIXES: dict[str, Callable[[course.Cluster], None]] = {
    "01-why-kubernetes": fix_01_why_kubernetes,
    "02-control-plane": fix_02_control_plane,
    "03-nodes-and-pods": fix_03_nodes_and_pods,
    "04-workloads": fix_04_workloads,
    "04b-more-workloads": fix_04b_more_workloads,
    "05-network": fix_05_network,
    "06-storage": fix_06_storage,
}


def delete_starting_objects(cluster: course.Cluster) -> None:
    """The fix for a chapter without its own: the learner deleted everything they were given."""
    for obj in cluster.chapter.starting_state:
        resource = cluster.dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        resource.delete(name=obj["metadata"]["name"], namespace=cluster.namespace if resource.namespaced else None)


def contains(found: Any, wanted: Any) -> bool:
    """Whether ``found`` (a live object) has every field of ``wanted`` (a manifest) with its value.

    The API server adds defaults (a port's protocol, a Pod's restartPolicy, ...) and appends to some
    lists (the service-account token volume and its mounts), so only what the manifest says is
    compared: lists item by item, from the start.

    >>> contains({"ports": [{"containerPort": 80, "protocol": "TCP"}], "x": 1}, {"ports": [{"containerPort": 80}]})
    True
    """
    if isinstance(wanted, dict):
        return isinstance(found, dict) and all(k in found and contains(found[k], v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(found, list) and len(found) >= len(wanted) and all(map(contains, found, wanted))
    return bool(found == wanted)


def learner_objects(cluster: course.Cluster) -> None:
    """What a learner adds while working through a chapter: a ConfigMap, a Pod and a Deployment."""
    cluster.apply(
        """
apiVersion: v1
kind: ConfigMap
metadata: {name: learner-notes}
data: {note: mine}
---
apiVersion: v1
kind: Pod
metadata: {name: learner-pod, labels: {made: by-learner}}
spec:
  containers: [{name: pause, image: registry.k8s.io/pause:3.10}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: learner-web}
spec:
  replicas: 2
  selector: {matchLabels: {made: by-learner-web}}
  template:
    metadata: {labels: {made: by-learner-web}}
    spec:
      containers: [{name: pause, image: registry.k8s.io/pause:3.10}]
"""
    )
    cluster.wait_for("Deployment", "learner-web", "Ready", timeout=30)


def mismatches(cluster: course.Cluster) -> list[str]:
    """How the namespace differs from the chapter's starting state (empty when it is the same)."""
    problems = []
    starting = {(obj["kind"], obj["metadata"]["name"]): obj for obj in cluster.chapter.starting_state}
    for (kind, name), manifest in starting.items():
        live = cluster.get(kind, name)
        if live is None:
            problems.append(f"{kind} {name} is missing")
        elif not contains(live, {key: value for key, value in manifest.items() if key not in ("apiVersion", "kind")}):
            problems.append(f"{kind} {name} differs from its manifest")
    services = {name for kind, name in starting if kind == "Service"}
    for resource in sorted(_deletable_kinds(), key=lambda resource: resource.kind):
        kind = resource.kind
        if kind in CLUSTER_WRITTEN:
            continue
        listed = [item.to_dict() for item in resource.get(namespace=cluster.namespace).items]
        for obj in sorted(listed, key=lambda obj: str(obj["metadata"]["name"])):
            name = obj["metadata"]["name"]
            if (kind, name) in starting or (kind, name) in CLUSTER_MADE:
                continue
            if checks.field(obj, "metadata.deletionTimestamp"):
                continue  # on its way out, as checks.objects() sees it
            if kind == "Endpoints" and name in services:
                continue  # the endpoints controller writes one per Service, without an owner reference
            chain = checks.owner_chain(obj, cluster.namespace)
            if not any(tuple(link.split("/", 1)) in starting for link in chain):
                problems.append(f"{kind} {name} is left over (owners: {chain or 'none'})")
    return problems


def test_every_chapter_with_a_starting_state_has_a_fix() -> None:
    """A new chapter with a starting state adds its fix to FIXES, so that its reset is tested."""
    assert [chapter for chapter in chapter_ids() if load_chapter(chapter).starting_state] == sorted(FIXES)


@pytest.mark.parametrize("chapter", sorted(FIXES))
def test_reset_restores_the_starting_state(chapter: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K8S_COURSE_NAMESPACE", f"reset-{chapter}")
    cluster = course.connect(chapter, quiet=True)
    cluster.reset()  # a namespace left from an earlier run of this test starts over too
    assert mismatches(cluster) == []

    FIXES[chapter](cluster)
    learner_objects(cluster)
    fixed = mismatches(cluster)
    broken_fixed = sorted(problem for problem in fixed if "left over" not in problem)
    assert broken_fixed, f"the fix changed no starting object: {fixed}"
    assert "ConfigMap learner-notes is left over (owners: none)" in fixed, fixed

    # Connecting again (a re-run of the first cell) keeps the learner's work ...
    again = mismatches(course.connect(chapter, quiet=True))
    assert sorted(problem for problem in again if "left over" not in problem) == broken_fixed
    assert "Pod learner-pod is left over (owners: none)" in again, again
    # ... and reset undoes it: the broken objects are broken again, the learner's objects are gone.
    assert course_cli(["reset", chapter]) == 0
    assert mismatches(cluster) == []


def test_connecting_while_the_namespace_is_being_deleted_waits_and_starts_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A namespace being deleted refuses new objects until it is gone: ``connect()`` waits it out and makes
    it again with the starting state (it used to stop with "is being deleted; run this again")."""
    monkeypatch.setenv("K8S_COURSE_NAMESPACE", "reset-deleted")
    cluster = course.connect("04-workloads", quiet=True)
    cluster.core.delete_namespace(cluster.namespace)
    assert cluster.core.read_namespace(cluster.namespace).status.phase == "Terminating"
    again = course.connect("04-workloads", quiet=True)
    assert again.core.read_namespace(again.namespace).status.phase == "Active"
    assert mismatches(again) == []


def test_on_sim_reset_removes_pods_without_leaving_kwok_a_deletion_to_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    """kwok finishes a graceful deletion by deleting the Pod by name; a late one could delete the Pod of the
    same name that the reset makes again (chapter 03's shop-web, once, under load). On sim, reset's Pods go
    with no grace period, which the API server carries out itself (and kwok's pod-delete stage leaves alone:
    tests/test_sim_runtime_failures.py)."""
    monkeypatch.setenv("K8S_COURSE_NAMESPACE", "reset-at-once")
    cluster = course.connect("03-nodes-and-pods", quiet=True)
    bare = {pod.metadata.name for pod in cluster.core.list_namespaced_pod(cluster.namespace).items
            if not pod.metadata.owner_references}  # fmt: skip
    assert bare, "chapter 03's starting state has Pods of its own"
    listed = cluster.core.list_namespaced_pod(cluster.namespace).metadata.resource_version
    cluster.reset()
    marked = set()
    for event in watch.Watch().stream(
        cluster.core.list_namespaced_pod, cluster.namespace, resource_version=listed, timeout_seconds=2
    ):
        pod = event["object"]
        graceful = pod.metadata.deletion_timestamp and pod.metadata.deletion_grace_period_seconds != 0
        if pod.metadata.name in bare and graceful and event["type"] == "MODIFIED":
            marked.add(pod.metadata.name)
    assert marked == set(), f"marked for a graceful deletion, for kwok to finish by name: {sorted(marked)}"
    assert mismatches(cluster) == []


GRADED_AFTER_RESET = ("07-capstone",)
"""Chapters whose solved notebook is also graded after the reset (each grading run costs a minute)."""
SOLVED_FIRST = sorted(chapter_ids(), key=lambda chapter: chapter not in GRADED_AFTER_RESET)
"""The chapters in the order they are solved and reset: those graded after their reset first, so that their
grading overlaps with the other chapters' runs instead of ending the module alone."""
LEARNER = "reset-learner"


@contextmanager
def learner_rights(cluster: course.Cluster) -> Iterator[None]:
    """Act as a learner of a classroom does: the role ``edit`` in the namespace, and reading Namespaces.

    The class grader resets a submission's namespace with the student's own rights; foreground
    deletion and the waits of reset must need no more than these.
    """
    rbac = "rbac.authorization.k8s.io/v1"
    subject = [{"kind": "User", "name": LEARNER, "apiGroup": "rbac.authorization.k8s.io"}]
    cluster.apply([
        {"apiVersion": rbac, "kind": "ClusterRole", "metadata": {"name": f"{LEARNER}:namespaces"},
         "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]},
        {"apiVersion": rbac, "kind": "ClusterRoleBinding", "metadata": {"name": f"{LEARNER}:namespaces"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"{LEARNER}:namespaces"},
         "subjects": subject},
        {"apiVersion": rbac, "kind": "RoleBinding", "metadata": {"name": LEARNER},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
         "subjects": subject},
    ])
    cluster.api.default_headers["Impersonate-User"] = LEARNER
    try:
        yield
    finally:
        del cluster.api.default_headers["Impersonate-User"]
        # Not the learner's to delete (the role edit cannot), so not reset's either: the test's own.
        client.RbacAuthorizationV1Api(cluster.api).delete_namespaced_role_binding(LEARNER, cluster.namespace)


Solved = Ahead[str, tuple[str, list[list[str]]]]


@pytest.fixture(scope="module", autouse=True)
def solved(sim_cluster: Path, request: pytest.FixtureRequest) -> Iterator[Solved]:
    """Each chapter's solved notebook run twice, as a learner who re-runs it does, in a namespace (and
    chapter volume) no earlier run used: in the background from the module's start, three chapters at a
    time (a run mostly waits on its kernel and the cluster: side by side with two at a time on a busy
    machine, the module took a fifth less) and at most three ahead of the test that resets them. Gives the
    student and each run's failed checks."""

    def solve_twice(chapter: str) -> tuple[str, list[list[str]]]:
        student = f"solved-{uuid.uuid4().hex[:4]}"
        env = {**os.environ, "K8S_COURSE_NAMESPACE": sandbox_namespace(student, chapter)}
        return student, [run_solutions(chapter, env) for _run in range(2)]

    with ahead(selected(request, "chapter"), solve_twice, ahead=3, workers=3) as runs:
        runs.start()
        yield runs


@pytest.mark.parametrize("chapter", SOLVED_FIRST)
def test_reset_after_solving_the_chapter(
    chapter: str, solved: Solved, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A learner solves the whole chapter and runs it all again (re-running is safe: every check still
    passes), then resets it: nothing of theirs is left, the start is back."""
    student, runs = solved.result(chapter)
    namespace = sandbox_namespace(student, chapter)
    monkeypatch.setenv("K8S_COURSE_NAMESPACE", namespace)
    for run, failures in zip(("first", "second"), runs, strict=True):
        assert not failures, f"{run} run of the solved notebook: checks failed: {failures}"

    def reset_converges(as_learner: bool = False) -> None:
        cluster = course.connect(chapter, quiet=True)
        started = time.monotonic()
        with learner_rights(cluster) if as_learner else nullcontext():
            assert course_cli(["reset", chapter]) == 0
        print(f"reset {chapter} after its solutions: {time.monotonic() - started:.1f}s")
        assert mismatches(cluster) == []
        assert cluster.get("PersistentVolume", chapter_volume(namespace)) is None

    reset_converges()
    if chapter in GRADED_AFTER_RESET:
        course_root = copy_of_course(request.getfixturevalue("released_course"), tmp_path / "course")
        grades = autograde(source_of(chapter), chapter, student, course_root)
        assert grades.cells == graded_cells(nbformat.read(source_of(chapter), as_version=4))
        reset_converges(as_learner=True)  # grading left the solved state behind again
