"""Every chapter through the class grader: the sandbox leaves room for every solution.

A student's sandbox has a quota, a LimitRange, the ``edit`` role and a PersistentVolume policy; a
chapter whose solution needs more (more Pods than the quota, a volume the policy refuses, a
cluster-scoped object) would cost a student points that plain ``nbgrader autograde`` gives. So each
chapter is graded here with :func:`course.classroom.grader.grade_class`, as a class: the
solution must earn every point, the untouched notebook none, and a student who solved only the first
*k* exercises exactly their points, cell by cell, for every *k*: partial credit is checked for every
exercise, in the same parallel run (this is the suite's partial-credit test; ``test_chapters`` grades
full marks and zero through plain ``nbgrader autograde``). One more student of each class did the work of
one of them (the first half of the exercises) in the Korean notebook: one gradebook grades both editions,
and the same work must earn the same, cell by cell, with the feedback in Korean.

The chapters are graded in the background from the module's start, two class runs at a time on the one
cluster (each in a course root, with students and namespaces, of its own; every student of a class at
once), and each test asserts on its chapter's report.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import nbformat
import pytest

from course._chapters import chapter_ids
from course.classroom.grader import ClassReport, grade_class
from course.classroom.roster import students_from
from course.classroom.samples import exercises, solve, source_and_released, write_submission
from course.classroom.sandboxes import delete_sandboxes

from .background import Ahead, ahead, selected
from .conftest import copy_of_course
from .namespaces import wait_until_gone
from .test_chapters import KOREAN, earns, errors_in, released_of, source_of, speaks_korean

SOLVED, UNTOUCHED = "all-solved", "untouched"
LARGEST_CLASS_FIRST = sorted(
    chapter_ids(), key=lambda chapter: -len(exercises(nbformat.read(source_of(chapter), as_version=4)))
)
"""The chapters in the order their classes are graded: most exercises (so most students, and the longest
notebooks) first, so that the last class to finish is a small one and the other lane is not left idle."""


def _student(name: str, chapter: str) -> str:
    """A student of ``chapter``'s class, named after the chapter too (``all-solved-04b``): two chapters'
    runs share no student, so neither revokes the other's grading tokens."""
    return f"{name}-{chapter.split('-')[0]}"


def in_korean(chapter: str) -> tuple[str, str]:
    """The student who did the first half of ``chapter``'s exercises in the Korean notebook, and the one who
    did the same in the English notebook: ``ko-first-2-04``, ``first-2-04``."""
    half = len(exercises(nbformat.read(source_of(chapter), as_version=4))) // 2
    return _student(f"{KOREAN}-first-{half}", chapter), _student(f"first-{half}", chapter)


