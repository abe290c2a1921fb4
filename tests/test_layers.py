"""The course's layers (pyproject.toml, ``[tool.importlinter]``) hold, and break when a module reaches up.

``make test`` runs ``lint-imports`` itself; these tests show that the contracts are not always kept:
a copy of the package with one forbidden import (inside a function, where a cycle used to hide) or
with a module placed in no layer fails, and the report names the import chain.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="no import-linter: pip install -e '.[dev]'")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env={"PATH": str(LINT_IMPORTS.parent), "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def copy_of_course(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "course", tmp_path / "course", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_course_keeps_its_layers() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and " 0 broken" in result.stdout


def test_an_import_up_from_the_core_breaks_the_layers_and_makes_a_cycle(copy_of_course: Path) -> None:
    errors = copy_of_course / "course" / "_errors.py"
    reaching_up = "def _handler() -> None:\n    from course.checks import CheckFailed\n\n    print(CheckFailed)\n"
    errors.write_text(errors.read_text() + "\n\n" + reaching_up)
    result = _lint(copy_of_course)
    assert result.returncode == 1, result.stdout
    report = result.stdout
    assert "course: command line > class grader" in report and "BROKEN" in report
    assert "course._errors -> course.checks" in report  # the offending import, named
    assert "No import cycles between the course's modules (and within its packages) BROKEN" in report


def test_a_module_in_no_layer_is_refused(copy_of_course: Path) -> None:
    (copy_of_course / "course" / "_helpers.py").write_text('"""Anything goes here?"""\n')
    result = _lint(copy_of_course)
    assert result.returncode == 1, result.stdout
    assert "course._helpers" in result.stdout


def test_chapters_use_only_the_public_api() -> None:
    """A chapter is what a learner copies from: its cells import the course's public modules, never a
    private ``course._x`` one (a check that needs more from the cluster asks ``checks.objects``)."""
    private = re.compile(r"^\s*(?:from|import)\s+course\._\w+", re.MULTILINE)
    found = [
        f"{notebook.parent.name}, cell {cell.get('id')}: {match.group(0).strip()}"
        for notebook in sorted((ROOT / "autograder" / "source").glob("*/*.ipynb"))
        for cell in json.loads(notebook.read_text())["cells"]
        if cell["cell_type"] == "code"
        for match in private.finditer("".join(cell["source"]))
    ]
    assert not found, "chapter cells import a private module of the course: " + "; ".join(found)
