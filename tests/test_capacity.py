"""A student's capacity is bounded, so one student cannot cost another points (issue 14, item 3).

Each chapter namespace of a sandbox has a CPU and memory *requests* quota; a student may hold that
much in every chapter at once, so ``class sandbox create`` checks that the class fits the schedulable
workers (students x chapters x quota) and says so in one line; on the sim cluster it declares the
workers large enough. Then a student who fills every namespace they have, within their quota, leaves
room for everybody else's correct submission.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from course._chapters import chapter_ids
from course._client import api_client
from course._resetting import delete_pods_now
from course._waiting import wait_for
from course.classroom.grader import grade_class
from course.classroom.roster import Student
from course.classroom.samples import exercises, solve, source_and_released, write_submission
from course.classroom.sandboxes import ClassFit, create_sandboxes, delete_sandboxes, fit_class

from .conftest import copy_of_course

CHAPTER = "00-setup"


def _admin() -> client.CoreV1Api:
    return client.CoreV1Api(api_client())


@pytest.fixture
def declared_workers(sim_cluster: Path) -> Iterator[None]:
    """The sim workers' declared capacity, put back after the test (other modules count on 4 CPUs)."""
    core = _admin()
    before = {
        node.metadata.name: {"capacity": node.status.capacity, "allocatable": node.status.allocatable}
        for node in core.list_node().items
    }
    yield
    for name, status in before.items():
        core.patch_node_status(name, {"status": status})


def _remove(students: list[Student]) -> None:
    """Delete the students' sandboxes, their Pods at once: the rest goes in the background (a terminating
    sandbox needs no room, :func:`fit_class` leaves it out, and one made again waits until it is gone)."""
    delete_pods_now(delete_sandboxes(students))


def test_the_sizing_line_says_when_a_class_does_not_fit() -> None:
    each = {"cpu": Decimal(18), "memory": Decimal(18 << 30), "pods": Decimal(360)}
    workers = {"cpu": Decimal(12), "memory": Decimal(24 << 30), "pods": Decimal(330)}
    line = ClassFit(30, 9, each, workers, 3).line()
    assert line.startswith("WARNING: room for 0 students at this quota"), line
    assert "9 chapters' quota: 18 CPUs, 18Gi memory, 360 Pods" in line and "this class has 30" in line
    assert "add workers, lower the quota in course/classroom/sandbox.yaml" in line
    roomy = {resource: amount * 40 for resource, amount in each.items()}
    assert ClassFit(30, 9, each, roomy, 3).line().startswith("Capacity: room for 40 students")
    assert ClassFit(0, 0, dict.fromkeys(each, Decimal(0)), workers, 3).line() == (
        "Capacity: no student has a sandbox on this cluster yet."
    )


def test_the_quota_refuses_a_pod_beyond_the_students_bound(sim_cluster: Path, tmp_path: Path) -> None:
    student = Student("bounded")
    report = create_sandboxes([student], [CHAPTER], tmp_path)
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(report.kubeconfigs["bounded"])))
    namespace = student.namespace(CHAPTER)

    def pod(name: str, cpu: str | None) -> dict[str, Any]:
        resources = {"requests": {"cpu": cpu, "memory": "64Mi"}} if cpu else {}
        container = {"name": "c", "image": "nginx:1.27", "resources": resources}
        return {"metadata": {"name": name}, "spec": {"containers": [container]}}

    try:
        core.create_namespaced_pod(namespace, pod("within", "1500m"))
        core.create_namespaced_pod(namespace, pod("no-requests", None))  # the LimitRange's defaults
        with pytest.raises(ApiException) as refused:
            core.create_namespaced_pod(namespace, pod("beyond", "1"))
        assert refused.value.status == 403
        assert "exceeded quota: k8s-course-quota" in refused.value.body
        assert "requested: requests.cpu=1, used: requests.cpu=1510m, limited: requests.cpu=2" in refused.value.body
    finally:
        _remove([student])


