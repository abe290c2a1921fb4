"""The class grader and nbgrader's gradebook: one writer, many readers.

nbgrader's default gradebook is an SQLite file, and SQLite takes one writer at a time. Each grading
job therefore works on its own copy of a snapshot taken before the run (:func:`snapshot`), and the
coordinator alone writes the real gradebook (:func:`merge`), one result at a time, as jobs finish.
A merged submission looks exactly as if ``nbgrader autograde`` had graded it: the same automatic
scores, comments and late penalty, and a manual score given earlier still marks the cell for review.

A submission that could not be graded (invalid notebook, error, timeout) is recorded with zero
points and every cell flagged for manual grading, so the instructor sees it in formgrader.
"""

from __future__ import annotations

import csv
import sqlite3
import warnings
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from course.classroom._job import JobResult

if TYPE_CHECKING:
    from nbgrader.api import Gradebook


def db_path(course_root: Path) -> Path:
    return course_root / "gradebook.db"


def snapshot(database: Path, into: Path) -> Path:
    """A consistent copy of ``database`` (SQLite's backup API), for the jobs to start from."""
    into.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(database) as source, sqlite3.connect(into) as target:
        source.backup(target)
    return into


def known_notebooks(database: Path, assignment: str) -> list[str] | None:
    """The notebooks of ``assignment`` in the gradebook; None when nbgrader does not know it."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{database}") as gradebook:
        try:
            return [notebook.name for notebook in gradebook.find_assignment(assignment).notebooks]
        except MissingEntry:
            return None


def open_gradebook(database: Path) -> Gradebook:
    """The gradebook, opened once for a whole run: a new ``Gradebook`` per result would cost a new
    SQLAlchemy engine, and every query compiled again (0.13 s of CPU per merge instead of 0.006 s)."""
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{database}")


def merge(gradebook: Gradebook, assignment: str, result: JobResult) -> None:
    """Record one job's result in the gradebook (the coordinator is the only caller, one at a time)."""
    graded = result.status == "graded"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notes about nbgrader's own session use
        gradebook.update_or_create_student(result.student)
        extra = {"timestamp": datetime.fromisoformat(result.timestamp)} if result.timestamp else {}
        submission = gradebook.update_or_create_submission(assignment, result.student, **extra)
        for notebook in submission.notebooks:
            reported = result.notebooks.get(notebook.name, {}) if graded else {}
            notebook.late_submission_penalty = reported.get("late_penalty")
            scores, comments = reported.get("grades", {}), reported.get("comments", {})
            for grade in notebook.grades:
                grade.auto_score = scores.get(grade.name) if graded else 0.0
                grade.needs_manual_grade = not graded or grade.manual_score is not None or grade.auto_score is None
            for comment in notebook.comments:
                comment.auto_comment = comments.get(comment.name)
        gradebook.db.commit()
        result.score, result.max_score = float(submission.score), float(submission.max_score)


REPORT_FIELDS = ("student", "namespace", "status", "score", "max_score", "seconds", "detail")
"""``namespace`` maps the nbgrader id to the namespace it was graded in (empty for an id that cannot be one)."""


def write_report(path: Path, results: Iterable[JobResult]) -> Path:
    """``class grade``'s CSV: one row per submission, with what happened to it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REPORT_FIELDS)
        for result in sorted(results, key=lambda r: r.student):
            writer.writerow([getattr(result, name) for name in REPORT_FIELDS])
    return path
