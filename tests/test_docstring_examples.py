"""The ``>>>`` examples in the docstrings of the learner-facing modules run and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "course._notebook_output",
    "course._config",
    "course._errors",
    "course._i18n",
    "course._events",
    "course._manifests",
    "course._naming",
    "course._wait_progress",
    "course._readiness",
    "course._resetting",
    "course._waiting",
    "course.checks",
    "course.classroom.roster",
    "course.nbgrader_glue",
    "course.pictures._quantity",
    "course.pictures._status",
    "course.pictures._svg",
    "course.pictures._words",
    "course.pictures.routes",
    "course.translations",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("K8S_COURSE_DISPLAY", raising=False)
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples left"
    assert result.failed == 0
