"""Every chapter, graded both ways through ``nbgrader autograde`` on the sim cluster, in both editions.

For each source notebook in ``autograder/source/``: the solutions earn full marks; the released
student version earns zero and its visible checks fail; and the released notebook in ``notebooks/``
is what nbgrader generates from the source today. The Korean edition is graded the same way in a course
root of its own (the one ``python -m course release --lang ko`` writes), and a third way: a submission
with every other exercise solved earns exactly those exercises' points, cell by cell, its feedback in
Korean. Partial credit in English, exercise by exercise, is graded by the class grader
(``test_classroom_chapters``, which also grades the same work in both editions); re-running the solved
notebook, in ``test_reset``, before the reset that follows it.

Each chapter is generated once per session (``released_course``; the Korean edition once per module), and
every grading starts with the module (``korean_grades``, ``nbgrader_grades``): the Korean edition in three
lanes, the English in two, the five side by side, each lane one ``nbgrader autograde`` that grades its share
(nbgrader starts five times, not forty-five); each test asserts on the stored result.

Conventions these tests rely on (see AUTHORING.md): graded cells have grade_ids that start with the
exercise, ``ex1-...``, ``ex2-...``; the first code cell calls ``course.connect("<chapter>")``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from kubernetes import client
from nbclient import NotebookClient

from course._client import api_client
from course.classroom.samples import exercises, solve, source_and_released
from course.cli import edition_dirs
from course.nbgrader_glue import Grades, Submission, autograde_all, release, sandbox_namespace

from .background import Results, ahead, in_lanes, selected
from .conftest import REPO, copy_of_course, generated_course

SOURCES = sorted((REPO / "autograder" / "source").glob("*/*.ipynb"))
CHAPTERS = [path.parent.name for path in SOURCES]


def graded_cells(notebook: nbformat.NotebookNode) -> dict[str, float]:
    return {
        cell.metadata.nbgrader["grade_id"]: float(cell.metadata.nbgrader["points"])
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
    }


def source_of(chapter: str) -> Path:
    return REPO / "autograder" / "source" / chapter / f"{chapter}.ipynb"


def released_of(chapter: str, lang: str = "en") -> Path:
    """The committed student notebook of ``chapter`` in the edition ``lang`` (``notebooks/``, ``notebooks/ko/``)."""
    return edition_dirs(lang)[0] / f"{chapter}.ipynb"


def generated_of(released_course: Path, chapter: str) -> Path:
    return released_course / "release" / chapter / f"{chapter}.ipynb"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_released_notebook_matches_its_source(chapter: str, released_course: Path) -> None:
    """notebooks/ must be regenerated (python -m course release) whenever a source changes."""
    generated = json.loads(generated_of(released_course, chapter).read_text())
    committed = json.loads(released_of(chapter).read_text())
    assert committed == generated, f"notebooks/{chapter}.ipynb is stale: run python -m course release"


def test_course_release_writes_what_nbgrader_generates(released_course: Path, tmp_path: Path) -> None:
    """``python -m course release`` (:func:`release`) writes each chapter's generated notebook into one folder."""
    chapter = CHAPTERS[0]
    assert release(tmp_path, [chapter]) == [tmp_path / f"{chapter}.ipynb"]
    written = json.loads((tmp_path / f"{chapter}.ipynb").read_text())
    assert written == json.loads(generated_of(released_course, chapter).read_text()), "release differs from nbgrader"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_notebooks_are_free_of_outputs_and_solutions(chapter: str) -> None:
    for path in (source_of(chapter), released_of(chapter)):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name}: strip outputs"
    released = released_of(chapter).read_text()
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in released


