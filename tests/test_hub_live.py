"""A real JupyterHub with the config ``class hub-config`` writes, real Unix users, one student spawned.

It needs root (LocalProcessSpawner starts servers as other users), a course environment every user
can run with JupyterHub in it (``K8S_COURSE_HUB_PYTHON``: e.g. a venv made from ``/usr/bin/python3``
with ``pip install .[hub]``) and configurable-http-proxy from npm (on PATH, or
``K8S_COURSE_HUB_PROXY``); it is skipped otherwise. Everything it makes (users and their homes, the
hub and its proxy, the student's server, the sandboxes) is removed, pass or fail.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from course._toolchain import load_toolchain
from course.classroom import doctor, hub
from course.classroom._hub_spawn import HUB_DATA, KUBECONFIG_IN_HOME, HubData
from course.classroom.roster import Student
from course.classroom.sandboxes import create_sandboxes, delete_sandboxes

from .processes import unix_users

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("sim_cluster")]

STUDENTS = ("hub-ada", "hub-bob")
INSTRUCTOR = "hub-teacher"
CHAPTER = "00-setup"


def _requirements() -> tuple[str, str]:
    """The hub's Python and proxy, or a skip that says what is missing."""
    python = os.environ.get("K8S_COURSE_HUB_PYTHON", "")
    proxy = os.environ.get("K8S_COURSE_HUB_PROXY") or shutil.which("configurable-http-proxy") or ""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd (LocalProcessSpawner starts servers as other users)")
    if not python or hub.closed_to_others(Path(python).resolve().parent) or hub.closed_to_others(Path(python).parent):
        pytest.skip("set K8S_COURSE_HUB_PYTHON to a course environment every user can run, with jupyterhub")
    if not proxy:
        pytest.skip("needs configurable-http-proxy (npm), on PATH or in K8S_COURSE_HUB_PROXY")
    return python, proxy


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder every user can enter (the exchange and the cache live in it)."""
    with tempfile.TemporaryDirectory(prefix="k8s-course-hub-live-") as made:
        os.chmod(made, 0o755)
        yield Path(made)


@pytest.fixture
def users() -> Iterator[list[str]]:
    with unix_users([*STUDENTS, INSTRUCTOR]) as names:
        yield names


@pytest.fixture
def kubeconfigs(folder: Path) -> Iterator[Path]:
    students = [Student(student) for student in STUDENTS]
    target = folder / "kubeconfigs"
    try:
        assert not create_sandboxes(students, [CHAPTER], target).failed
        target.chmod(0o700)
        yield target
    finally:
        delete_sandboxes(students, None)


def _shared_cache(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The course's kubectl in a cache every user can read (root's own is under /root)."""
    source = load_toolchain().bin_dir
    monkeypatch.setenv("K8S_COURSE_CACHE", str(folder / "cache"))
    target = load_toolchain().bin_dir
    target.parent.mkdir(parents=True)
    shutil.copytree(source, target)
    for path in [folder / "cache", target.parent, target]:
        path.chmod(0o755)


def _api(url: str, token: str, method: str = "GET") -> Any:
    request = urllib.request.Request(url, method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=60) as answer:  # a spawn answers after up to 10 s
        body = answer.read()
    return json.loads(body) if body else None


def _until(what: str, seconds: float, probe: Any) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            found = probe()
        except (OSError, urllib.error.URLError):
            found = None
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"{what} within {seconds:.0f}s")


def _processes_of(uid: int) -> list[tuple[int, list[str]]]:
    found = []
    for process in Path("/proc").iterdir():
        try:
            if process.stat().st_uid == uid:
                found.append((int(process.name), (process / "cmdline").read_bytes().decode().split("\0")))
        except (OSError, ValueError):
            continue
    return found


def _resident_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # ended in the meantime
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)


