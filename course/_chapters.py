"""Chapters: their ids, titles and starting state, read from ``course/chapters/<id>.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course._config import Optional, load_config
from course._errors import CourseError

CHAPTERS_DIR = Path(__file__).with_name("chapters")

MANIFEST_SCHEMA = {"apiVersion": str, "kind": str, "metadata": {"name": str, ...: Any}, ...: Any}
"""A Kubernetes object: the API server checks the rest when it is applied."""

CHAPTER_SCHEMA = {
    "title": str,
    # Manifests applied into the learner's namespace on first connect and on every reset.
    "starting-state": Optional([MANIFEST_SCHEMA]),
}
"""What ``course/chapters/<id>.yaml`` may hold (see AUTHORING.md); anything else is an error."""


@dataclass(frozen=True)
class Chapter:
    """One chapter of the course: ``id`` is also its nbgrader assignment name and notebook name."""

    id: str
    title: str
    starting_state: tuple[dict[str, Any], ...]


def chapter_ids() -> list[str]:
    """Every chapter, in course order."""
    return sorted(path.stem for path in CHAPTERS_DIR.glob("*.yaml"))


def load_chapter(chapter_id: str) -> Chapter:
    """The chapter called ``chapter_id`` (for example ``"00-setup"``)."""
    path = CHAPTERS_DIR / f"{chapter_id}.yaml"
    if not path.is_file():
        raise CourseError(f"There is no chapter {chapter_id!r}. The chapters are: {', '.join(chapter_ids())}.")
    data = load_config(path, CHAPTER_SCHEMA, shown_as=f"course/chapters/{path.name}")
    return Chapter(id=chapter_id, title=data["title"], starting_state=tuple(data.get("starting-state") or ()))
