"""What ``cluster up --backend kind`` says when the machine is not ready for it, against a real Docker.

Marked ``kind`` through the ``docker_engine`` fixture (skipped when no daemon answers). These run before
``test_kind_cluster`` makes its cluster: with a course cluster present, ``cluster up`` would reuse it.
Each failure must be one ``ERROR:`` line of what is wrong and the command that fixes it, never a traceback.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from course.backends.engine import Engine
from course.backends.kind import (
    KIND_NODE_LABEL,
    NODE_IMAGE_VARIABLE,
    no_privileged_containers_message,
    taken_port_message,
)

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
        # The killed docker commands' requests may still be under way (seen under load, and once in CI, where
        # a node being created outlived `cluster down` and broke every later kind test): down until none is left.
        for _attempt in range(3):
            settle(no_course_cluster)
            down = subprocess.run([*CLUSTER, "down"], capture_output=True, text=True, timeout=300)
            settle(no_course_cluster)
            if not no_course_cluster.containers(KIND_NODE_LABEL):
                break
    assert not no_course_cluster.containers(KIND_NODE_LABEL), down.stderr[-2000:]


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


UNPRIVILEGED_IMAGE = "k8s-course/kind-node:test-no-privileged"
"""An empty image under a node image's name: runc refuses the privileged container before it runs anything."""


@pytest.fixture
def docker_without_privileged_containers(docker_engine: Engine) -> Iterator[Engine]:
    """A second dockerd, started and stopped here, with plain runc as its runtime (the course's daemon here runs
    ``runc-capsafe``): this VM withholds a capability, so runc cannot start a privileged container, as in a
    container or VM that grants less than root's. It has its own socket, data root, exec root and pid file,
    no bridge of its own and no iptables or ip_forward changes, so it cannot touch the course's daemon; kind
    uses a network made here (``KIND_EXPERIMENTAL_DOCKER_NETWORK``), not its ``kind`` network."""
    if os.geteuid() != 0 or not shutil.which("dockerd"):
        pytest.skip("a second Docker daemon needs root and dockerd")
    home = Path(tempfile.mkdtemp(prefix="k8s-course-noprivileged-"))  # short: containerd's socket path lives in it
    endpoint = f"unix://{home}/docker.sock"
    docker = [docker_engine.command, "--host", endpoint]
    daemon = subprocess.Popen(
        ["dockerd", "--host", endpoint, "--data-root", str(home / "data"), "--exec-root", str(home / "exec"),
         "--pidfile", str(home / "dockerd.pid"), "--bridge", "none", "--iptables=false", "--ip6tables=false",
         "--ip-forward=false", "--ip-masq=false"],
        stdout=(home / "dockerd.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([*docker, "version"], capture_output=True).returncode != 0:
            assert daemon.poll() is None, (home / "dockerd.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the second dockerd did not answer in 60 s"
            time.sleep(0.5)
        (home / "rootfs").mkdir()
        subprocess.run(["tar", "-C", str(home / "rootfs"), "-cf", str(home / "empty.tar"), "."], check=True)
        subprocess.run([*docker, "import", "--change", 'ENTRYPOINT ["/sbin/init"]', str(home / "empty.tar"),
                        UNPRIVILEGED_IMAGE], check=True, capture_output=True)  # fmt: skip
        probe = subprocess.run([*docker, "run", "--rm", "--privileged", UNPRIVILEGED_IMAGE], capture_output=True,
                               text=True)  # fmt: skip
        if "unable to apply caps" not in probe.stderr:
            pytest.skip(f"runc starts privileged containers on this host ({probe.stderr.strip()[-200:]})")
        subprocess.run([*docker, "network", "create", "--subnet", "10.213.213.0/24", "course-noprivileged"],
                       check=True, capture_output=True)  # fmt: skip
        yield Engine(name="docker", command=docker_engine.command, endpoint=endpoint)
    finally:
        leftovers = subprocess.run([*docker, "ps", "--all", "--quiet"], capture_output=True, text=True).stdout.split()
        if leftovers:
            subprocess.run([*docker, "rm", "--force", "--volumes", *leftovers], capture_output=True)
        subprocess.run([*docker, "network", "rm", "course-noprivileged"], capture_output=True)  # and its bridge
        daemon.terminate()  # dockerd stops the containerd it started
        daemon.wait(timeout=60)
        shutil.rmtree(home, ignore_errors=True)


def test_a_daemon_without_privileged_containers_is_named_with_the_way_on(
    docker_without_privileged_containers: Engine,
) -> None:
    engine = docker_without_privileged_containers
    result = cluster_up_kind(DOCKER_HOST=engine.endpoint, KIND_EXPERIMENTAL_DOCKER_NETWORK="course-noprivileged",
                             **{NODE_IMAGE_VARIABLE: UNPRIVILEGED_IMAGE})  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    refusal = "unable to apply caps: operation not permitted"
    assert errors == [f"ERROR: {no_privileged_containers_message(engine, refusal)}"], result.stderr
    assert errors[0].endswith("python -m course cluster up --backend sim")
    assert not engine.containers(KIND_NODE_LABEL)  # kind deleted the nodes it had made
