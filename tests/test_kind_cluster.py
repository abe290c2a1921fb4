"""The kind backend for real: ``cluster up --backend kind`` through the course's command line, then
chapters graded both ways through ``nbgrader autograde`` on it, as ``test_chapters`` does on sim.

Marked ``kind`` (``tests/conftest.py``): skipped when no Docker daemon answers at ``DOCKER_HOST``, and run
in a pytest session of its own (``make test`` runs ``pytest -m kind`` after the rest), because the course
kubeconfig holds one cluster. Offline, ``K8S_COURSE_KIND_NODE_IMAGE`` names the node image that
``cluster-setup/kind/node-image/`` builds: kube-router enforces NetworkPolicies there, and the chapters'
images are test stand-ins preloaded in it. Grading runs in two lanes, as ``test_chapters`` does on sim, all
started when the first grading test asks; ``-k 03-nodes`` grades one chapter, and its tests' durations are
then that chapter's wall time on kind.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from kubernetes import client

from course import kind_outputs
from course._client import api_client
from course._naming import chapter_namespace
from course._resetting import delete_namespaces, delete_pods_now
from course.backends import Capabilities, capabilities_of
from course.translations import write_translated_source

from .background import Ahead, ahead, selected
from .test_chapters import (
    KOREAN,
    Graded,
    expect_full_marks,
    expect_zero_with_every_visible_check_failing,
    graded_both_ways,
    released_of,
)

KIND_CHAPTERS = [
    "00-setup",
    "01-why-kubernetes",
    "02-control-plane",
    "03-nodes-and-pods",
    "04-workloads",
    "04b-more-workloads",
    "05-network",
    "06-storage",
    "07-capstone",
]
"""Chapters graded on kind: all of them. 03, 05, 06 and 07 need real containers most (a crashing container,
traffic and NetworkPolicy, local-path volumes, a database its backup logs in to); the others check that
what sim plays holds on a real cluster too."""


SOLVED = "ko-solution"
"""The solved variant graded on kind: the Korean edition's source notebook (see ``kind_grades``)."""


@pytest.fixture(scope="module")
def kind_grades(
    kind_cluster: Path, released_course: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Graded]:
    """The chapters this session's tests ask for (``-k 03-nodes``: that one only), graded both ways on kind.

    The solved notebook is the Korean edition's source (its code and test cells are the English ones byte for
    byte, so it holds the chapter's solutions), graded in the English course root as the class grader grades
    either edition; the untouched one is the English release. So both editions run on kind, each graded once,
    at the cost of one edition's gradings (sim grades both editions both ways: ``tests/test_chapters.py``)."""
    korean_sources = tmp_path_factory.mktemp("korean-sources")
    variants = {
        SOLVED: lambda chapter: write_translated_source(chapter, KOREAN, korean_sources),
        "untouched": released_of,
    }
    with graded_both_ways(selected(request, "chapter"), released_course, tmp_path_factory, variants=variants) as grades:
        yield grades


def recorded_capabilities() -> Capabilities:
    """What the cluster's Nodes say it can do, as ``cluster.capabilities`` reads it in a notebook."""
    nodes = client.CoreV1Api(api_client()).list_node().items
    return capabilities_of({"labels": n.metadata.labels, "annotations": n.metadata.annotations} for n in nodes)


def test_three_nodes_are_ready_and_the_cluster_says_what_it_can_do(kind_cluster: Path) -> None:
    nodes = client.CoreV1Api(api_client()).list_node().items
    ready = {n.metadata.name: any(c.type == "Ready" and c.status == "True" for c in n.status.conditions) for n in nodes}
    assert ready == {"course-control-plane": True, "course-worker": True, "course-worker2": True}
    capabilities = recorded_capabilities()
    assert capabilities.containers and capabilities.network_policy and capabilities.ingress, capabilities


def test_cluster_status_tells_what_runs_and_what_does_not(kind_cluster: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "course", "cluster", "status"], capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    shown = result.stdout + result.stderr
    assert result.returncode == 0, shown
    assert "Course cluster: kind, Kubernetes v1.37." in shown
    for node in ("course-control-plane (control-plane, Ready)", "course-worker (worker, Ready)"):
        assert f"node {node}" in shown
    assert ("LoadBalancer Services get no address" in shown) == (not recorded_capabilities().load_balancer), shown


@pytest.mark.parametrize("variant", [SOLVED, "untouched"])  # the inner loop: graded in the fixture's order
@pytest.mark.parametrize("chapter", KIND_CHAPTERS)
def test_graded_on_kind_as_on_sim(chapter: str, variant: str, kind_grades: Graded) -> None:
    """The solutions earn full marks; the untouched student version earns zero, every visible check failing."""
    grades = kind_grades.result((chapter, variant))
    if variant == SOLVED:
        expect_full_marks(chapter, grades)
    else:
        expect_zero_with_every_visible_check_failing(grades)


