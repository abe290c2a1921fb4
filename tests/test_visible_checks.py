"""A visible self-check is as strict as the task (issue 17).

A learner who sees ✓ believes the exercise is done, so every requirement an exercise states is checked
by its visible checks (what the released notebook keeps); the hidden tests re-verify and probe
robustness. Each case below is an exercise's solution with one stated requirement unmet: the visible
checks of that exercise, run alone, must say ✗ and name what is missing. (That the unchanged solutions
pass the same checks is ``tests/test_chapters.py``: they earn full marks.)
"""

from __future__ import annotations

from typing import Any

import nbformat
import pytest

import course
from course.checks import CheckFailed

from .test_chapters import source_of

HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def visible(source: str) -> str:
    """A check cell as the released notebook has it: without its hidden tests."""
    if HIDDEN[0] not in source:
        return source
    before, rest = source.split(HIDDEN[0], 1)
    return before + rest.split(HIDDEN[1], 1)[1]


def cells(chapter: str, prefix: str) -> list[nbformat.NotebookNode]:
    notebook = nbformat.read(source_of(chapter), as_version=4)
    return [c for c in notebook.cells if str(c.metadata.get("nbgrader", {}).get("grade_id", "")).startswith(prefix)]


def run(source: str, names: dict[str, Any]) -> None:
    """Run a notebook cell's Python (``!`` shell lines left out) with ``names`` as its globals."""
    python = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("!"))
    exec(compile(python, "<cell>", "exec"), names)


CASES: dict[str, tuple[str, list[str], str, dict[str, str], str]] = {
    "00-ex2-command": (
        "00-setup", [], "ex2", {"echo hello && sleep 3600": "echo hi && sleep 3600"}, "command",
    ),
    "00-ex3-control-plane": (
        "00-setup", [], "ex3", {"control_plane_node = next(": "control_plane_node = 'course-worker' or next("},
        "control_plane_node is not the control-plane node",
    ),
    "05-ex3-namespace": (
        "05-network", [], "ex3", {'f"shop.{cluster.namespace}': 'f"shop.default'},
        "shop_fqdn names the wrong namespace",
    ),
    "05-ex3-address": (
        "05-network", [], "ex3", {"shop_ip = ": "shop_ip = '10.96.0.1' or "}, "shop_ip is not the ClusterIP",
    ),
    "04b-ex1-port-name": (
        "04b-more-workloads", [], "ex1", {"  - name: http\n    port: 80": "  - port: 80"}, "named http",
    ),
    "04b-ex1-claim-size": ("04b-more-workloads", [], "ex1", {"storage: 1Gi": "storage: 2Gi"}, "storage"),
    "07-ex2-user-written-in": (
        "07-capstone",
        ["ex1"],
        "ex2",
        {"          valueFrom:\n            configMapKeyRef: {name: shop-config, key: DB_USER}\n":
         "          value: shop\n"},
        "POSTGRES_USER should come from the ConfigMap",
    ),
}
"""Each case: the chapter, the exercises solved before, the exercise, the one change to its solution
(text replaced in the solution cell), and what the visible check's failure says."""


@pytest.mark.usefixtures("sim_cluster")
@pytest.mark.parametrize("case", list(CASES))
def test_a_solution_missing_one_requirement_fails_the_visible_checks(case: str) -> None:
    chapter, before, exercise, change, says = CASES[case]
    cluster = course.connect(chapter, quiet=True)
    cluster.reset()
    names: dict[str, Any] = {"cluster": cluster, "timeline": lambda *args, **kwargs: cluster.timeline()}
    for solved in before:
        for cell in cells(chapter, f"{solved}-"):
            if cell.metadata.nbgrader.get("solution"):
                run(cell.source, names)
    answer = [c for c in cells(chapter, f"{exercise}-") if c.metadata.nbgrader.get("solution")]
    assert len(answer) == 1, f"{chapter} {exercise}: one answer cell"
    source = answer[0].source
    for old, new in change.items():
        assert source.count(old) == 1, f"{case}: {old!r} is not once in the solution"
        source = source.replace(old, new)
    try:
        run(source, names)
        failures = []
        checking = {**names, "__name__": "__check__"}
        for check in cells(chapter, f"{exercise}-check-"):
            try:
                run(visible(check.source), checking)
            except CheckFailed as failure:
                failures.append(str(failure))
        assert any(says in failure for failure in failures), f"{case}: no visible check said {says!r}: {failures}"
    finally:
        cluster.reset()
