"""Chapters: their ids, titles, starting state and predictions, read from ``course/chapters/<id>.yaml``.

Predict, then observe: a chapter states in its YAML what it asks a learner to predict (the prose, so
that a translated edition translates the YAML, not code)::

    predictions:
      deleted-pod:
        choices: [a, b, c]
        why: The ReplicaSet counts Pods by their labels ...

The notebook asks in Markdown, lets the learner set a variable in a cell of its own (``None`` until
then), runs the cell that acts, then compares with :meth:`course.Cluster.observe`, which prints
whether the prediction was right and why, and never raises for the learner's input: a skipped
prediction is only a missed chance to be surprised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course._config import MapOf, Optional, load_config
from course._errors import CourseError
from course._i18n import tr, translate

CHAPTERS_DIR = Path(__file__).with_name("chapters")

MANIFEST_SCHEMA = {"apiVersion": str, "kind": str, "metadata": {"name": str, ...: Any}, ...: Any}
"""A Kubernetes object: the API server checks the rest when it is applied."""

CHAPTER_SCHEMA = {
    "title": str,
    # Manifests applied into the learner's namespace on first connect and on every reset.
    "starting-state": Optional([MANIFEST_SCHEMA]),
    # What the notebook asks the learner to predict before a surprising moment (ungraded).
    "predictions": Optional(MapOf({"why": str, "choices": Optional([(str, int, bool)])})),
}
"""What ``course/chapters/<id>.yaml`` may hold (see AUTHORING.md); anything else is an error."""


@dataclass(frozen=True)
class Prediction:
    """What a chapter asks a learner to predict: the accepted answers (empty: any) and why it turns out so."""

    name: str
    why: str
    choices: tuple[Any, ...] = ()


def _same(predicted: Any, observed: Any) -> bool:
    """Equal as the learner means it: as text, without case or surrounding spaces (``"3"`` is ``3``)."""
    return str(predicted).strip().lower() == str(observed).strip().lower()


def verdict(prediction: Prediction, predicted: Any, observed: Any) -> str:
    """The lines to print for ``predicted`` (``None``: the learner skipped it) against ``observed``.

    >>> print(verdict(Prediction("pods", "The ReplicaSet makes a new Pod.", (2, 3)), 3, 3))
    ✓ You predicted 3; the cluster shows 3.
    Why: The ReplicaSet makes a new Pod.
    >>> print(verdict(Prediction("pods", "The ReplicaSet makes a new Pod."), None, 3))
    You made no prediction; the cluster shows 3.
    Why: The ReplicaSet makes a new Pod.
    >>> print(verdict(Prediction("pods", "Why.", ("a", "b")), "d", "a").splitlines()[0])
    ✗ You predicted 'd', which is none of 'a', 'b'; the cluster shows 'a'.
    """
    shown = repr(observed) if isinstance(observed, str) else str(observed)
    said = repr(predicted) if isinstance(predicted, str) else str(predicted)
    listed = ", ".join(repr(c) if isinstance(c, str) else str(c) for c in prediction.choices)
    if predicted is None:
        first = "You made no prediction; the cluster shows {shown}."
    elif prediction.choices and not any(_same(predicted, choice) for choice in prediction.choices):
        first = "✗ You predicted {said}, which is none of {listed}; the cluster shows {shown}."
    elif _same(predicted, observed):
        first = "✓ You predicted {said}; the cluster shows {shown}."
    else:
        first = "✗ You predicted {said}; the cluster shows {shown}."
    # `why` is the chapter's prose: translated with the chapter's check texts (course/locale/<lang>/check-texts/).
    return tr(first, said=said, listed=listed, shown=shown) + "\n" + tr("Why: {why}", why=translate(prediction.why))


@dataclass(frozen=True)
class Chapter:
    """One chapter of the course: ``id`` is also its nbgrader assignment name and notebook name."""

    id: str
    title: str
    starting_state: tuple[dict[str, Any], ...]
    predictions: dict[str, Prediction] = field(default_factory=dict)

    def prediction(self, name: str) -> Prediction:
        """The prediction called ``name``; a name the chapter does not define is the author's mistake."""
        if name not in self.predictions:
            known = ", ".join(sorted(self.predictions)) or "none"
            raise CourseError(
                f"Chapter {self.id} defines no prediction {name!r} (it defines: {known}). "
                f"Add it under predictions: in course/chapters/{self.id}.yaml."
            )
        return self.predictions[name]


def chapter_ids() -> list[str]:
    """Every chapter, in course order."""
    return sorted(path.stem for path in CHAPTERS_DIR.glob("*.yaml"))


def load_chapter(chapter_id: str) -> Chapter:
    """The chapter called ``chapter_id`` (for example ``"00-setup"``)."""
    path = CHAPTERS_DIR / f"{chapter_id}.yaml"
    if not path.is_file():
        raise CourseError(f"There is no chapter {chapter_id!r}. The chapters are: {', '.join(chapter_ids())}.")
    data = load_config(path, CHAPTER_SCHEMA, shown_as=f"course/chapters/{path.name}")
    predictions = {
        name: Prediction(name, entry["why"], tuple(entry.get("choices") or ()))
        for name, entry in (data.get("predictions") or {}).items()
    }
    return Chapter(
        id=chapter_id,
        title=data["title"],
        starting_state=tuple(data.get("starting-state") or ()),
        predictions=predictions,
    )
