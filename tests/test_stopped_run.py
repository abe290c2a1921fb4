"""A test run stopped from outside (CI's timeout, ``kill``) still stops what its fixtures started.

The fixtures that start things (the session's sim cluster, a JupyterLab and its kernels, a hub) stop
them in their teardown, which pytest runs after Ctrl-C but not when SIGTERM kills it at once:
``tests/conftest.py`` turns SIGTERM into Ctrl-C, and passes it on to pytest-xdist's workers. These tests
run a small pytest session with that conftest, stop it with SIGTERM while its tests run, and check that
every session fixture that was set up was torn down.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import REPO, outside_xdist

SESSION = '''
import os
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def started_thing():
    Path(f"started-{os.getpid()}").touch()
    yield
    Path(f"torn-down-{os.getpid()}").touch()


@pytest.mark.parametrize("test", range(2))
def test_runs_until_stopped(started_thing, test):
    time.sleep(120)
'''


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist-workers"])
def test_sigterm_tears_every_session_fixture_down(workers: list[str], tmp_path: Path) -> None:
    (tmp_path / "test_until_stopped.py").write_text(SESSION)
    state = str(tmp_path / "state")
    environment = {**outside_xdist(os.environ), "PYTHONPATH": str(REPO), "K8S_COURSE_TEST_STATE": state}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider", *workers]
    command.append("test_until_stopped.py")
    run = subprocess.Popen(command, cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("started-*"))) < max(1, len(workers)):
            assert run.poll() is None and time.monotonic() < deadline, "the inner test run never started its tests"
            time.sleep(0.1)
        run.send_signal(signal.SIGTERM)
        output, _ = run.communicate(timeout=60)
    finally:
        run.kill()
    started = {path.name.removeprefix("started-") for path in tmp_path.glob("started-*")}
    torn_down = {path.name.removeprefix("torn-down-") for path in tmp_path.glob("torn-down-*")}
    assert started == torn_down, (
        f"pytest stopped by SIGTERM tore down the session fixtures of processes {sorted(torn_down)} of "
        f"{sorted(started)}, so a CI timeout would leave a sim cluster or JupyterLab running; its output:\n"
        f"{output.decode(errors='replace')[-2000:]}"
    )
