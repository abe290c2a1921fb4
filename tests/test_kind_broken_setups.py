"""What ``cluster up --backend kind`` says when the machine is not ready for it, against a real Docker.

Marked ``kind`` through the ``docker_engine`` fixture (skipped when no daemon answers). These run before
``test_kind_cluster`` makes its cluster: with a course cluster present, ``cluster up`` would reuse it.
Each failure must be one ``ERROR:`` line of what is wrong and the command that fixes it, never a traceback.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course.backends.engine import Engine
from course.backends.kind import KIND_NODE_LABEL, NODE_IMAGE_VARIABLE, taken_port_message

CLUSTER = [sys.executable, "-m", "course", "cluster"]


def cluster_up_kind(**environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLUSTER, "up", "--backend", "kind"], env={**os.environ, **environment}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


@pytest.fixture
def no_course_cluster(docker_engine: Engine) -> Engine:
    if docker_engine.containers(KIND_NODE_LABEL):
        pytest.skip("a kind course cluster exists already, and cluster up would reuse it")
    return docker_engine


def test_docker_installed_but_not_answering_says_how_to_start_it(docker_engine: Engine, tmp_path: Path) -> None:
    result = cluster_up_kind(DOCKER_HOST=f"unix://{tmp_path}/docker.sock")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"ERROR: The kind backend needs a running container engine: Docker is installed, but no engine answers " \
           f"at unix://{tmp_path}/docker.sock (no such socket)" in result.stderr  # fmt: skip
    assert "sudo systemctl start docker" in result.stderr
    assert "python -m course cluster up --backend sim" in result.stderr


def test_a_node_image_that_is_not_there_is_named_with_the_command_that_builds_it(no_course_cluster: Engine) -> None:
    result = cluster_up_kind(**{NODE_IMAGE_VARIABLE: "k8s-course/kind-node:v0.0.0-missing"})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        f"ERROR: The node image k8s-course/kind-node:v0.0.0-missing ({NODE_IMAGE_VARIABLE}) is not in "
        f"{no_course_cluster.label}." in result.stderr
    )
    assert "python cluster-setup/kind/node-image/build.py" in result.stderr
    assert not no_course_cluster.containers(KIND_NODE_LABEL)  # refused before anything was created


def settle(engine: Engine, quiet: float = 5.0, timeout: float = 120.0) -> None:
    """Wait until the course's node containers stop changing: the engine still carries out the requests of
    docker commands that were killed, as a learner who comes back later would find it done."""
    deadline = time.monotonic() + timeout
    seen, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = sorted((c.name, c.state) for c in engine.containers(KIND_NODE_LABEL))
        if now != seen:
            seen, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.5)


def test_a_cluster_whose_creation_was_killed_is_named_with_the_recreate_command(no_course_cluster: Engine) -> None:
    """``cluster up`` killed while kind creates the nodes (a closed terminal, a Ctrl-C): the next ``cluster up``
    says at once that the cluster is broken and how to replace it, instead of waiting for an API server."""
    creating = subprocess.Popen([*CLUSTER, "up", "--backend", "kind"], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not no_course_cluster.containers(KIND_NODE_LABEL):
            assert creating.poll() is None, "cluster up ended before kind made a node"
            assert time.monotonic() < deadline, "kind made no node in 300 s"
            time.sleep(0.5)
        os.killpg(creating.pid, signal.SIGKILL)  # the CLI, kind and the docker commands kind runs
        creating.wait()
        settle(no_course_cluster)
        started = time.monotonic()
        result = cluster_up_kind()
        assert result.returncode == 1, result.stderr
        assert "ERROR: A kind cluster called 'course' exists, but it does not work:" in result.stderr
        assert "python -m course cluster up --backend kind --recreate" in result.stderr
        assert time.monotonic() - started < 60, "the broken cluster was waited for"
    finally:
        if creating.poll() is None:
            os.killpg(creating.pid, signal.SIGKILL)
        settle(no_course_cluster)  # the killed docker commands' requests may still be under way (seen under load)
        subprocess.run([*CLUSTER, "down"], capture_output=True, timeout=300)
        settle(no_course_cluster)
    assert not no_course_cluster.containers(KIND_NODE_LABEL)


def test_a_host_port_taken_without_answering_is_named_at_once_and_leaves_no_node(no_course_cluster: Engine) -> None:
    """Port 80 held by a socket that is bound but does not listen: ``cluster up`` sees nothing answer there
    and keeps 80 (it moves to 8080 only when something answers), so Docker cannot publish it. One line
    names the port and the fix, and kind leaves no node behind."""
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 80))
    except OSError as error:  # not root, or port 80 really in use
        holder.close()
        pytest.skip(f"cannot hold 127.0.0.1:80 here: {error}")
    try:
        started = time.monotonic()
        result = cluster_up_kind()
        took = time.monotonic() - started
    finally:
        holder.close()
        if no_course_cluster.containers(KIND_NODE_LABEL):
            subprocess.run([*CLUSTER, "down"], capture_output=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert errors == [f"ERROR: {taken_port_message(80)}"], result.stderr
    assert took < 60, f"cluster up took {took:.0f} s to fail"
    assert not no_course_cluster.containers(KIND_NODE_LABEL)
