"""A practice class: generated submissions to try the class grader on before a real class.

Student ``student-07`` solves the first ``k`` exercises of the chapter, ``k`` running through
0 (the untouched notebook) to every exercise, so a practice class has every kind of partial work.
The solutions are the source notebook's, pasted into the released notebook's answer cells, exactly
as a student would type them.

>>> write_practice_class(Path("autograder"), "00-setup", 30)     # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import nbformat


def _read(path: Path) -> nbformat.NotebookNode:
    notebook: nbformat.NotebookNode = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    return notebook


def exercises(source: nbformat.NotebookNode) -> list[str]:
    """The exercise prefixes (``ex1``, ``ex2``, ...) of a source notebook, in order."""
    found = []
    for cell in source.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        prefix = grade_id.split("-")[0]
        if grade_id and prefix.startswith("ex") and prefix not in found:
            found.append(prefix)
    return found


def solve(released: nbformat.NotebookNode, source: nbformat.NotebookNode, solved: list[str]) -> nbformat.NotebookNode:
    """A copy of ``released`` with the answer cells of the ``solved`` exercises filled in."""
    answers = {
        cell.metadata.nbgrader["grade_id"]: cell.source
        for cell in source.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }
    notebook: nbformat.NotebookNode = nbformat.from_dict(released)  # type: ignore[no-untyped-call]
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id", "").split("-")[0] in solved:
            lines = answers[meta["grade_id"]].splitlines()
            cell.source = "\n".join(
                line for line in lines if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line
            )
    return notebook


def write_practice_class(course_root: Path, chapter: str, size: int, prefix: str = "student") -> dict[str, int]:
    """Write ``size`` submissions into ``course_root/submitted``; return how many exercises each solved.

    The released notebook must exist (``nbgrader generate_assignment``).
    """
    source, released = source_and_released(course_root, chapter)
    names = exercises(source)
    solved = {}
    for number in range(size):
        student = f"{prefix}-{number:02d}"
        count = number % (len(names) + 1)
        write_submission(course_root, chapter, student, solve(released, source, names[:count]))
        solved[student] = count
    return solved


def source_and_released(course_root: Path, chapter: str) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """The chapter's source notebook (solutions, hidden tests) and its released student version."""
    return (
        _read(course_root / "source" / chapter / f"{chapter}.ipynb"),
        _read(course_root / "release" / chapter / f"{chapter}.ipynb"),
    )


def write_submission(course_root: Path, chapter: str, student: str, notebook: nbformat.NotebookNode | str) -> Path:
    """Put ``notebook`` where nbgrader looks for ``student``'s submission of ``chapter``; text is written
    as it is (a file that is not a notebook, as students sometimes hand in)."""
    target = course_root / "submitted" / student / chapter / f"{chapter}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(notebook, str):
        target.write_text(notebook)
    else:
        nbformat.write(notebook, target)  # type: ignore[no-untyped-call]
    return target