def test_sandbox_create_says_how_many_students_fit_and_sizes_the_sim_workers(
    declared_workers: None, tmp_path: Path
) -> None:
    students = [Student(f"sized-{number}") for number in range(4)]  # 4 x 2 chapters x 2 CPUs > 3 x 4 CPUs
    roster = tmp_path / "roster.csv"
    roster.write_text("".join(f"{student.id}\n" for student in students))
    command = [sys.executable, "-m", "course", "class", "sandbox", "create", "--roster", str(roster)]
    try:
        result = subprocess.run(
            [*command, "--chapter", CHAPTER, "--chapter", "01-why-kubernetes", "--no-kubeconfigs"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        fit = fit_class()
        [line] = [line for line in result.stderr.splitlines() if "students at this quota" in line]
        assert line.startswith("Declared the simulated workers course-worker, course-worker2, course-worker3 larger")
        assert f"room for {fit.room} students" in line and f"this class has {fit.students}" in line
        assert fit.room >= fit.students >= 4 and not fit.enlarged  # large enough now: nothing more to declare
        again = subprocess.run([*command, "--chapter", CHAPTER, "--no-kubeconfigs"], capture_output=True, text=True)
        assert f"Capacity: room for {fit.room} students" in again.stderr, again.stderr
        _remove(students)
        assert fit_class().students == 0  # their namespaces are still being deleted: they need no room
    finally:
        _remove(students)


def test_a_student_filling_every_namespace_costs_no_one_points(
    declared_workers: None, full_jail: None, released_course: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The attack of issue 14: a student fills the workers with Pods from all their chapter namespaces,
    as many as their quota admits; another student's correct submission, graded meanwhile, earns
    every point (before the bound, its Pods stayed Pending and lost the Ready checks' points)."""
    attacker, victim = Student("filler"), Student("victim")
    folder = tmp_path_factory.mktemp("kubeconfigs")
    report = create_sandboxes([attacker, victim], chapter_ids(), folder)
    fit_class()  # what class sandbox create does after creating the sandboxes
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(report.kubeconfigs["filler"])))
    busy = {"containers": [{"name": "busy", "image": "busybox:1.36", "command": ["sleep", "86400"]}]}

    def fill(chapter: str) -> int:
        made = 0
        for number in range(60):
            try:
                core.create_namespaced_pod(
                    attacker.namespace(chapter), {"metadata": {"name": f"fill-{number}"}, "spec": busy}
                )
                made += 1
            except ApiException as error:
                assert error.status == 403 and "exceeded quota" in error.body, error.body
                break
        return made

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            made = sum(pool.map(fill, chapter_ids()))
        assert made > 330 - 40, "the attack should be able to fill the workers' 330 Pods as they were declared"
        root = copy_of_course(released_course, tmp_path_factory.mktemp("class"))
        source, released = source_and_released(root, CHAPTER)
        write_submission(root, CHAPTER, victim.id, solve(released, source, exercises(source)))
        graded = grade_class(CHAPTER, root, workers=1, feedback=False, export=False, students=[victim.id])
        result = graded.by_student()[victim.id]
        assert (result.status, result.score) == ("graded", result.max_score), result.detail
    finally:
        _remove([attacker, victim])


def test_a_pod_asking_for_what_no_node_offers_is_not_excused_as_no_room(sim_cluster: Path) -> None:
    """Chapter 02's report asks for a GPU: its Pods wait for the learner to fix them, not for room, so
    the check must not say "not because of your answer" (CPU and memory shortages only are excused)."""
    from course import checks

    core, namespace = _admin(), "gpu-asker"
    core.create_namespace({"metadata": {"name": namespace}})
    resources = {"requests": {"cpu": "100m"}, "limits": {"nvidia.com/gpu": "1"}}
    pod = {
        "metadata": {"name": "trainer"},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.27", "resources": resources}]},
    }
    try:
        core.create_namespaced_pod(namespace, pod)
        unschedulable = lambda pod: any(  # noqa: E731
            c.get("reason") == "Unschedulable" for c in pod.get("status", {}).get("conditions") or []
        )
        waiting = wait_for("Pod", "trainer", namespace, unschedulable, timeout=30)
        assert waiting is not None and "Insufficient nvidia.com/gpu" in str(waiting["status"]["conditions"])
        with pytest.raises(checks.CheckFailed) as failed:
            checks.expect_ready(checks.expect_object("Pod", "trainer", namespace=namespace))
        assert "no room" not in str(failed.value) and "is not ready" in str(failed.value)
    finally:
        core.delete_namespace(namespace)