def structure_problems(notebook: nbformat.NotebookNode) -> list[str]:
    """Every way ``notebook`` departs from AUTHORING.md's "An exercise is a unit", as sentences naming the
    rule; a chapter may have any number of exercises, one included.

    >>> structure_problems(nbformat.v4.new_notebook())
    ['no graded check cells: an exercise needs at least one "Autograder tests" cell with points']
    """
    def meta(cell: nbformat.NotebookNode) -> dict[str, object]:
        return dict(cell.metadata.get("nbgrader", {}))

    graded = graded_cells(notebook)
    if not graded:
        return ['no graded check cells: an exercise needs at least one "Autograder tests" cell with points']
    problems = [f"{grade_id}: a check cell needs points above 0" for grade_id, points in graded.items() if points <= 0]
    problems += [
        f"{grade_id}: grade_ids start with the exercise (ex1-, ex2-, ...), so partial credit can be graded"
        for grade_id in graded
        if not re.fullmatch(r"ex\d+-.+", grade_id)
    ]
    exercises = sorted({grade_id.split("-")[0] for grade_id in graded if re.fullmatch(r"ex\d+-.+", grade_id)})
    ids = {str(meta(cell).get("grade_id", "")) for cell in notebook.cells}
    solutions = {str(meta(cell)["grade_id"]).split("-")[0] for cell in notebook.cells if meta(cell).get("solution")}
    hidden = {
        str(meta(cell)["grade_id"]).split("-")[0]
        for cell in notebook.cells
        if meta(cell).get("grade") and "BEGIN HIDDEN TESTS" in cell.source
    }
    for exercise in exercises:
        if f"{exercise}-task" not in ids:
            problems.append(f"{exercise}: needs a read-only task cell with grade_id {exercise}-task")
        if exercise not in solutions:
            problems.append(f"{exercise}: needs an autograded-answer (solution) cell whose grade_id starts {exercise}-")
        if exercise not in hidden:
            problems.append(f"{exercise}: one of its check cells needs ### BEGIN HIDDEN TESTS beyond the visible check")
    return problems


def _cell(kind: str, grade_id: str, source: str = "", **flags: object) -> nbformat.NotebookNode:
    make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
    cell = make(source)
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "grade": False, "solution": False, "locked": False, **flags}
    return cell


def test_a_one_exercise_chapter_is_accepted_and_each_broken_rule_is_named() -> None:
    """AUTHORING allows a chapter of one exercise; the structure test must too, and say what is missing."""
    one = nbformat.v4.new_notebook(
        cells=[
            _cell("markdown", "ex1-task", "### Exercise 1 (2 points): ...", locked=True),
            _cell("code", "ex1-answer", "### BEGIN SOLUTION\n### END SOLUTION", solution=True),
            _cell("code", "ex1-check", "### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS", grade=True, points=2),
        ]
    )
    assert structure_problems(one) == []
    broken = nbformat.v4.new_notebook(
        cells=[
            _cell("code", "check-web", "assert True", grade=True, points=0),
            _cell("code", "ex2-check", "assert True", grade=True, points=1),
        ]
    )
    assert structure_problems(broken) == [
        "check-web: a check cell needs points above 0",
        "check-web: grade_ids start with the exercise (ex1-, ex2-, ...), so partial credit can be graded",
        "ex2: needs a read-only task cell with grade_id ex2-task",
        "ex2: needs an autograded-answer (solution) cell whose grade_id starts ex2-",
        "ex2: one of its check cells needs ### BEGIN HIDDEN TESTS beyond the visible check",
    ]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_exercise_has_a_task_a_solution_and_points(chapter: str) -> None:
    problems = structure_problems(nbformat.read(source_of(chapter), as_version=4))
    assert not problems, f"{chapter} breaks AUTHORING.md's rules for an exercise:\n" + "\n".join(problems)


VARIANTS = {"solution": source_of, "untouched": released_of}
"""What each chapter is graded as: the source notebook (every solution), the released one (none)."""


Graded = Results[tuple[str, str], Grades]


@contextmanager
def graded_both_ways(
    chapters: list[str],
    released_course: Path,
    tmp_path_factory: pytest.TempPathFactory,
    ahead_of_time: bool = True,
    variants: Mapping[str, Callable[[str], Path]] = VARIANTS,
    lang: str = "en",
    lanes: int = 2,
) -> Iterator[Graded]:
    """Every (chapter, variant) of ``chapters`` graded once through ``nbgrader autograde`` on the course
    cluster, each in a namespace of its own (the variant is the student). ``ahead_of_time``: all started when
    the first test asks, in ``lanes`` lanes (:func:`tests.background.in_lanes`), each one nbgrader process grading
    its share in a course root of its own; otherwise one at a time, each when its test asks (so a test's duration
    is its grading's). A test waits for its own. ``lang``: the edition that ``released_course`` holds
    (``korean_grades``)."""

    def grade_all(keys: tuple[tuple[str, str], ...]) -> Mapping[tuple[str, str], Grades]:
        root = copy_of_course(released_course, tmp_path_factory.mktemp("graded"))
        submissions = [Submission(variants[variant](chapter), chapter, variant) for chapter, variant in keys]
        # Keyed by (chapter, student): the variant is the student. Each namespace is deleted once graded: 45 of
        # them at once held 97 % of the sim workers' CPU, and a DaemonSet Pod of a later one stayed Pending.
        return autograde_all(submissions, root, lang, delete_namespaces=True)

    # Each chapter's variants rotated by one from the last chapter's, so that each lane (keys[lane::lanes]) gets
    # solutions and untouched versions alike.
    names = list(variants)
    rotated = [names[i % len(names) :] + names[: i % len(names)] for i in range(len(chapters))]
    keys = [(chapter, variant) for chapter, order in zip(chapters, rotated, strict=True) for variant in order]
    if ahead_of_time:
        with in_lanes(keys, grade_all, lanes) as grades:
            yield grades
    else:
        with ahead(keys, lambda key: grade_all((key,))[key], ahead=1, workers=1) as one_at_a_time:
            yield one_at_a_time


