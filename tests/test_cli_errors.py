"""Foreseeable problems end the course's commands with one ``ERROR:`` line, never a traceback.

Every problem the course reports is a :class:`course.CourseError` (``StepFailed`` and ``ConfigError``
are ones too); ``python -m course`` prints it as ``ERROR: <what failed>`` and exits with 1. Here the
commands an instructor runs (``release``, ``class practice``, ``class grade``, ``class sandbox
create``) meet the usual mistakes: a chapter that does not exist, a course root without sources, a
broken notebook, a missing roster, no cluster, a cluster that does not answer. No cluster is needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course._cli_output import StepFailed
from course._config import ConfigError
from course._errors import CourseError
from course.classroom._tokens import RevocationFailed

ROOT = Path(__file__).resolve().parent.parent
DEAD_CLUSTER = """\
apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: someone, user: {token: not-a-token}}]
contexts: [{name: k8s-course, context: {cluster: gone, user: someone}}]
current-context: k8s-course
"""


def course(*args: str, tmp_path: Path, kubeconfig: Path | None = None, repo: Path | None = None) -> str:
    """Run ``python -m course *args``; return what it printed, after checking it failed in one line."""
    env = {
        **os.environ,
        "K8S_COURSE_STATE": str(tmp_path / "state"),
        "K8S_COURSE_KUBECONFIG": str(kubeconfig or tmp_path / "no-such.kubeconfig"),
    }
    if repo is not None:
        env["K8S_COURSE_REPO"] = str(repo)
    result = subprocess.run(
        [sys.executable, "-m", "course", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, output
    return output


@pytest.fixture
def broken_course_root(tmp_path: Path) -> Path:
    """A course root whose chapter 00 notebook is cut off in the middle (not JSON)."""
    root = tmp_path / "broken"
    (root / "source" / "00-setup").mkdir(parents=True)
    shutil.copy(ROOT / "autograder" / "nbgrader_config.py", root / "nbgrader_config.py")
    (root / "source" / "00-setup" / "00-setup.ipynb").write_text('{"cells": [')
    return root


def test_every_problem_the_course_reports_has_one_root() -> None:
    for problem in (StepFailed, ConfigError, RevocationFailed):
        assert issubclass(problem, CourseError), problem


def test_release_of_an_unknown_chapter(tmp_path: Path) -> None:
    output = course("release", "99-nope", tmp_path=tmp_path)
    assert "ERROR: No chapter '99-nope' in" in output and "00-setup" in output  # names what there is


@pytest.mark.slow  # nbgrader starts (about 13 s)
def test_release_of_a_broken_notebook(tmp_path: Path, broken_course_root: Path) -> None:
    repo = tmp_path / "checkout"
    repo.mkdir()
    broken_course_root.rename(repo / "autograder")
    output = course("release", tmp_path=tmp_path, repo=repo)
    assert "ERROR: nbgrader generate_assignment 00-setup --force failed" in output
    assert "NotJSONError" in output  # what is wrong with the notebook
    log = tmp_path / "state" / "logs" / "nbgrader-generate_assignment.log"
    assert str(log) in output and "NotJSONError" in log.read_text()  # where the whole story is


def test_practice_in_a_course_root_without_sources(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    output = course("class", "--course-root", str(empty), "practice", "00-setup", tmp_path=tmp_path)
    assert "ERROR: No chapter '00-setup' in" in output and "is this the nbgrader course root?" in output


@pytest.mark.slow  # nbgrader starts (about 13 s)
def test_practice_with_a_broken_notebook(tmp_path: Path, broken_course_root: Path) -> None:
    output = course("class", "--course-root", str(broken_course_root), "practice", "00-setup", tmp_path=tmp_path)
    assert "failed: There was an error processing assignment" in output and "NotJSONError" in output


def test_grade_without_a_cluster(tmp_path: Path) -> None:
    output = course("class", "grade", "00-setup", "--unconfined", tmp_path=tmp_path)
    assert "ERROR: No course cluster" in output and "python -m course cluster up" in output


def test_grade_when_the_cluster_does_not_answer(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "dead.kubeconfig"
    kubeconfig.write_text(DEAD_CLUSTER)
    output = course("class", "grade", "00-setup", "--unconfined", tmp_path=tmp_path, kubeconfig=kubeconfig)
    assert "ERROR: The cluster at 127.0.0.1:9 does not answer" in output


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--chapter", "99-nope"], "ERROR: There is no chapter '99-nope'"),
        ([], "ERROR: No course cluster"),
    ],
)
def test_sandbox_create_refuses_in_one_line(tmp_path: Path, args: list[str], said: str) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("id\nada\n")
    output = course("class", "sandbox", "create", "--roster", str(roster), *args, tmp_path=tmp_path)
    assert said in output


def test_sandbox_create_with_a_missing_roster(tmp_path: Path) -> None:
    output = course("class", "sandbox", "create", "--roster", str(tmp_path / "none.csv"), tmp_path=tmp_path)
    assert "ERROR: Cannot read the roster" in output and "No such file or directory" in output