def _start_hub(
    data: HubData, plan: hub.HubPlan, folder: Path, proxy: str, token: str
) -> tuple[subprocess.Popen[bytes], str]:
    """The hub, as root, from the written config plus what a test needs (ports, an API token)."""
    port, hub_port, proxy_port = _free_port(), _free_port(), _free_port()
    config = plan.hub_dir / "jupyterhub_config.py"
    with config.open("a") as extra:  # the file is the admin's to edit: the test does what an admin would
        extra.write(
            f"\nc.JupyterHub.bind_url = 'http://127.0.0.1:{port}'\n"
            f"c.JupyterHub.hub_bind_url = 'http://127.0.0.1:{hub_port}'\n"
            f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{proxy_port}'\n"
            f"c.ConfigurableHTTPProxy.command = [{proxy!r}]\n"
            f"c.JupyterHub.db_url = 'sqlite:///{folder}/hub.sqlite'\n"
            f"c.JupyterHub.cookie_secret_file = '{folder}/cookie_secret'\n"
            f"c.JupyterHub.pid_file = '{folder}/hub.pid'\n"
            "c.Spawner.start_timeout = 180\nc.Spawner.http_timeout = 180\n"
            f"c.JupyterHub.services = [{{'name': 'test', 'api_token': {token!r}}}]\n"
            "c.JupyterHub.load_roles = [{'name': 'test', 'scopes': ['admin:users', 'admin:servers'],"
            " 'services': ['test']}]\n"
        )
    log = (folder / "hub.log").open("wb")
    process = subprocess.Popen(
        [data.python, "-m", "jupyterhub", "-f", str(config)],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PATH": f"{Path(proxy).parent}{os.pathsep}{os.environ['PATH']}"},
    )
    return process, f"http://127.0.0.1:{port}/hub/api"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """The hub and everything in its session: the proxy and (LocalProcessSpawner) the servers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_a_student_spawned_by_the_hub_gets_their_kubeconfig_and_reaches_only_their_own(
    folder: Path, users: list[str], kubeconfigs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python, proxy = _requirements()
    _shared_cache(folder, monkeypatch)
    plan = hub.HubPlan(
        students=[Student(student) for student in STUDENTS],
        instructor=INSTRUCTOR,
        instructor_root=Path(pwd.getpwnam(INSTRUCTOR).pw_dir) / "k8s-course",
        kubeconfigs=kubeconfigs,
        exchange=folder / "exchange",
        hub_dir=folder / "hub",
        jupyter_dir=folder / "jupyter",
    )
    hub.write_hub_config(plan)
    data = dataclasses.replace(HubData.load(plan.hub_dir / HUB_DATA), python=python)
    data.dump(plan.hub_dir / HUB_DATA)
    hub.make_instructor_root(plan, Path(__file__).resolve().parent.parent / "autograder")
    bob = Path(pwd.getpwnam("hub-bob").pw_dir)
    bob.chmod(0o755)  # as useradd leaves it on some systems; hub-config closes it though bob never logs in
    hub.copy_kubeconfigs(data)
    assert stat.S_IMODE(bob.stat().st_mode) == 0o700
    token = secrets.token_hex(16)
    process, api = _start_hub(data, plan, folder, proxy, token)
    ada = pwd.getpwnam("hub-ada")
    try:
        _until("the hub answers", 90, lambda: _api(f"{api}/", token))
        started = time.monotonic()
        _api(f"{api}/users/hub-ada/server", token, "POST")
        _until("ada's server is ready", 180, lambda: _api(f"{api}/users/hub-ada", token)["servers"][""]["ready"])
        spawn = time.monotonic() - started

        home = Path(ada.pw_dir)
        copied = home / KUBECONFIG_IN_HOME
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert (copied.stat().st_uid, stat.S_IMODE(copied.stat().st_mode)) == (ada.pw_uid, 0o600)
        servers = [pid for pid, args in _processes_of(ada.pw_uid) if "jupyterhub.singleuser" in args]
        assert servers, "no server runs as hub-ada"
        memory = sum(_resident_kib(pid) for pid, _ in _processes_of(ada.pw_uid)) / 1024
        print(f"spawn {spawn:.1f}s; {memory:.0f} MiB resident in hub-ada's processes")  # pytest -s shows it
        environment = dict(
            line.split("=", 1)
            for line in Path(f"/proc/{servers[0]}/environ").read_bytes().decode().split("\0")
            if "=" in line
        )
        assert environment["K8S_COURSE_KUBECONFIG"] == str(copied)
        assert environment["K8S_COURSE_LEARNER"] == "hub-ada"
        assert environment["JUPYTER_CONFIG_PATH"] == data.learner_settings  # no Formgrader, no Create Assignment

        checks = {check.what: check for check in doctor.examine("hub-ada", data)}
        wrong = [check.line() for check in checks.values() if not check.ok]
        # The checkout the tests run from is the one exception a test cannot fix: it is readable by design.
        checkout = str(Path(__file__).resolve().parent.parent / "autograder" / "source")
        assert [line for line in wrong if checkout not in line] == []
        assert checks[f"Pods in namespace {Student('hub-ada').namespace(CHAPTER)}"].reached
        assert checks[f"Pods in namespace {Student('hub-bob').namespace(CHAPTER)}"].reached is False
        assert checks[pwd.getpwnam("hub-bob").pw_dir].reached is False
        assert checks[str(plan.instructor_root / "source")].reached is False
        assert any(what.startswith("etcd at ") and check.reached is False for what, check in checks.items())
        _api(f"{api}/users/hub-ada/server", token, "DELETE")
    finally:
        _stop(process)
        print((folder / "hub.log").read_text(errors="replace")[-5000:])  # pytest shows it when the test fails
        for pid, _ in _processes_of(ada.pw_uid):  # a server the hub did not stop in time
            os.kill(pid, signal.SIGKILL)
