"""Correct answers written differently earn the same points (issue 14, item 7).

A selector is judged by what it selects, not by how it is written. Each chapter below is run with its
solutions rewritten into another correct form (``matchExpressions`` instead of ``matchLabels``, two
``from`` entries merged into one, ...) and must still pass every check, hidden tests included.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from .background import Ahead, ahead, selected
from .test_chapters import failed_checks, source_of

REWRITES: dict[str, list[tuple[str, str]]] = {
    "01-why-kubernetes": [
        (  # exercise 1: the Deployment web selects app=web with an expression
            "  selector:\n    matchLabels:\n      app: web\n",
            "  selector:\n    matchExpressions:\n    - {key: app, operator: In, values: [web]}\n",
        ),
    ],
    "02-control-plane": [
        (  # exercise 4: course-worker2 chosen by two of its labels
            "  nodeSelector:\n    kubernetes.io/hostname: course-worker2\n",
            "  nodeSelector:\n    kubernetes.io/hostname: course-worker2\n    kubernetes.io/os: linux\n",
        ),
    ],
    "04-workloads": [
        (  # exercise 1: the Deployment web selects app=web with an expression
            "  selector:\n    matchLabels:\n      app: web\n",
            "  selector:\n    matchExpressions:\n    - {key: app, operator: In, values: [web]}\n",
        ),
    ],
    "04b-more-workloads": [
        (  # exercise 1: the StatefulSet store selects app=store with an expression
            "  selector:\n    matchLabels:\n      app: store\n",
            "  selector:\n    matchExpressions:\n    - {key: app, operator: In, values: [store]}\n",
        ),
    ],
    "05-network": [
        (  # exercise 6: the policy's target and its source, as expressions
            "  podSelector:\n    matchLabels: {app: web}\n",
            "  podSelector:\n    matchExpressions: [{key: app, operator: In, values: [web]}]\n",
        ),
        (
            "    - podSelector:\n        matchLabels: {role: client}\n",
            "    - podSelector:\n        matchExpressions: [{key: role, operator: In, values: [client]}]\n",
        ),
    ],
    "07-capstone": [
        (  # exercise 6: the database Pods by expressions, web and backup in one from entry
            "  podSelector:\n    matchLabels: {app: shop, tier: db}\n",
            "  podSelector:\n    matchExpressions:\n    - {key: tier, operator: In, values: [db]}\n"
            "    - {key: app, operator: In, values: [shop]}\n",
        ),
        (
            "    - podSelector:\n        matchLabels: {app: shop, tier: web}\n"
            "    - podSelector:\n        matchLabels: {app: shop, tier: backup}\n",
            "    - podSelector:\n        matchLabels: {app: shop}\n"
            "        matchExpressions: [{key: tier, operator: In, values: [web, backup]}]\n",
        ),
    ],
}


def rewritten(chapter: str) -> nbformat.NotebookNode:
    """The source notebook with its solutions rewritten as ``REWRITES`` says (each text found once)."""
    notebook = nbformat.read(source_of(chapter), as_version=4)
    for old, new in REWRITES[chapter]:
        cells = [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("solution")
                 and old in cell.source]
        assert len(cells) == 1 and cells[0].source.count(old) == 1, f"{chapter}: the solution changed: {old!r}"
        cells[0].source = cells[0].source.replace(old, new)
    return notebook


@pytest.fixture(scope="module")
def rewritten_runs(sim_cluster: Path, request: pytest.FixtureRequest) -> Iterator[Ahead[str, list[str]]]:
    """Each rewritten notebook run once, two at a time, each from its chapter's starting state in a
    namespace of its own; gives the checks that failed."""

    def run(chapter: str) -> list[str]:
        environment = {"K8S_COURSE_NAMESPACE": f"rewritten-{chapter}", "K8S_COURSE_FRESH": "1"}
        return failed_checks(rewritten(chapter), {**os.environ, **environment})

    with ahead(selected(request, "chapter"), run, ahead=None) as runs:
        yield runs


@pytest.mark.parametrize("chapter", sorted(REWRITES))
def test_selectors_written_differently_pass_every_check(chapter: str, rewritten_runs: Ahead[str, list[str]]) -> None:
    assert rewritten_runs.result(chapter) == []
