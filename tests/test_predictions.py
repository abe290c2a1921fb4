"""Predict, then observe (issue 17): ungraded prompts before the moments that surprise.

The chapter's YAML says what is asked and why; the notebook holds the learner's guess in a cell of its
own and compares it with the cluster through ``cluster.observe``, which never fails for the learner's
input. (That the notebooks with these cells still earn full marks solved and zero untouched is
``tests/test_chapters.py``.)
"""

from __future__ import annotations

import re

import nbformat
import pytest

from course._chapters import Chapter, Prediction, chapter_ids, load_chapter, verdict
from course._errors import CourseError
from course._session import Cluster

from .test_chapters import source_of

OBSERVE = re.compile(r'cluster\.observe\(\s*"([^"]+)",\s*globals\(\)\.get\("(\w+)"\)')

ASKED = {
    "01-why-kubernetes": {"deleted-pod"},
    "04b-more-workloads": {"claims-after-scale-down"},
    "05-network": {"shop-endpoints"},
    "06-storage": {"claim-after-pod"},
}
"""The four moments of the issue: a deleted Pod replaced, a scale-down, a Service without endpoints,
what outlives a Pod."""


@pytest.mark.parametrize("chapter", chapter_ids())
def test_each_prediction_is_asked_before_it_is_observed_and_never_graded(chapter: str) -> None:
    notebook = nbformat.read(source_of(chapter), as_version=4)
    defined = set(load_chapter(chapter).predictions)
    observed = {}
    for index, cell in enumerate(notebook.cells):
        for name, variable in OBSERVE.findall(cell.source):
            observed[name] = (index, variable)
    assert set(observed) == defined == ASKED.get(chapter, set()), (chapter, observed, defined)
    for name, (index, variable) in observed.items():
        guesses = [i for i, cell in enumerate(notebook.cells) if cell.source.strip() == f"{variable} = None"]
        assert len(guesses) == 1 and guesses[0] < index, f"{name}: one cell `{variable} = None`, before the observation"
        for position in (guesses[0], index):
            assert "nbgrader" not in notebook.cells[position].metadata, f"{name}: an ungraded cell"
        asked = notebook.cells[guesses[0] - 1]
        assert asked.cell_type == "markdown" and "Predict, then observe" in asked.source and variable in asked.source


PODS = Prediction("deleted-pod", "The ReplicaSet makes a new Pod.", ("a", "b", "c"))


@pytest.mark.parametrize(
    ("predicted", "observed", "first"),
    [
        ("c", "c", "✓ You predicted 'c'; the cluster shows 'c'."),
        (" C ", "c", "✓ You predicted ' C '; the cluster shows 'c'."),
        ("b", "c", "✗ You predicted 'b'; the cluster shows 'c'."),
        (None, "c", "You made no prediction; the cluster shows 'c'."),
        (3, "c", "✗ You predicted 3, which is none of 'a', 'b', 'c'; the cluster shows 'c'."),
    ],
)
def test_a_prediction_is_compared_as_the_learner_means_it(predicted: object, observed: object, first: str) -> None:
    lines = verdict(PODS, predicted, observed).splitlines()
    assert lines == [first, "Why: The ReplicaSet makes a new Pod."]


def test_a_number_given_as_text_is_the_number() -> None:
    claims = Prediction("claims", "Retain keeps them.")
    assert verdict(claims, "3", 3).startswith("✓") and verdict(claims, 1, 3).startswith("✗")


def test_observe_prints_and_a_name_the_chapter_does_not_define_is_the_authors_mistake(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster = Cluster.__new__(Cluster)
    cluster.chapter = Chapter("01-why-kubernetes", "Why Kubernetes", (), {"deleted-pod": PODS})
    cluster.observe("deleted-pod", None, "c")
    assert capsys.readouterr().out.startswith("You made no prediction; the cluster shows 'c'.")
    with pytest.raises(CourseError, match=r"defines no prediction 'deleted-pods' \(it defines: deleted-pod\)"):
        cluster.observe("deleted-pods", "c", "c")