def submit_class(
    root: Path, chapter: str, partial: Iterable[int] | None = None, korean: bool = False
) -> dict[str, dict[str, float]]:
    """Write the class: every exercise solved, none, and the first k for each k in ``partial`` (default:
    every 0 < k < all), and with ``korean`` the first half in the Korean notebook too (:func:`in_korean`);
    return the points each student should earn in each graded cell, from the source's graded cells."""
    source, released = source_and_released(root, chapter)
    names = exercises(source)
    firsts = range(1, len(names)) if partial is None else partial
    class_ = {SOLVED: names, UNTOUCHED: [], **{f"first-{k}": names[:k] for k in firsts}}
    for student, solved in class_.items():
        write_submission(root, chapter, _student(student, chapter), solve(released, source, solved))
    expected = {_student(student, chapter): earns(chapter, solved) for student, solved in class_.items()}
    if korean:
        korean_student, english_student = in_korean(chapter)
        korean_released = nbformat.read(released_of(chapter, KOREAN), as_version=4)
        solved = names[: len(names) // 2]
        write_submission(root, chapter, korean_student, solve(korean_released, source, solved))
        expected[korean_student] = expected[english_student]
    return expected


class ClassRun(NamedTuple):
    """One chapter's class, graded: its course root, what each student should earn, cell by cell, the report."""

    root: Path
    earns: dict[str, dict[str, float]]
    report: ClassReport


Graded = Ahead[str, ClassRun]


@pytest.fixture(scope="module")
def class_runs(
    sim_cluster: Path,
    full_jail: None,
    released_course: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Graded]:
    """Each chapter's class, graded as an instructor would (a course root with every chapter released,
    every student at once), then its namespaces deleted: the session's cluster has room for 330 Pods, and
    the chapters' solutions together would fill it. Two chapters at a time, from the module's start.
    Each class has a student of the Korean edition too (``submit_class``'s ``korean``)."""

    def grade(chapter: str) -> ClassRun:
        root = copy_of_course(released_course, tmp_path_factory.mktemp(chapter))
        expected = submit_class(root, chapter, korean=True)
        try:
            report = grade_class(chapter, root, workers=len(expected), feedback=False, export=False)
        finally:
            wait_until_gone(delete_sandboxes(students_from(list(expected)), [chapter]), timeout=180)
        return ClassRun(root, expected, report)

    with ahead(selected(request, "chapter"), grade) as runs:
        runs.start()
        yield runs


@pytest.mark.parametrize("chapter", LARGEST_CLASS_FIRST)
def test_the_class_grader_gives_every_exercise_its_points_and_no_more(chapter: str, class_runs: Graded) -> None:
    run = class_runs.result(chapter)
    expect_each_student_earns(chapter, run.earns, run.report, run.root)


@pytest.mark.parametrize("chapter", LARGEST_CLASS_FIRST)
def test_the_class_grader_scores_the_same_work_the_same_in_either_edition(chapter: str, class_runs: Graded) -> None:
    """Cell by cell, comments included, and the Korean student's checks fail in Korean."""
    run = class_runs.result(chapter)
    results = run.report.by_student()
    korean, english = (results[student] for student in in_korean(chapter))
    assert korean.status == english.status == "graded", (korean.detail, english.detail)
    assert korean.notebooks == english.notebooks, "the editions are graded differently"
    autograded = run.root / "autograded" / korean.student / chapter / f"{chapter}.ipynb"
    assert speaks_korean(autograded), "the Korean student's check messages are not in Korean"


def expect_each_student_earns(
    chapter: str, earns: dict[str, dict[str, float]], report: ClassReport, root: Path
) -> None:
    """Every student graded; the solved one every point, the untouched one none, each one exactly ``earns``.
    A failure names the errors in the notebooks of the students who earned less (``root``: the course root)."""
    results = report.by_student()
    solved, untouched = results[_student(SOLVED, chapter)], results[_student(UNTOUCHED, chapter)]
    assert {r.status for r in results.values()} == {"graded"}, {s: r.detail for s, r in results.items()}
    lost = {cell: score for cell, score in _cells(solved.notebooks).items() if not score}
    autograded = root / "autograded" / solved.student / chapter / f"{chapter}.ipynb"
    assert solved.score == solved.max_score > 0, f"cells without points: {lost}; errors: {errors_in(autograded)}"
    assert untouched.score == 0
    earned = {student: results[student].score for student in earns}
    assert earned == {student: sum(cells.values()) for student, cells in earns.items()}, "partial credit"
    by_cell = {student: _cells(results[student].notebooks) for student in earns}
    differ = {student: errors_in(root / "autograded" / student / chapter / f"{chapter}.ipynb")
              for student in earns if by_cell[student] != earns[student]}  # fmt: skip
    assert by_cell == earns, f"each exercise solved earns its cells' points, each unsolved one none; errors: {differ}"


def _cells(notebooks: dict[str, Any]) -> dict[str, float]:
    """The points of each graded cell of a student's (one-notebook) chapter, as the class report has them."""
    return {cell: float(score) for book in notebooks.values() for cell, score in book["grades"].items()}
