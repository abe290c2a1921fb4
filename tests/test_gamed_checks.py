"""Checks grade what the task asks, not something easier (issue 17).

Each submission below is the released notebook with answers that take a shortcut the task rules out:
a made-up name, a patch where the task asks for a replace that carries the ``resourceVersion``, a
``cluster.apply`` where it asks for a ``POST``. Graded through ``nbgrader autograde`` on the sim
cluster, the exercise it games earns nothing. And a check whose learner variable is missing fails
with expected and found, never with a ``NameError``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

import course
from course.checks import CheckFailed
from course.classroom._referee import _read_names
from course.classroom.samples import solve
from course.nbgrader_glue import GradedSubmissions, Grades, GradingFailed, Submission, autograde_all

from .background import Relabelled, Results, in_lanes, selected
from .conftest import copy_of_course
from .test_chapters import CHAPTERS, released_of, source_of

MADE_UP_DELETED_POD = """
web_set = cluster.apps.list_namespaced_replica_set(cluster.namespace, label_selector="app=web").items[0]
deleted_pod = f"{web_set.metadata.name}-zzzzz"
replacement_pod = cluster.core.list_namespaced_pod(cluster.namespace, label_selector="app=web").items[0].metadata.name
"""
"""Chapter 01, exercise 2: nothing deleted; a name that never existed, and a Pod that was there all along."""

OLDER_SIBLING = """
placed = {
    event.involved_object.name: event.event_time
    for event in cluster.core.list_namespaced_event(cluster.namespace).items
    if event.reason == "Scheduled"
}
alive = sorted(
    (pod.metadata.name for pod in cluster.core.list_namespaced_pod(cluster.namespace, label_selector="app=web").items),
    key=placed.__getitem__,
)
deleted_pod = victim
later = [name for name in alive[:-1] if placed[name] > placed[victim]]
replacement_pod = later[0] if later else alive[0]
"""
"""Chapter 01, exercise 2: nothing deleted; the Pod the chapter's demonstration deleted (``victim``), and
a Pod of the same first three that happened to be placed after it (when there is one: two runs in three)."""

APPLIED_NOT_POSTED = """
front_door = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "front-door"}}
cluster.apply({**front_door, "data": {"greeting": "hello"}})
"""
"""Chapter 02, exercise 1: server-side apply (a PATCH), not the POST the task asks for."""

PATCHED_NOT_REPLACED = """
updated = cluster.core.patch_namespaced_config_map("settings", cluster.namespace, {"data": {"mode": "fast"}})
"""
"""Chapter 02, exercise 2: a patch, which no resourceVersion guards."""

REPLACED_WITHOUT_VERSION = """
settings = cluster.core.read_namespaced_config_map("settings", cluster.namespace)
settings.data["mode"] = "fast"
settings.metadata.resource_version = None
updated = cluster.core.replace_namespaced_config_map("settings", cluster.namespace, settings)
"""
"""Chapter 02, exercise 2: a replace without the resourceVersion: an unconditional write."""

ENDS_ITS_KERNEL = """
import os
os._exit(0)
"""
"""Chapter 02, exercise 1: the kernel ends itself before any check can run."""


def submission(chapter: str, solved: list[str], answers: dict[str, str], into: Path) -> Path:
    """The released notebook with ``solved`` exercises solved and the answer cells in ``answers``
    (by grade_id) holding the given code instead of ``raise NotImplementedError()``."""
    source = nbformat.read(source_of(chapter), as_version=4)
    notebook = solve(nbformat.read(released_of(chapter), as_version=4), source, solved)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id in answers:
            assert "raise NotImplementedError()" in cell.source, grade_id
            cell.source = cell.source.replace("raise NotImplementedError()", answers.pop(grade_id).strip())
    assert not answers, f"no answer cells {sorted(answers)}"
    path = into / f"{chapter}.ipynb"
    nbformat.write(notebook, path)
    return path


def points(cells: dict[str, float], prefix: str) -> float:
    """The points of an exercise (``ex2``) or of one cell (``ex2-check-replacement``)."""
    return float(sum(p for grade_id, p in cells.items() if f"{grade_id}-".startswith(f"{prefix}-")))


GAMES: dict[str, tuple[str, list[str], dict[str, str], list[str]]] = {
    "01-made-up-deleted-pod": ("01-why-kubernetes", ["ex1"], {"ex2-replace-a-pod": MADE_UP_DELETED_POD}, ["ex2"]),
    "01-older-sibling": ("01-why-kubernetes", ["ex1"], {"ex2-replace-a-pod": OLDER_SIBLING}, ["ex2-check-replacement"]),
    "02-apply-and-patch": (
        "02-control-plane",
        [],
        {"ex1-post-front-door": APPLIED_NOT_POSTED, "ex2-replace-settings": PATCHED_NOT_REPLACED},
        ["ex1", "ex2"],
    ),
    "02-replace-without-resource-version": (
        "02-control-plane", [], {"ex2-replace-settings": REPLACED_WITHOUT_VERSION}, ["ex2"]
    ),
}
"""Each gamed submission: its chapter, the exercises solved honestly, the gaming answers (by grade_id),
and the exercises or cells that must earn nothing."""

UNGRADABLE: dict[str, tuple[str, list[str], dict[str, str], list[str]]] = {
    "02-ends-its-kernel": ("02-control-plane", [], {"ex1-post-front-door": ENDS_ITS_KERNEL}, ["ex1", "ex2"]),
}
"""Submissions nbgrader cannot grade at all: they fail alone, as a grading error, not as points. The lanes
of :func:`gamed_grades` give each one gamed submissions as lane mates, which must still be graded."""


@pytest.fixture(scope="module")
def gamed_grades(
    sim_cluster: Path, released_course: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Results[str, Grades]]:
    """Each submission of ``GAMES`` graded once through ``nbgrader autograde``, each as a student of its own
    (so in a namespace of its own): in two lanes, each one nbgrader process grading its share."""

    def grade_all(names: tuple[str, ...]) -> Relabelled[str, Grades]:
        course_root = copy_of_course(released_course, tmp_path_factory.mktemp("gamed"))
        submissions = []
        for name in names:
            chapter, solved, answers, _gamed = {**GAMES, **UNGRADABLE}[name]
            notebook = submission(chapter, solved, dict(answers), tmp_path_factory.mktemp(name))
            submissions.append(Submission(notebook, chapter, f"gamer-{name}"))
        labels = {name: ({**GAMES, **UNGRADABLE}[name][0], f"gamer-{name}") for name in names}
        return Relabelled(autograde_all(submissions, course_root), labels)

    with in_lanes(selected(request, "name"), grade_all) as grades:
        yield grades


@pytest.mark.parametrize("name", list(GAMES))
def test_a_gamed_exercise_earns_nothing(name: str, gamed_grades: Results[str, Grades]) -> None:
    _chapter, solved, _answers, gamed = GAMES[name]
    grades = gamed_grades.result(name)
    assert {exercise: points(grades.cells, exercise) for exercise in gamed} == dict.fromkeys(gamed, 0.0), grades.cells
    for exercise in solved:  # the honest part still earns its points
        assert points(grades.cells, exercise) == points(grades.max_cells, exercise), grades.cells


@pytest.mark.parametrize("name", list(UNGRADABLE))
def test_a_submission_that_ends_its_kernel_fails_alone(name: str, gamed_grades: Results[str, Grades]) -> None:
    """nbgrader cannot grade it: the instructor is told which submission and why; its lane mates (the gamed
    submissions graded in the same nbgrader process) are graded as usual, in the test above."""
    with pytest.raises(GradingFailed, match=rf"gamer-{name}'s 02-control-plane: .*DeadKernelError"):
        gamed_grades.result(name)


def test_a_failed_submission_is_listed_and_raises_only_when_read(tmp_path: Path) -> None:
    graded = Grades(cells={"ex1": 1.0}, max_cells={"ex1": 1.0}, autograded=tmp_path / "a.ipynb")
    grades = GradedSubmissions({("00-setup", "ana"): graded}, {("00-setup", "bo"): "DeadKernelError: Kernel died"})
    assert sorted(grades) == [("00-setup", "ana"), ("00-setup", "bo")] and len(grades) == 2
    assert ("00-setup", "bo") in grades and ("00-setup", "cy") not in grades
    assert grades["00-setup", "ana"] is graded
    with pytest.raises(GradingFailed, match=r"could not grade bo's 00-setup: DeadKernelError: Kernel died"):
        grades["00-setup", "bo"]


# -- a missing answer variable: expected and found, not a NameError ------------------------------------
def check_cells(chapter: str) -> dict[str, str]:
    notebook = nbformat.read(source_of(chapter), as_version=4)
    return {
        cell.metadata.nbgrader["grade_id"]: cell.source
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
    }


ALLOWED = {"checks", "cluster", "course"}
"""Names a check may read without looking them up: the check library and the read-only cluster."""
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_checks_read_learner_variables_through_globals(chapter: str) -> None:
    """A learner's variable read by its bare name is a NameError when it is missing: every check looks
    up each one it reads (also one an earlier check looked up: a learner may run a check alone)."""
    cells = {grade_id: _read_names(source) for grade_id, source in check_cells(chapter).items()}
    learners = set().union(*(looked_up for _, looked_up in cells.values()))
    defined: set[str] = set()
    bare = {}
    for grade_id, source in check_cells(chapter).items():
        names, looked_up = cells[grade_id]
        tree = ast.parse(source)
        stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        unknown = set(names) - looked_up - ALLOWED - defined  # neither the learner's by globals() nor a check's
        unread = (loaded & (learners | unknown)) - stored
        if unread:
            bare[grade_id] = sorted(unread)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                defined.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    assert not bare, f"read globals().get(name) instead: {bare}"


def run_check(source: str, values: dict[str, Any]) -> None:
    exec(compile(source, "<check>", "exec"), {"__name__": "__check__", **values})


def test_chapter_00_without_answers_says_what_it_expected() -> None:
    source = check_cells("00-setup")["ex3-check-nodes"]
    with pytest.raises(CheckFailed, match=r"worker_nodes(.|\n)*expected(.|\n)*found: +no variable worker_nodes"):
        run_check(source, {})
    with pytest.raises(CheckFailed, match=r"control_plane_node(.|\n)*found: +no variable control_plane_node"):
        run_check(source, {"worker_nodes": ["course-worker", "course-worker2", "course-worker3"]})


@pytest.mark.usefixtures("sim_cluster")
def test_chapter_01_replacement_without_deleted_pod_says_what_it_expected() -> None:
    cluster = course.connect("01-why-kubernetes", quiet=True)
    solution = nbformat.read(source_of("01-why-kubernetes"), as_version=4)
    ex1 = [c.source for c in solution.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex1-web-yaml"]
    exec(compile(ex1[0], "<ex1>", "exec"), {"cluster": cluster})
    pod = cluster.core.list_namespaced_pod(cluster.namespace, label_selector="app=web").items[0].metadata.name
    source = check_cells("01-why-kubernetes")["ex2-check-replacement"]
    with pytest.raises(CheckFailed, match=r"deleted_pod(.|\n)*found: +no variable deleted_pod"):
        run_check(source, {"replacement_pod": pod})
