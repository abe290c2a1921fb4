"""What the kind-only cells print on kind, recorded there and shown to learners on sim.

Some cells can only show something on a cluster with real containers: traffic through a Service,
``kubectl logs``, a NetworkPolicy that blocks a request. They branch on the backend::

    if cluster.capabilities.containers:      # or: if cluster.backend == "kind":
        cluster.kubectl("logs", ...)
    else:
        print(...what sim can show instead...)

On sim a learner sees only the ``else`` branch. So that they still see what kind shows, those cells
are run on a kind cluster by ``python -m course record-kind-outputs`` (CI does it on the offline kind
backend, to check that they still run), their text output is kept in ``course/chapters/on-kind/<chapter>.yaml``, and
:class:`ShowKindOutputs`, a step of ``nbgrader generate_assignment``, puts it under each such cell of
the released notebook as a collapsed block "On kind, this cell printed". Nothing there is written by
hand: a cell whose source changed since its recording is *stale*, and the test suite says which
command records it again.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import yaml
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import Bool

from course._errors import CourseError
from course._i18n import tr
from course.translations import read_notebook, source_chapters, source_notebook_path

RECORDINGS_DIR = Path(__file__).parent / "chapters" / "on-kind"
"""One YAML file per chapter: ``cells`` maps a cell's id to its source digest and recorded output."""

KIND_ONLY = re.compile(r"^\s*if\s+cluster\.(?:backend\s*==\s*[\"']kind[\"']|capabilities\.\w+)\s*:", re.MULTILINE)
"""A code cell is kind-only when it branches on the backend or on one of its capabilities."""

_WIDGET = "application/vnd.jupyter.widget-view+json"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

SUMMARY = "On kind, this cell printed (recorded on the course's kind cluster):"
"""The label of the collapsed block, in the edition's language (``course/locale/<lang>/LC_MESSAGES``)."""


@dataclass(frozen=True)
class Recording:
    """What one kind-only cell printed on kind, and the digest of the source that printed it."""

    source_sha256: str
    output: str


def source_digest(source: str) -> str:
    """The digest that ties a recording to the cell source it was made from."""
    return hashlib.sha256(source.encode()).hexdigest()


def kind_only_cells(notebook: NotebookNode) -> list[NotebookNode]:
    """The code cells of ``notebook`` that show something different on kind (see :data:`KIND_ONLY`)."""
    return [cell for cell in notebook.cells if cell.cell_type == "code" and KIND_ONLY.search(cell.source)]


def chapters_with_kind_only_cells() -> list[str]:
    """Every chapter whose source notebook has a kind-only cell, in order."""
    return [chapter for chapter in source_chapters() if kind_only_cells(read_notebook(source_notebook_path(chapter)))]


def recordings_file(chapter: str) -> Path:
    return RECORDINGS_DIR / f"{chapter}.yaml"


def load_recordings(chapter: str) -> dict[str, Recording]:
    """The recordings of ``chapter`` by cell id (empty when it has none yet)."""
    path = recordings_file(chapter)
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    return {
        cell_id: Recording(source_sha256=entry["source-sha256"], output=entry["output"])
        for cell_id, entry in (data.get("cells") or {}).items()
    }


def stale_or_missing(chapter: str, notebook: NotebookNode | None = None) -> list[str]:
    """Why some kind-only cell of ``notebook`` (by default the chapter's source notebook) has no current
    recording, one line per cell; empty when every one has."""
    notebook = notebook or read_notebook(source_notebook_path(chapter))
    recordings = load_recordings(chapter)
    problems = []
    for cell in kind_only_cells(notebook):
        recording = recordings.get(cell.get("id", ""))
        if recording is None:
            problems.append(f"{chapter} cell {cell.get('id')!r} has no recording")
        elif recording.source_sha256 != source_digest(cell.source):
            problems.append(f"{chapter} cell {cell.get('id')!r} changed since it was recorded")
    return problems


