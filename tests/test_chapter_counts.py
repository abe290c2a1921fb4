"""A chapter's counts are written in three places by hand; they must agree with its graded cells.

The places (AUTHORING.md lists them): each exercise's heading ``### Exercise N (P points): ...``, the
chapter's intro sentence ``Four exercises are graded (13 points).``, and its row in README.md's table
``4 exercises, 13 points``. The truth is the source notebook's graded cells.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from .conftest import REPO
from .test_chapters import CHAPTERS, graded_cells, source_of

NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]


def truth(chapter: str) -> tuple[dict[str, float], nbformat.NotebookNode]:
    """Points per exercise (``{"ex1": 3.0, ...}``) from the graded cells, and the notebook."""
    notebook = nbformat.read(source_of(chapter), as_version=4)
    points: dict[str, float] = {}
    for grade_id, value in graded_cells(notebook).items():
        exercise = grade_id.split("-")[0]
        points[exercise] = points.get(exercise, 0.0) + value
    return points, notebook


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_headings_intro_and_readme_agree_with_the_graded_cells(chapter: str) -> None:
    points, notebook = truth(chapter)
    total = sum(points.values())
    prose = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    headings = {
        f"ex{number}": float(value)
        for number, value in re.findall(r"^### (?:Exercise|Part) (\d+) \((\d+) points?\)", prose, re.MULTILINE)
    }
    assert headings == points, f"{chapter}: the '### Exercise N (P points)' headings say {headings}, the cells {points}"
    for count, unit, said in re.findall(r"\b(\w+) (exercises|parts) (?:are|is) graded \((\d+) points\)", prose):
        assert (count.lower(), float(said)) == (NUMBERS[len(points)], total), (
            f"{chapter}: the intro says '{count} {unit} are graded ({said} points)', the cells "
            f"{len(points)} and {total:g}"
        )
    number = chapter.split("-")[0]
    rows = [line for line in (REPO / "README.md").read_text().splitlines() if line.startswith(f"| {number} ")]
    assert len(rows) == 1, f"README.md's chapter table needs one row for {number}"
    found = re.search(r"(\d+) (?:exercises|parts|exercise|part), (\d+) points", rows[0])
    assert found and (int(found.group(1)), float(found.group(2))) == (len(points), total), (
        f"README.md says {found.group(0) if found else 'nothing'} for {chapter}; the cells: {len(points)} and {total:g}"
    )
