"""What a submission may not change about its cells: which are tests, what they are worth.

nbgrader's own sanitizing restores the *source* of locked cells and the *points* of graded ones, by
grade id, from the gradebook. Two gaps remain, closed by :class:`RestoreCellRoles` (run just before
nbgrader's ``OverwriteCells``, which would otherwise reject a cell whose role changed):

* a cell's *role* comes from its metadata: flip ``grade`` off and a test is not graded, flip
  ``solution`` on and it waits for a human. The role is restored from the gradebook, points included.
* a copied graded cell (``DeduplicateIds`` empties the metadata of all but the last copy) or an
  invented grade id leaves ``nbgrader`` metadata the gradebook does not know, and nbgrader then
  rejects the *whole* notebook ("an old version of the metadata format", "inconsistent checksums"),
  so the student's real work would earn nothing. Such cells become ordinary cells.
"""

from __future__ import annotations

from typing import Any

from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor, OverwriteCells


class RestoreCellRoles(NbGraderPreprocessor):  # type: ignore[misc]
    """Give every cell the role the gradebook knows for its grade id, or none (see the module)."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        from nbgrader.api import Gradebook

        grading = resources["nbgrader"]
        with Gradebook(grading["db_url"]) as gradebook:
            notebook = gradebook.find_notebook(grading["notebook"], grading["assignment"])
            self._points = {cell.name: float(cell.max_score) for cell in notebook.grade_cells}
            self._answers = {cell.name for cell in notebook.solution_cells}
            self._tasks = {cell.name for cell in notebook.task_cells}
            self._known = {cell.name for cell in notebook.source_cells}
        result: tuple[NotebookNode, dict[str, Any]] = super().preprocess(nb, resources)
        return result

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict[str, Any], index: int
    ) -> tuple[NotebookNode, dict[str, Any]]:
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            return cell, resources
        grade_id = meta.get("grade_id")
        if grade_id not in self._known:
            del cell.metadata["nbgrader"]  # a copy or an invention: an ordinary cell
            return cell, resources
        meta["grade"], meta["solution"], meta["task"] = (
            grade_id in self._points,
            grade_id in self._answers,
            grade_id in self._tasks,
        )
        if grade_id in self._points:
            meta["points"] = self._points[grade_id]
        else:
            meta.pop("points", None)
        return cell, resources


def classroom_sanitizers(configured: list[Any]) -> list[Any]:
    """nbgrader's sanitizing preprocessors, with :class:`RestoreCellRoles` before ``OverwriteCells``."""
    sanitizers = []
    for preprocessor in configured:
        if isinstance(preprocessor, type) and issubclass(preprocessor, OverwriteCells):
            sanitizers.append(RestoreCellRoles)
        sanitizers.append(preprocessor)
    return sanitizers
