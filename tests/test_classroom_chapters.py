"""Every chapter through the class grader: the sandbox leaves room for every solution.

A student's sandbox has a quota, a LimitRange, the ``edit`` role and a PersistentVolume policy; a
chapter whose solution needs more (more Pods than the quota, a volume the policy refuses, a
cluster-scoped object) would cost a student points that plain ``nbgrader autograde`` gives. So each
chapter is graded here with :func:`course.classroom.grader.grade_class`, as a class of two: the
solution must earn every point, the untouched notebook none, and a student who solved only the first
*k* exercises exactly their points, cell by cell, for every *k*: partial credit is checked for every
exercise, in the same parallel run (this is the suite's partial-credit test; ``test_chapters`` grades
full marks and zero through plain ``nbgrader autograde``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from course._chapters import chapter_ids
from course._waiting import wait_for
from course.classroom.grader import grade_class
from course.classroom.roster import students_from
from course.classroom.samples import exercises, solve, source_and_released, write_submission
from course.classroom.sandboxes import delete_sandboxes

from .conftest import copy_of_course

SOLVED, UNTOUCHED = "all-solved", "untouched"


@pytest.fixture(scope="module")
def course_root(sim_cluster: Path, released_course: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course root with every chapter released, as an instructor's would be."""
    return copy_of_course(released_course, tmp_path_factory.mktemp("chapters"))


def _submit(root: Path, chapter: str) -> dict[str, dict[str, float]]:
    """Write the class: every exercise solved, none, and the first k for 0 < k < all; return the points
    each student should earn in each graded cell, from the source's graded cells."""
    source, released = source_and_released(root, chapter)
    names = exercises(source)
    points = {
        str(cell.metadata.nbgrader["grade_id"]): float(cell.metadata.nbgrader["points"])
        for cell in source.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
    }
    class_ = {SOLVED: names, UNTOUCHED: [], **{f"first-{k}": names[:k] for k in range(1, len(names))}}
    for student, solved in class_.items():
        write_submission(root, chapter, student, solve(released, source, solved))
    return {
        student: {grade_id: p if grade_id.split("-")[0] in solved else 0.0 for grade_id, p in points.items()}
        for student, solved in class_.items()
    }


def _remove_namespaces(chapter: str, students: list[str]) -> None:
    """Delete the class's namespaces of ``chapter`` and wait until they are gone: the session's
    cluster has room for 330 Pods, and the chapters' solutions together would fill it."""
    for namespace in delete_sandboxes(students_from(students), [chapter]):
        wait_for("Namespace", namespace, None, "deleted", timeout=180)


@pytest.mark.parametrize("chapter", chapter_ids())
def test_the_class_grader_gives_every_exercise_its_points_and_no_more(
    course_root: Path, chapter: str
) -> None:
    earns = _submit(course_root, chapter)
    try:
        report = grade_class(chapter, course_root, workers=4, feedback=False, export=False)
    finally:
        _remove_namespaces(chapter, list(earns))
    results = report.by_student()
    solved, untouched = results[SOLVED], results[UNTOUCHED]
    assert {r.status for r in results.values()} == {"graded"}, {s: r.detail for s, r in results.items()}
    lost = {cell: score for cell, score in _cells(solved.notebooks).items() if not score}
    assert solved.score == solved.max_score > 0, f"cells without points: {lost}"
    assert untouched.score == 0
    earned = {student: results[student].score for student in earns}
    assert earned == {student: sum(cells.values()) for student, cells in earns.items()}, "partial credit"
    by_cell = {student: _cells(results[student].notebooks) for student in earns}
    assert by_cell == earns, "each exercise solved earns its cells' points, each unsolved one none"


def _cells(notebooks: dict[str, Any]) -> dict[str, float]:
    """The points of each graded cell of a student's (one-notebook) chapter, as the class report has them."""
    return {cell: float(score) for book in notebooks.values() for cell, score in book["grades"].items()}
