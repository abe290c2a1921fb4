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


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_exercise_has_a_task_a_solution_and_points(chapter: str) -> None:
    notebook = nbformat.read(source_of(chapter), as_version=4)
    graded = graded_cells(notebook)
    assert len(graded) >= 2 and all(points > 0 for points in graded.values())
    exercises = {grade_id.split("-")[0] for grade_id in graded}
    assert all(re.fullmatch(r"ex\d+", exercise) for exercise in exercises), graded
    solutions = {
        cell.metadata.nbgrader["grade_id"].split("-")[0]
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }
    assert exercises <= solutions, "every graded exercise needs a solution cell with the same exN- prefix"
    hidden = [cell for cell in notebook.cells if "BEGIN HIDDEN TESTS" in cell.source]
    assert hidden, "an exercise needs hidden tests beyond the visible self-check"


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
    assert grades.cells == expected
    assert 0 < grades.score < grades.max_score


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
