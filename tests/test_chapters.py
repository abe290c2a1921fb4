"""Every chapter, graded both ways through ``nbgrader autograde`` on the sim cluster.

For each source notebook in ``autograder/source/``: the solutions earn full marks; the released
student version earns zero and its visible checks fail; a submission that solves only the first
exercise earns exactly that exercise's points; and the released notebook in ``notebooks/`` is what
nbgrader generates from the source today.

Conventions these tests rely on (see AUTHORING.md): graded cells have grade_ids that start with the
exercise, ``ex1-...``, ``ex2-...``; the first code cell calls ``course.connect("<chapter>")``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course.nbgrader_glue import autograde, release

from .conftest import REPO

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


def released_of(chapter: str) -> Path:
    return REPO / "notebooks" / f"{chapter}.ipynb"


@pytest.fixture(scope="session")
def fresh_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("release")
    release(out)
    return out


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_released_notebook_matches_its_source(chapter: str, fresh_release: Path) -> None:
    """notebooks/ must be regenerated (python -m course release) whenever a source changes."""
    generated = json.loads((fresh_release / f"{chapter}.ipynb").read_text())
    committed = json.loads(released_of(chapter).read_text())
    assert committed == generated, f"notebooks/{chapter}.ipynb is stale: run python -m course release"


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


@pytest.mark.usefixtures("sim_cluster")
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solutions_earn_full_marks(chapter: str, tmp_path: Path) -> None:
    grades = autograde(source_of(chapter), chapter, "solution", tmp_path)
    expected = graded_cells(nbformat.read(source_of(chapter), as_version=4))
    assert grades.cells == expected


@pytest.mark.usefixtures("sim_cluster")
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_untouched_student_version_earns_zero(chapter: str, tmp_path: Path) -> None:
    grades = autograde(released_of(chapter), chapter, "untouched", tmp_path)
    assert grades.max_score > 0 and grades.score == 0, grades.cells
    executed = nbformat.read(grades.autograded, as_version=4)
    for cell in executed.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            errors = [output for output in cell.outputs if output.output_type == "error"]
            assert errors, f"visible check {cell.metadata.nbgrader['grade_id']} did not fail"


def solve_only(exercise: str, chapter: str, into: Path) -> Path:
    """The student version with only ``exercise``'s solution cells filled in from the source."""
    solutions = {
        cell.metadata.nbgrader["grade_id"]: cell.source
        for cell in nbformat.read(source_of(chapter), as_version=4).cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }
    notebook = nbformat.read(released_of(chapter), as_version=4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id.startswith(f"{exercise}-"):
            cell.source = "\n".join(
                line for line in solutions[grade_id].splitlines() if "### BEGIN SOLUTION" not in line
                and "### END SOLUTION" not in line
            )
    path = into / f"{chapter}.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.mark.usefixtures("sim_cluster")
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solving_only_the_first_exercise_earns_exactly_its_points(chapter: str, tmp_path: Path) -> None:
    submission = solve_only("ex1", chapter, tmp_path)
    grades = autograde(submission, chapter, "partial", tmp_path / "course")
    expected = {g: p if g.startswith("ex1-") else 0.0 for g, p in grades.max_cells.items()}
    assert grades.cells == expected, "solving exercise 1 alone must earn exactly its points"
    assert grades.score > 0  # and below the maximum unless the chapter has one exercise (then equal to it)


def run_solutions(chapter: str) -> list[str]:
    """Run the source notebook top to bottom, as a learner who solved everything; return the grade_ids
    of the checks that failed. The kernel works in the namespace the environment names
    (``K8S_COURSE_NAMESPACE``), without a reset: what an earlier run left there stays."""
    return failed_checks(nbformat.read(source_of(chapter), as_version=4))


def failed_checks(notebook: nbformat.NotebookNode) -> list[str]:
    """Run ``notebook`` top to bottom in a new kernel; return the grade_ids of the checks that failed."""
    executed = NotebookClient(notebook, timeout=120, allow_errors=True).execute()
    return [
        cell.metadata.nbgrader["grade_id"]
        for cell in executed.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
        and any(output.output_type == "error" for output in cell.outputs)
    ]


@pytest.mark.usefixtures("sim_cluster")
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_running_the_solved_notebook_twice_is_safe(chapter: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A learner re-runs cells: the second run of the whole solved notebook still passes every check."""
    monkeypatch.setenv("K8S_COURSE_NAMESPACE", f"rerun-{chapter}")
    for run in (1, 2):
        failures = run_solutions(chapter)
        assert not failures, f"run {run}: checks failed: {failures}"