@pytest.fixture(scope="module")
def nbgrader_grades(
    sim_cluster: Path, released_course: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Graded]:
    """Every chapter graded both ways on the session's sim cluster (:func:`graded_both_ways`)."""
    with graded_both_ways(selected(request, "chapter"), released_course, tmp_path_factory) as grades:
        yield grades


KOREAN = "ko"


def every_other_exercise(chapter: str) -> list[str]:
    """The exercises a partial submission solves: the first, the third, ..., so that (in a chapter of three or
    more, as every chapter is today) an exercise solved after one left unsolved must earn its points too."""
    return exercises(nbformat.read(source_of(chapter), as_version=4))[::2]


def earns(chapter: str, solved: list[str]) -> dict[str, float]:
    """The points each graded cell of ``chapter`` gives a submission that solved the exercises ``solved``:
    all of a solved exercise's, none of another's."""
    points = graded_cells(nbformat.read(source_of(chapter), as_version=4))
    return {grade_id: p if grade_id.split("-")[0] in solved else 0.0 for grade_id, p in points.items()}


@pytest.fixture(scope="module")
def korean_grades(
    sim_cluster: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Graded]:
    """Every chapter of the Korean edition graded three ways in the Korean course root, in three lanes of its
    own beside ``nbgrader_grades``' two (a course root is one edition; three lanes of nine submissions end
    about when the English two of nine do): its source (every solution), the released ``notebooks/ko/``
    one (none), and that one with :func:`every_other_exercise` solved (``ko-partial``)."""
    chapters = selected(request, "chapter")
    root = generated_course(tmp_path_factory.mktemp("korean-released"), chapters, KOREAN)
    partial = tmp_path_factory.mktemp("korean-partial")

    def partly_solved(chapter: str) -> Path:
        source, released = source_and_released(root, chapter)
        nbformat.write(solve(released, source, every_other_exercise(chapter)), partial / f"{chapter}.ipynb")
        return partial / f"{chapter}.ipynb"

    variants = {
        "ko-solution": lambda chapter: root / "source" / chapter / f"{chapter}.ipynb",
        "ko-untouched": lambda chapter: released_of(chapter, KOREAN),
        "ko-partial": partly_solved,
    }
    with graded_both_ways(chapters, root, tmp_path_factory, variants=variants, lang=KOREAN, lanes=3) as grades:
        yield grades


@pytest.fixture(scope="module", autouse=True)
def _gradings_start_with_the_module(request: pytest.FixtureRequest) -> None:
    """Start ``korean_grades`` and ``nbgrader_grades`` before the module's first test when this session runs
    a test that asks for them, so that the gradings overlap with each other and with the slow tests before
    the first grading test (the release test runs nbgrader too); the Korean first, which has more to grade.
    Asked for here, not by name, so that the module's tests that need no cluster stay so."""
    for fixture in ("korean_grades", "nbgrader_grades"):
        if any(fixture in getattr(item, "fixturenames", ()) for item in request.session.items
               if getattr(item, "module", None) is request.module):  # fmt: skip
            request.getfixturevalue(fixture)


def expect_full_marks(chapter: str, grades: Grades) -> None:
    expected = graded_cells(nbformat.read(source_of(chapter), as_version=4))
    assert grades.cells == expected, f"errors in the graded notebook: {errors_in(grades.autograded)}"


