"""``python -m course cluster up/down/status`` as a learner uses them, faults included.

These tests run the command line in subprocesses with a state directory of their own, apart from the
session's shared cluster.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from course.backends import discovery_cache_name
from course.backends.engine import find_engine

from .conftest import REPO, outside_xdist
from .processes import processes_under, wait_until_gone


def run_course(state: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "K8S_COURSE_STATE": str(state)}
    result = subprocess.run(
        [sys.executable, "-m", "course", *args], env=env, capture_output=True, text=True, timeout=300
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def discovery_cache_of(state: Path) -> Path:
    """Use the cluster of ``state`` through the course's DynamicClient, which caches the API discovery in the
    temp folder, and return where that cache is by :func:`course.backends.discovery_cache_name`."""
    use = "from course._client import dynamic_client; dynamic_client().resources.get(kind='Pod')"
    env = {**os.environ, "K8S_COURSE_STATE": str(state)}
    subprocess.run([sys.executable, "-c", use], env=env, check=True, capture_output=True, timeout=120)
    server = yaml.safe_load((state / "kubeconfig").read_text())["clusters"][0]["cluster"]["server"]
    return Path(tempfile.gettempdir()) / discovery_cache_name(server)


@pytest.fixture()
def state(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    try:
        yield state
    finally:
        run_course(state, "cluster", "down", check=False)


def test_up_twice_is_a_no_op_and_down_leaves_nothing_running(state: Path) -> None:
    first = run_course(state, "cluster", "up", "--backend", "sim")
    assert "course-worker3 (worker, Ready)" in first.stderr
    assert first.stderr.rstrip().splitlines()[-1].startswith("Next:")
    second = run_course(state, "cluster", "up", "--backend", "sim")
    assert "already running; nothing to do" in second.stderr
    assert "Starting the control plane" not in second.stderr
    assert processes_under(state)
    discovery = discovery_cache_of(state)
    assert discovery.is_file(), "the DynamicClient cached the API discovery somewhere else"
    down = run_course(state, "cluster", "down")
    assert "✓ Deleting the course cluster" in down.stderr
    assert wait_until_gone(state) == []
    assert not discovery.exists(), "down left the cluster's discovery cache in the temp folder"
    assert "No course cluster is running" in run_course(state, "cluster", "status").stderr


def test_up_recovers_a_half_started_cluster(state: Path) -> None:
    run_course(state, "cluster", "up", "--backend", "sim")
    pid_file = next((state / "kwok" / "clusters" / "course" / "pids").glob("kube-apiserver.pid"))
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    status = run_course(state, "cluster", "status")
    assert "No course cluster is running" in status.stderr
    recovered = run_course(state, "cluster", "up", "--backend", "sim")
    assert "Cleaning up a cluster that did not start completely" in recovered.stderr
    assert "course-control-plane (control-plane, Ready)" in recovered.stderr


def test_down_cleans_up_after_stale_pid_files(state: Path) -> None:
    run_course(state, "cluster", "up", "--backend", "sim")
    # kwokctl's own record of the cluster is lost, as after a crash: only pid files remain.
    (state / "kwok" / "clusters" / "course" / "kwok.yaml").unlink()
    run_course(state, "cluster", "down")
    assert wait_until_gone(state) == []
    assert not (state / "kwok").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _page_config(url: str) -> dict[str, Any]:
    """The settings JupyterLab hands its page (the ``jupyter-config-data`` script in ``/lab``)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        page = response.read().decode()
    found = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.DOTALL)
    assert found, page[:500]
    config: dict[str, Any] = json.loads(found.group(1))
    return config


@contextmanager
def course_lab(state: Path, tmp_path: Path, *options: str) -> Iterator[str]:
    """``python -m course lab`` as ``make lab`` runs it, with no environment on PATH; yields its URL."""
    port, token = _free_port(), secrets.token_hex(8)
    env = {
        **os.environ,
        "K8S_COURSE_STATE": str(state),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / f"runtime-{port}"),
        "PATH": os.pathsep.join(["/usr/bin", "/bin"]),
    }
    lab = subprocess.Popen(
        [sys.executable, "-m", "course", "lab", *options, "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.token={token}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                assert lab.poll() is None, lab.stdout.read() if lab.stdout else ""
                assert time.monotonic() < deadline, "JupyterLab did not answer"
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}?token={token}"
    finally:
        lab.terminate()
        lab.wait(timeout=30)
    # `course lab` became JupyterLab, so stopping it left no server behind.
    servers = [line for line in processes_under(REPO / "notebooks") if str(port) in line]
    assert servers == []


LEARNERS_DO_NOT_SEE = {
    "@jupyterlab/apputils-extension:announcements",  # "get notified about Jupyter news?"
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
}


def test_lab_starts_the_cluster_and_serves_jupyterlab_on_the_notebooks(state: Path, tmp_path: Path) -> None:
    """What `make lab` runs: the cluster comes up, then JupyterLab answers with the chapters listed,
    quiet (no news prompt) and with the learner's panels only; ``--instructor`` adds nbgrader's.

    Where a container engine answers (a session that runs the kind tests too: others see none, see
    ``hide_container_engines``), ``lab`` would make a kind cluster: one per Docker daemon, not per state
    folder, so another test's ``cluster down`` could delete it half-way (seen in CI). There the sim cluster
    is started first, and ``lab`` keeps it, as it keeps any running cluster."""
    if find_engine().engine is not None:
        run_course(state, "cluster", "up", "--backend", "sim")
    with course_lab(state, tmp_path) as url:
        base, token = url.split("?")
        with urllib.request.urlopen(f"{base}/api/contents?{token}", timeout=10) as response:
            names = {item["name"] for item in json.load(response)["content"]}
        assert "00-setup.ipynb" in names
        assert "course-worker" in run_course(state, "cluster", "status").stderr
        disabled = _page_config(f"{base}/lab?{token}")["disabledExtensions"]
        assert set(disabled) >= LEARNERS_DO_NOT_SEE, disabled
        assert "@jupyter/nbgrader:assignment-list" not in disabled
        assert "@jupyter/nbgrader:validate-assignment" not in disabled
    with course_lab(state, tmp_path, "--instructor") as url:
        base, token = url.split("?")
        disabled = _page_config(f"{base}/lab?{token}")["disabledExtensions"]
        assert "@jupyterlab/apputils-extension:announcements" in disabled
        assert not {name for name in disabled if name.startswith("@jupyter/nbgrader")}, disabled


def test_a_failing_test_session_still_stops_its_cluster(tmp_path: Path) -> None:
    """The suite's own cluster is stopped even when the tests using it fail."""
    test_file = tmp_path / "test_fails.py"
    test_file.write_text("def test_fails(sim_cluster):\n    assert False, 'deliberate'\n")
    state = tmp_path / "session-state"
    env = {**outside_xdist(os.environ), "K8S_COURSE_TEST_STATE": str(state)}
    conftest = Path(__file__).with_name("conftest.py")
    text = conftest.read_text().replace("Path(__file__).resolve().parent.parent", repr(str(REPO)))
    (tmp_path / "conftest.py").write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1 and "deliberate" in result.stdout
    assert (state / "kwok").exists() is False
    assert wait_until_gone(state) == []
