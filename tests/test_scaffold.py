"""``python -m course new-chapter`` writes a chapter that the suite's structural checks accept."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course._chapters import CHAPTER_SCHEMA
from course._config import load_config
from course._errors import CourseError
from course._scaffold import new_chapter
from course.nbgrader_glue import generate_assignment

from .conftest import REPO
from .test_chapters import graded_cells, structure_problems


def test_a_new_chapter_passes_the_structural_checks_and_nbgrader_releases_it(tmp_path: Path) -> None:
    definition, source = new_chapter(tmp_path, "08-scaffold", "Scaffolded: a chapter")
    assert load_config(definition, CHAPTER_SCHEMA)["title"] == "Scaffolded: a chapter"
    notebook = nbformat.read(source, as_version=4)
    nbformat.validate(notebook)
    assert structure_problems(notebook) == []
    headings = re.findall(r"^### Exercise (\d+) \((\d+) points?\)", notebook.cells[3].source, re.MULTILINE)
    assert headings == [("1", str(int(sum(graded_cells(notebook).values()))))]
    # nbgrader takes its metadata: the student version has no solution and no hidden tests.
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", tmp_path / "autograder" / "nbgrader_config.py")
    released = generate_assignment(tmp_path / "autograder", "08-scaffold") / "08-scaffold.ipynb"
    text = released.read_text()
    assert "raise NotImplementedError()" in text and "BEGIN HIDDEN TESTS" not in text and "demo\\\"}}" not in text


def test_a_bad_id_an_existing_chapter_and_an_empty_title_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CourseError, match=r"'Security' is not a chapter id\. Write it as NN-slug"):
        new_chapter(tmp_path, "Security", "Security")
    with pytest.raises(CourseError, match="one-line title"):
        new_chapter(tmp_path, "08-security", " ")
    new_chapter(tmp_path, "08-security", "Security")
    with pytest.raises(CourseError, match="Chapter 08-security exists already"):
        new_chapter(tmp_path, "08-security", "Security")


def test_the_command_line_writes_it_into_the_checkout_and_says_what_is_next(tmp_path: Path) -> None:
    env = {**os.environ, "K8S_COURSE_REPO": str(tmp_path)}
    command = [sys.executable, "-m", "course", "new-chapter", "08-security", "Security"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "autograder" / "source" / "08-security" / "08-security.ipynb").is_file()
    assert "add its row to README.md's table" in result.stdout + result.stderr
