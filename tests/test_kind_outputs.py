"""What kind-only cells print on kind, shown collapsed to learners on sim (course/kind_outputs.py).

These tests need no cluster: they check which cells count as kind-only, how a recording is read and
shown, and that a recording made from an older cell source is never shown under the new one.
"""

from __future__ import annotations

import html
from pathlib import Path

import nbformat
import pytest
import yaml

from course import kind_outputs
from course._errors import CourseError
from course.kind_outputs import Recording, ShowKindOutputs, kind_only_cells, output_text, source_digest

KIND_ONLY_SOURCE = 'if cluster.capabilities.containers:\n    cluster.kubectl("logs", "web")\nelse:\n    print("sim")'


def _notebook(*sources: str) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source, id=f"cell{i}") for i, source in enumerate(sources)]
    return notebook


@pytest.mark.parametrize(
    ("source", "kind_only"),
    [
        (KIND_ONLY_SOURCE, True),
        ('if cluster.backend == "kind":\n    !kubectl logs worker --previous', True),
        ("x = 1\nif cluster.capabilities.network_policy:\n    pass", True),
        ('print("NetworkPolicy enforced here:", cluster.capabilities.network_policy)', False),
        ('if cluster.backend == "sim":\n    pass', False),
    ],
)
def test_a_cell_is_kind_only_when_it_branches_on_the_backend_or_a_capability(source: str, kind_only: bool) -> None:
    assert bool(kind_only_cells(_notebook(source))) is kind_only


def test_the_recorded_text_is_what_a_learner_reads_under_the_cell() -> None:
    outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="\x1b[32mHTTP 200\x1b[0m from 10.96.0.12\r\n"),
        nbformat.v4.new_output("display_data", data={"text/plain": "HBox(children=(IntProgress(value=0…",
                                                      "application/vnd.jupyter.widget-view+json": {"model_id": "1"}}),
        nbformat.v4.new_output("execute_result", data={"text/plain": "'ok'"}, execution_count=1),
    ]
    assert output_text(outputs) == "HTTP 200 from 10.96.0.12\n'ok'\n"


def test_a_cell_that_failed_on_kind_is_not_recorded() -> None:
    error = nbformat.v4.new_output("error", ename="CheckFailed", evalue="\x1b[31mno endpoints\x1b[0m", traceback=[])
    with pytest.raises(CourseError, match="failed on kind: CheckFailed: no endpoints"):
        output_text([error])


def _with_recordings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chapter: str, cells: dict[str, Recording]
) -> None:
    monkeypatch.setattr(kind_outputs, "RECORDINGS_DIR", tmp_path)
    entries = {cell_id: {"source-sha256": r.source_sha256, "output": r.output} for cell_id, r in cells.items()}
    (tmp_path / f"{chapter}.yaml").write_text(yaml.safe_dump({"cells": entries}))


def test_generate_assignment_shows_each_current_recording_collapsed_under_its_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = _notebook("x = 1", KIND_ONLY_SOURCE, "y = 2")
    _with_recordings(tmp_path, monkeypatch, "05-network", {
        "cell1": Recording(source_digest(KIND_ONLY_SOURCE), "10:32:01 <b>writer</b>\n"),
    })
    shown, _ = ShowKindOutputs().preprocess(notebook, {"nbgrader": {"assignment": "05-network"}})
    assert [cell.cell_type for cell in shown.cells] == ["code", "code", "markdown", "code"]
    block = shown.cells[2].source
    assert block.startswith("<details><summary>On kind, this cell printed")
    assert "10:32:01 &lt;b&gt;writer&lt;/b&gt;" in block  # the output is text, never HTML
    assert shown.cells[2].id == "cell1-on-kind"
    again, _ = ShowKindOutputs().preprocess(shown, {"nbgrader": {"assignment": "05-network"}})
    assert again.cells == shown.cells, "generating again must give the same notebook"


def test_a_recording_of_an_older_cell_source_is_stale_and_not_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = _notebook(KIND_ONLY_SOURCE)
    _with_recordings(tmp_path, monkeypatch, "06-storage", {"cell0": Recording(source_digest("old source"), "old\n")})
    shown, _ = ShowKindOutputs().preprocess(notebook, {"nbgrader": {"assignment": "06-storage"}})
    assert len(shown.cells) == 1
    stale = kind_outputs.stale_or_missing("06-storage", notebook)
    assert stale == ["06-storage cell 'cell0' changed since it was recorded"]
    assert kind_outputs.stale_or_missing("07-capstone", notebook) == ["07-capstone cell 'cell0' has no recording"]


def test_the_course_root_runs_the_step_last_when_it_generates_an_assignment() -> None:
    from nbgrader.converters import GenerateAssignment
    from traitlets.config.loader import PyFileConfigLoader

    course_root = Path(__file__).parents[1] / "autograder"
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config()
    steps = config.GenerateAssignment.preprocessors
    assert steps[-1] is ShowKindOutputs
    assert steps[:-1] == GenerateAssignment.class_traits()["preprocessors"].default()


def test_every_kind_only_cell_has_a_current_recording() -> None:
    problems = [
        problem
        for chapter in kind_outputs.chapters_with_kind_only_cells()
        for problem in kind_outputs.stale_or_missing(chapter)
    ]
    assert not problems, (
        "Record again on a kind cluster (python -m course cluster up --backend kind; "
        "python -m course record-kind-outputs CHAPTER; python -m course release):\n" + "\n".join(problems)
    )


def test_the_released_notebooks_show_each_recording_under_its_cell(released_course: Path) -> None:
    for chapter in kind_outputs.chapters_with_kind_only_cells():
        recordings = kind_outputs.load_recordings(chapter)
        released = kind_outputs.read_notebook(released_course / "release" / chapter / f"{chapter}.ipynb")
        for index, cell in enumerate(released.cells):
            if cell.get("id") in recordings:
                block = released.cells[index + 1]
                assert block.metadata.get("k8s-course", {}).get("recorded-on-kind"), f"{chapter} {cell.id}: no block"
                assert recordings[cell.id].output.rstrip().splitlines()[0] in html.unescape(block.source)
