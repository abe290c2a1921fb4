"""Shared fixtures: one sim cluster for the whole test session, in its own state directory.

The cluster is started once (``sim_cluster``) in a temporary ``K8S_COURSE_STATE`` so that a learner's
or developer's own course cluster is never touched, and it is stopped when the session ends, whether
the tests passed, failed or were interrupted. Tests that need no cluster never start it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Every test process gets its own cluster state; set before any course module reads it.
_STATE = Path(os.environ.get("K8S_COURSE_TEST_STATE") or tempfile.mkdtemp(prefix="k8s-course-test-"))
os.environ["K8S_COURSE_STATE"] = str(_STATE)
os.environ.setdefault("K8S_COURSE_LEARNER", "tester")
for variable in ("K8S_COURSE_NAMESPACE", "K8S_COURSE_KUBECONFIG", "K8S_COURSE_FRESH", "NBGRADER_EXECUTION"):
    os.environ.pop(variable, None)

REPO = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="rewrite the golden pictures in tests/golden/ from their inputs"
    )
    parser.addoption(
        "--record-golden",
        action="store_true",
        help="record the golden pictures' inputs from a sim cluster again, then rewrite the pictures",
    )


@pytest.fixture(scope="session")
def sim_cluster() -> Iterator[Path]:
    """A running sim cluster; yields the path of its kubeconfig."""
    from course._paths import kubeconfig_path
    from course.backends.sim import SimBackend

    backend = SimBackend()
    try:
        backend.up()
        yield kubeconfig_path()
    finally:
        backend.down()