def errors_in(autograded: Path) -> dict[str, str]:
    """What went wrong in ``autograded`` (a notebook as nbgrader executed it), cell by cell: each cell that
    raised, by grade_id (or position), with its exception's name and message. A solution that loses points
    usually lost them in a cell before the check that failed, so a failing test names them all."""
    executed = nbformat.read(autograded, as_version=4)
    found = {}
    for position, cell in enumerate(executed.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {position}"
                found[name] = f"{output.get('ename')}: {output.get('evalue', '')[:400]}"
    return found


def speaks_korean(autograded: Path) -> bool:
    """Whether a failed check in ``autograded`` (a notebook as nbgrader executed it) says what failed in Korean."""
    executed = nbformat.read(autograded, as_version=4)
    errors = [output.get("evalue", "") for cell in executed.cells for output in cell.get("outputs", [])
              if output.get("output_type") == "error"]  # fmt: skip
    return any(re.search(r"[가-힣]", error) for error in errors)


def expect_zero_with_every_visible_check_failing(grades: Grades) -> None:
    assert grades.max_score > 0 and grades.score == 0, grades.cells
    executed = nbformat.read(grades.autograded, as_version=4)
    for cell in executed.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            errors = [output for output in cell.outputs if output.output_type == "error"]
            assert errors, f"visible check {cell.metadata.nbgrader['grade_id']} did not fail"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solutions_earn_full_marks(chapter: str, nbgrader_grades: Graded) -> None:
    expect_full_marks(chapter, nbgrader_grades.result((chapter, "solution")))
    try:  # deleted once graded (autograde_all(delete_namespaces=True)): gone, or still going
        phase = client.CoreV1Api(api_client()).read_namespace(sandbox_namespace("solution", chapter)).status.phase
    except client.ApiException as error:
        phase = "gone" if error.status == 404 else str(error.status)
    assert phase in ("gone", "Terminating"), f"the graded namespace is {phase}, expected deleted once graded"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_untouched_student_version_earns_zero(chapter: str, nbgrader_grades: Graded) -> None:
    expect_zero_with_every_visible_check_failing(nbgrader_grades.result((chapter, "untouched")))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_korean_solutions_earn_full_marks(chapter: str, korean_grades: Graded) -> None:
    expect_full_marks(chapter, korean_grades.result((chapter, "ko-solution")))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_korean_untouched_version_earns_zero_with_korean_feedback(chapter: str, korean_grades: Graded) -> None:
    grades = korean_grades.result((chapter, "ko-untouched"))
    expect_zero_with_every_visible_check_failing(grades)
    assert speaks_korean(grades.autograded), "the checks' messages are not in Korean"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_korean_partial_work_earns_exactly_its_exercises_points(chapter: str, korean_grades: Graded) -> None:
    grades = korean_grades.result((chapter, "ko-partial"))
    solved = every_other_exercise(chapter)
    assert grades.cells == earns(chapter, solved), f"solved {solved}: each earns its cells' points, the rest none"
    assert speaks_korean(grades.autograded), "the unsolved exercises' checks did not fail in Korean"


def run_solutions(chapter: str, env: Mapping[str, str] | None = None) -> list[str]:
    """Run the source notebook top to bottom, as a learner who solved everything; return the grade_ids
    of the checks that failed. The kernel works in the namespace its environment names
    (``K8S_COURSE_NAMESPACE``), without a reset: what an earlier run left there stays."""
    return failed_checks(nbformat.read(source_of(chapter), as_version=4), env)


def failed_checks(notebook: nbformat.NotebookNode, env: Mapping[str, str] | None = None) -> list[str]:
    """Run ``notebook`` top to bottom in a new kernel whose environment is ``env`` (this process's when
    None: a thread passes its own rather than change the process's); return the grade_ids of the checks
    that failed."""
    kernel_env = dict(os.environ if env is None else env)
    with tempfile.TemporaryDirectory(prefix="k8s-course-run-") as workdir:  # what a chapter writes, e.g. hello-cli.yaml
        client = NotebookClient(notebook, timeout=120, allow_errors=True, resources={"metadata": {"path": workdir}})
        executed = client.execute(env=kernel_env)
    return [
        cell.metadata.nbgrader["grade_id"]
        for cell in executed.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
        and any(output.output_type == "error" for output in cell.outputs)
    ]