def output_text(outputs: Iterable[NotebookNode]) -> str:
    """The text a learner sees under a cell: its streams and plain-text results, without colour codes.

    An error output means the cell failed on kind; that is a broken lesson, not something to show."""
    parts = []
    for output in outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            data = output.get("data", {})
            if _WIDGET not in data:  # a wait's progress bar: live in a notebook, nothing to read afterwards
                parts.append(data.get("text/plain", "") + "\n")
        elif output.output_type == "error":
            raise CourseError(f"The cell failed on kind: {output.ename}: {_ANSI.sub('', output.evalue)}")
    text = _ANSI.sub("", "".join(parts)).replace("\r\n", "\n")  # a `!` command's lines end in \r\n
    return text.rstrip() + "\n"


def shown_block(cell_id: str, recording: Recording) -> NotebookNode:
    """The Markdown cell that shows ``recording`` collapsed under the cell ``cell_id``; its own id is
    made from that one, so that generating the notebook again gives the same notebook."""
    cell: NotebookNode = nbformat.v4.new_markdown_cell(  # type: ignore[no-untyped-call]
        f"<details><summary>{tr(SUMMARY)}</summary>\n\n<pre>{html.escape(recording.output.rstrip())}</pre>\n</details>",
        id=f"{cell_id}-on-kind",
        metadata={"k8s-course": {"recorded-on-kind": True}},
    )
    return cell


class ShowKindOutputs(Preprocessor):
    """``nbgrader generate_assignment`` step: under each kind-only cell with a current recording, a
    collapsed block with what it printed on kind. A stale recording is left out rather than shown
    next to a cell that no longer prints it."""

    # nbconvert runs a preprocessor only when it is enabled, and none is by default.
    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        recordings = load_recordings(resources["nbgrader"]["assignment"])
        cells = []
        for cell in nb.cells:
            if cell.metadata.get("k8s-course", {}).get("recorded-on-kind"):
                continue  # generated again below, never kept twice
            cells.append(cell)
            recording = recordings.get(cell.get("id", ""))
            if recording and cell.cell_type == "code" and recording.source_sha256 == source_digest(cell.source):
                cells.append(shown_block(cell.id, recording))
        nb.cells = cells
        return nb, resources


RECORDER = "kind-recorder"
"""The learner a recording runs as: the chapter runs in the namespace ``kind-recorder-<chapter>``."""


def record(chapter: str, timeout: float = 300) -> Path:
    """Run ``chapter``'s source notebook (solutions included) top to bottom on the running kind cluster
    and write what its kind-only cells printed to :func:`recordings_file`. Returns that file."""
    from nbclient import NotebookClient

    source = source_notebook_path(chapter)
    if not source.exists():
        raise CourseError(f"No source notebook {source}. Chapters: see autograder/source/.")
    notebook = read_notebook(source)
    cells = kind_only_cells(notebook)
    if not cells:
        raise CourseError(f"Chapter {chapter} has no kind-only cell (`if cluster.capabilities.…:`): nothing to record.")
    env = {**os.environ, "K8S_COURSE_FRESH": "1", "K8S_COURSE_LEARNER": RECORDER}
    with tempfile.TemporaryDirectory(prefix="k8s-course-record-") as workdir:
        client = NotebookClient(notebook, timeout=timeout, resources={"metadata": {"path": workdir}})
        executed = client.execute(env=env)
    by_id = {cell.get("id"): cell for cell in executed.cells}
    entries = {
        cell.id: {"source-sha256": source_digest(cell.source), "output": output_text(by_id[cell.id].outputs)}
        for cell in cells
    }
    path = recordings_file(chapter)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# What the kind-only cells of {chapter} printed on a kind cluster. Generated; do not edit.\n"
        f"# Record again (with the kind backend running): python -m course record-kind-outputs {chapter}\n"
    )
    path.write_text(header + yaml.dump({"cells": entries}, Dumper=_BlockText, sort_keys=False, allow_unicode=True))
    return path


class _BlockText(yaml.SafeDumper):
    """Writes multi-line text as a YAML ``|`` block, so a recording reads in a diff as it printed."""


_BlockText.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None),
)
