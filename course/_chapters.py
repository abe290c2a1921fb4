"""Chapters: their ids, titles and starting state, read from ``course/chapters/<id>.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHAPTERS_DIR = Path(__file__).with_name("chapters")


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
        from course._errors import CourseError

        raise CourseError(f"There is no chapter {chapter_id!r}. The chapters are: {', '.join(chapter_ids())}.")
    data = yaml.safe_load(path.read_text()) or {}
    return Chapter(id=chapter_id, title=data["title"], starting_state=tuple(data.get("starting-state") or ()))