@pytest.mark.parametrize("chapter", ["05-network"])
def test_chapter_05_demos_carry_real_traffic(chapter: str, kind_grades: Graded) -> None:
    """The solved chapter's own demos, as they printed under nbgrader: a Pod reaches the Service web, and the
    Ingress routes by host name. (Its NetworkPolicy demo prints what `kubectl run --attach` caught, which
    a loaded machine can lose: the next test checks enforcement by reading the Pods' logs.)"""
    executed = nbformat.read(kind_grades.result((chapter, SOLVED)).autograded, as_version=4)
    printed = "".join(
        output.get("text", "") for cell in executed.cells if cell.cell_type == "code" for output in cell.outputs
    )
    answers = [line for line in printed.splitlines() if line.startswith("HTTP ")]  # what curl said, to see why
    assert "HTTP 200 from " in printed, f"a Pod could not reach the Service web: {answers}"
    assert "HTTP 200 for https://web.k8s-course.test/" in printed, f"the Ingress did not route: {answers}"


POLICIES = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-ingress}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-allow-clients}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {role: client}}}]
    ports: [{protocol: TCP, port: 80}]
"""
"""Chapter 05's policies: nothing gets in, except role=client to app=web on port 80."""


def test_a_network_policy_lets_the_client_in_and_keeps_everyone_else_out(kind_cluster: Path) -> None:
    from course._toolchain import load_toolchain

    kubectl = [str(load_toolchain().bin_dir / "kubectl"), "--kubeconfig", str(kind_cluster), "-n", "policy-test"]

    def run(*args: str, stdin: str | None = None) -> str:
        result = subprocess.run([*kubectl, *args], input=stdin, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr
        return result.stdout

    run("create", "namespace", "policy-test")
    run("create", "deployment", "web", "--image=nginx:1.27", "--replicas=2")
    run("expose", "deployment", "web", "--port=80")
    run("rollout", "status", "deployment/web", "--timeout=150s")
    run("apply", "-f", "-", stdin=POLICIES)
    # Each Pod tries every 2 s and prints every answer; its log is read once it has finished, because
    # `kubectl run --attach` can miss the output of a Pod that ends quickly. The client tries for up to 60 s:
    # the policy plugin lets a new Pod in only once it has seen it (kube-router, this test cluster's plugin,
    # takes seconds to minutes on a loaded machine: its issues 1309 and 1652); the stranger stays out 20 s.
    tries = {"client": 30, "stranger": 10}
    answers = {}
    for role, times in tries.items():
        curl = "curl -s -m 2 -o /dev/null -w 'HTTP %{http_code}\\n' http://web"
        loop = f"for i in $(seq {times}); do {curl} && break; done; true"
        run("run", f"curl-{role}", f"--labels=role={role}", "--restart=Never", "--image=curlimages/curl:8.11.1",
            "--command", "--", "sh", "-c", loop)  # fmt: skip
        run("wait", f"pod/curl-{role}", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=150s")
        answers[role] = run("logs", f"curl-{role}")
    assert "HTTP 200" in answers["client"], answers
    assert "HTTP 200" not in answers["stranger"] and answers["stranger"].count("HTTP 000") == 10, answers


Recorded = Ahead[str, tuple[dict[str, kind_outputs.Recording], dict[str, kind_outputs.Recording]]]


@pytest.fixture(scope="module")
def kind_recordings(kind_cluster: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
                    ) -> Iterator[Recorded]:  # fmt: skip
    """``record-kind-outputs`` for the chapters this session's tests ask for, two at a time in the background
    from the first test's request (each recording runs its chapter in a namespace of its own, deleted as soon as
    it is done: two at once need no more room than the gradings' two lanes), into a scratch folder; gives each
    chapter's committed recordings and the fresh ones."""
    chapters = selected(request, "chapter")
    committed = {chapter: kind_outputs.load_recordings(chapter) for chapter in chapters}

    def record(chapter: str) -> tuple[dict[str, kind_outputs.Recording], dict[str, kind_outputs.Recording]]:
        try:
            kind_outputs.record(chapter)
        finally:
            # The kind nodes offer the host's CPUs (2 each here): every chapter's Pods left until the module's
            # end kept the last recordings' Pods Pending (as the gradings' namespaces, deleted once graded).
            delete_pods_now(delete_namespaces([chapter_namespace(kind_outputs.RECORDER, chapter)]))
        return committed[chapter], kind_outputs.load_recordings(chapter)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kind_outputs, "RECORDINGS_DIR", tmp_path_factory.mktemp("on-kind"))
        with ahead(chapters, record, ahead=None) as recordings:
            yield recordings


@pytest.mark.parametrize("chapter", kind_outputs.chapters_with_kind_only_cells())
def test_kind_only_cells_run_on_kind_as_recorded(chapter: str, kind_recordings: Recorded) -> None:
    """``record-kind-outputs`` runs the chapter on kind (a kind-only cell that fails there stops it); every
    cell recorded in the checkout prints something again, though addresses and times differ."""
    committed, fresh = kind_recordings.result(chapter)
    assert fresh.keys() == committed.keys()
    assert all(recording.output.strip() for recording in fresh.values()), fresh
