"""Skeletons for authors: ``python -m course new-chapter <id> "<title>"`` writes a chapter that the suite accepts.

A new chapter is the files AUTHORING.md's "A chapter is four things" lists. The skeleton has them with
one exercise (a ConfigMap, so that it grades on every backend): its task, its solution and two check
cells (a visible self-check, and hidden tests), with the nbgrader metadata of the guide. Its structure,
its counts (the heading's points) and its chapter YAML pass the suite's checks as written; the author
then replaces the exercise with the chapter's own, adds the chapter's row to README.md's table and runs
``python -m course release <id>``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import yaml

from course._errors import CourseError

CHAPTER_ID = re.compile(r"\d\d[a-z]?-[a-z0-9]+(?:-[a-z0-9]+)*")
"""``NN-slug`` (``04b-more-workloads`` too): also the nbgrader assignment name and the notebook's name."""


Cell = dict[str, Any]


def _cell(kind: str, source: str, grade_id: str = "", *, solution: bool = False, points: int = 0) -> Cell:
    """A notebook cell; with ``grade_id``, the nbgrader metadata of AUTHORING.md ("Read-only",
    "Autograded answer" when ``solution``, "Autograder tests" when it has ``points``)."""
    cell_id = grade_id or hashlib.sha256(source.encode()).hexdigest()[:8]
    cell: Cell = {"cell_type": kind, "id": cell_id, "metadata": {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    if grade_id:
        cell["metadata"]["nbgrader"] = {
            "grade": points > 0, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
            "solution": solution, "task": False, **({"points": points} if points else {}),
        }  # fmt: skip
    return cell


def chapter_notebook(chapter_id: str, title: str) -> dict[str, Any]:
    """The source notebook of a new chapter (nbformat 4.5, as JSON data): intro, connect, one exercise."""
    number = chapter_id.split("-")[0]
    where = f'checks.namespace("{chapter_id}")'
    cells = [
        _cell(
            "markdown",
            f"# {number} · {title}\n\nWhat this chapter teaches, in two sentences.\n\n"
            "One exercise is graded (2 points).",
        ),
        _cell("markdown", "## Connect\n\nEvery chapter starts the same way."),
        _cell("code", f'import course\n\ncluster = course.connect("{chapter_id}")'),
        _cell(
            "markdown",
            "### Exercise 1 (2 points): a ConfigMap\n\nCreate a ConfigMap named `settings` with the key `mode` "
            "set to `demo`.\n\n*Hint:* `cluster.apply(...)` takes a YAML manifest or a dict.",
            "ex1-task",
        ),
        _cell(
            "code",
            "### BEGIN SOLUTION\ncluster.apply({\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", "
            "\"metadata\": {\"name\": \"settings\"}, \"data\": {\"mode\": \"demo\"}})\n### END SOLUTION",
            "ex1-settings",
            solution=True,
        ),
        _cell(
            "code",
            '"""Self-check: the ConfigMap `settings` exists."""\nfrom course import checks\n\n'
            f'checks.expect_object("ConfigMap", "settings", namespace={where})\nchecks.passed("settings exists")',
            "ex1-check-exists",
            points=1,
        ),
        _cell(
            "code",
            '"""The ConfigMap `settings` sets mode to demo."""\nfrom course import checks\n\n'
            f'settings = checks.expect_object("ConfigMap", "settings", namespace={where})\n'
            "### BEGIN HIDDEN TESTS\n"
            'checks.expect_field(settings, "data.mode", "demo", hint="Set data: {mode: demo}.")\n'
            "### END HIDDEN TESTS\n"
            'checks.passed("settings sets mode to demo")',
            "ex1-check-mode",
            points=1,
        ),
    ]
    kernel = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    return {"cells": cells, "metadata": {"kernelspec": kernel, "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}  # fmt: skip


def new_chapter(root: Path, chapter_id: str, title: str) -> list[Path]:
    """Write a new chapter's YAML and source notebook under the checkout ``root``; return their paths.

    Refuses an id that is not ``NN-slug``, a chapter that exists, and an empty title, before writing.
    """
    if not CHAPTER_ID.fullmatch(chapter_id):
        raise CourseError(f"{chapter_id!r} is not a chapter id. Write it as NN-slug, e.g. 08-security.")
    if not title.strip() or "\n" in title:
        raise CourseError("Give the chapter a one-line title, e.g. \"Security\".")
    definition = root / "course" / "chapters" / f"{chapter_id}.yaml"
    source = root / "autograder" / "source" / chapter_id / f"{chapter_id}.ipynb"
    taken = [path for path in (definition, source) if path.exists()]
    if taken:
        raise CourseError(f"Chapter {chapter_id} exists already: {', '.join(map(str, taken))}.")
    for folder in (definition.parent, source.parent):
        folder.mkdir(parents=True, exist_ok=True)
    definition.write_text(yaml.safe_dump({"title": title.strip()}, allow_unicode=True))
    source.write_text(json.dumps(chapter_notebook(chapter_id, title.strip()), indent=1, ensure_ascii=False) + "\n")
    return [definition, source]
