"""A chapter's counts are written in three places by hand; they must agree with its graded cells.

The places (AUTHORING.md lists them): each exercise's heading ``### Exercise N (P points): ...``, the
chapter's intro sentence ``Four exercises are graded (13 points).``, and its row in README.md's table
``4 exercises, 13 points``; in the Korean edition ``### 연습 문제 N (P점): ...`` and ``채점되는 연습 문제는
4개(13점)입니다.``. The truth is the source notebook's graded cells.
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


HEADINGS = {
    "en": r"^### (?:Exercise|Part) (\d+) \((\d+) points?\)",
    "ko": r"^### (?:연습 문제|파트) (\d+) \((\d+)점\)",
}
"""Each edition's exercise heading: ``### Exercise 2 (3 points): ...``, ``### 연습 문제 2 (3점): ...``."""


def intro_counts(prose: str, lang: str) -> list[tuple[int, float | None]]:
    """What the intro says: (exercises, points) for each "Four exercises are graded (13 points)." /
    "채점되는 연습 문제는 4개(13점)입니다." (the Korean count may come without its points)."""
    if lang == "ko":
        found = re.findall(r"채점되는 (?:연습 문제|파트)는 (\d+)개(?:\((\d+)점\))?입니다", prose)
        return [(int(count), float(said) if said else None) for count, said in found]
    found = re.findall(r"\b(\w+) (?:exercises|parts) (?:are|is) graded \((\d+) points\)", prose)
    return [(NUMBERS.index(count.lower()) if count.lower() in NUMBERS else -1, float(said)) for count, said in found]


@pytest.mark.parametrize("lang", HEADINGS)
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_headings_intro_and_readme_agree_with_the_graded_cells(chapter: str, lang: str) -> None:
    from course.translations import translated_notebook

    points, notebook = truth(chapter)
    if lang != "en":  # the edition's notebook: its prose from course/locale/<lang>/, its cells the source's
        notebook = translated_notebook(notebook, chapter, lang)
    total = sum(points.values())
    prose = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    headings = {f"ex{number}": float(value) for number, value in re.findall(HEADINGS[lang], prose, re.MULTILINE)}
    assert headings == points, f"{chapter} ({lang}): the exercise headings say {headings}, the cells {points}"
    for count, said in intro_counts(prose, lang):
        assert (count, said if said is not None else total) == (len(points), total), (
            f"{chapter} ({lang}): the intro says {count} exercises ({said} points), the cells {len(points)} and "
            f"{total:g}"
        )
    number = chapter.split("-")[0]
    rows = [line for line in (REPO / "README.md").read_text().splitlines() if line.startswith(f"| {number} ")]
    assert len(rows) == 1, f"README.md's chapter table needs one row for {number}"
    found = re.search(r"(\d+) (?:exercises|parts|exercise|part), (\d+) points", rows[0])
    assert found and (int(found.group(1)), float(found.group(2))) == (len(points), total), (
        f"README.md says {found.group(0) if found else 'nothing'} for {chapter}; the cells: {len(points)} and {total:g}"
    )
