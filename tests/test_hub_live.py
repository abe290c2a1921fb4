"""A class on a real JupyterHub: real Unix users, the config ``class hub-config`` writes, the whole flow.

JupyterHub from PyPI and configurable-http-proxy from npm run a class of real Unix users: the
instructor makes the sandboxes and the hub's files with the course's commands and releases chapter
00-setup into the shared exchange; each student's server is spawned through the hub's REST API;
each student fetches, works (as their own user, in their server's environment) and submits through
their server's nbgrader API: one solves everything, one half, one also tries a classmate's
namespace. The instructor collects, grades with ``class grade`` and releases the feedback, which
the students fetch. The test checks the grades, the feedback, the refused attempt and what each
student can reach (``class doctor``). Another student does the same in Chromium's Assignments tab.

It needs root, ``useradd`` and npm (or a course environment every user can run, with JupyterHub:
``K8S_COURSE_HUB_PYTHON``, and ``K8S_COURSE_HUB_PROXY``); without one it makes one
(:mod:`tests.hub_environment`). Everything it makes (users and their homes, the hub, its proxy, the
servers and kernels, the sandboxes, the environment) is removed, pass or fail.
"""

from __future__ import annotations

import contextlib
import csv
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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

from course import checks
from course._paths import kubeconfig_path
from course._toolchain import load_toolchain
from course.classroom import doctor, hub
from course.classroom._hub_spawn import HUB_DATA, KUBECONFIG_IN_HOME, HubData
from course.classroom.roster import Student
from course.classroom.samples import exercises, solve
from course.classroom.sandboxes import delete_sandboxes

from .hub_environment import (
    REPO,
    HubEnvironment,
    given_hub_environment,
    made_ahead_of_time,
    make_hub_environment,
    python_for_everyone,
    why_no_hub,
)
from .processes import unix_users
from .test_browser import CHROMIUM, chromium_page

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("sim_cluster")]

CHAPTER = "00-setup"
INSTRUCTOR = "hub-teacher"
SOLVES = {"hub-ada": "all", "hub-bob": "ex1", "hub-eve": "all"}
"""What each student of the flow solves; hub-eve also tries hub-ada's namespace."""
BROWSER_STUDENT = "hub-cy"
STUDENTS = [*SOLVES, BROWSER_STUDENT]
TRESPASS = f'cluster.core.delete_namespaced_pod("greeter", "{Student("hub-ada").namespace(CHAPTER)}")'
"""hub-eve's extra cell: delete a Pod in hub-ada's namespace."""


@dataclass(frozen=True)
class Classroom:
    folder: Path
    environment: HubEnvironment
    data: HubData
    url: str
    """The hub's public address (the proxy)."""
    token: str
    """A service token that may start servers and call them."""

    @property
    def instructor_root(self) -> Path:
        return Path(self.data.instructor_root)

    def api(self, path: str, method: str = "GET", body: dict[str, str] | None = None) -> Any:
        """Call the hub's REST API (``/hub/api/...``) or a user's server (``/user/NAME/...``)."""
        request = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as answer:  # a fetch or submit answers in seconds
            text = answer.read()
        return json.loads(text) if text else None

    def as_instructor(self, *command: str) -> str:
        """Run a command as the instructor, in their course root, with their server's environment."""
        environment = self.data.environment(INSTRUCTOR, None)
        return as_user(INSTRUCTOR, list(command), environment, self.instructor_root)


def as_user(user: str, command: list[str], environment: dict[str, str], cwd: Path, timeout: float = 600) -> str:
    """Run ``command`` as ``user`` (their uid and group only); its output, or a failure that shows it."""
    account = pwd.getpwnam(user)
    done = subprocess.run(
        command,
        user=account.pw_uid,
        group=account.pw_gid,
        extra_groups=[],
        env={**environment, "HOME": account.pw_dir, "USER": user, "LOGNAME": user},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{' '.join(command)} as {user} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _until(what: str, seconds: float, probe: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            found = probe()
        except (OSError, urllib.error.URLError):
            found = None
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what} within {seconds:.0f}s")


def processes_of(uid: int) -> list[tuple[int, list[str]]]:
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


def server_environment(user: str) -> dict[str, str]:
    """The environment of ``user``'s single-user server, as the hub started it."""
    uid = pwd.getpwnam(user).pw_uid
    servers = [pid for pid, args in processes_of(uid) if "jupyterhub.singleuser" in args]
    assert servers, f"no server runs as {user}"
    lines = Path(f"/proc/{servers[0]}/environ").read_bytes().decode().split("\0")
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _private_checkout(folder: Path) -> Path:
    """The checkout as an admin keeps it for a hub: ``cluster-setup/`` (the versions) for everyone,
    ``autograder/`` (answers, hidden tests) closed (the tests' own checkout is readable by design)."""
    checkout = folder / "checkout"
    shutil.copytree(REPO / "cluster-setup", checkout / "cluster-setup")
    shutil.copytree(REPO / "autograder" / "source", checkout / "autograder" / "source")
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", checkout / "autograder")
    (checkout / "autograder").chmod(0o700)
    return checkout


def _course_command(environment: HubEnvironment, checkout: Path, *args: str) -> None:
    """``python -m course ...`` of the hub's environment, as root (the admin's steps of the README)."""
    done = subprocess.run(
        [str(environment.python), "-m", "course", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "K8S_COURSE_REPO": str(checkout)},
        timeout=600,
    )
    assert done.returncode == 0, f"course {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _shared_cache(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The course's kubectl in a cache every user can read (root's own is under /root)."""
    source = load_toolchain().bin_dir
    monkeypatch.setenv("K8S_COURSE_CACHE", str(folder / "cache"))
    target = load_toolchain().bin_dir
    target.parent.mkdir(parents=True)
    shutil.copytree(source, target)
    for path in [folder / "cache", target.parent, target]:
        path.chmod(0o755)


@contextlib.contextmanager
def _environment(folder: Path) -> Iterator[HubEnvironment]:
    """The given course environment, the one made ahead of time, or one made in ``folder`` (timed: pytest -s
    shows it)."""
    given = given_hub_environment()
    if given is not None:
        if hub.closed_to_others(given.python.parent) or hub.closed_to_others(given.python.resolve().parent):
            pytest.fail(f"K8S_COURSE_HUB_PYTHON={given.python} is under a folder other users cannot enter")
        yield given
        return
    started = time.monotonic()
    made = made_ahead_of_time()
    if made is None:
        python = python_for_everyone()
        assert python is not None, "why_no_hub checks for one"
        made = make_hub_environment(folder, python)
    print(f"hub environment waited for or made in {time.monotonic() - started:.1f}s")
    yield made


def _start_hub(
    data: HubData, hub_dir: Path, folder: Path, proxy: Path, token: str
) -> tuple[subprocess.Popen[bytes], str]:
    """The hub, as root, from the written config plus what a test needs (ports, an API token)."""
    port, hub_port, proxy_port = _free_port(), _free_port(), _free_port()
    config = hub_dir / "jupyterhub_config.py"
    with config.open("a") as extra:  # the file is the admin's to edit: the test does what an admin would
        extra.write(
            f"\nc.JupyterHub.bind_url = 'http://127.0.0.1:{port}'\n"
            f"c.JupyterHub.hub_bind_url = 'http://127.0.0.1:{hub_port}'\n"
            f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{proxy_port}'\n"
            f"c.ConfigurableHTTPProxy.command = [{str(proxy)!r}]\n"
            f"c.JupyterHub.db_url = 'sqlite:///{folder}/hub.sqlite'\n"
            f"c.JupyterHub.cookie_secret_file = '{folder}/cookie_secret'\n"
            f"c.JupyterHub.pid_file = '{folder}/hub.pid'\n"
            "c.Spawner.start_timeout = 180\nc.Spawner.http_timeout = 180\n"
            f"c.JupyterHub.services = [{{'name': 'test', 'api_token': {token!r}}}]\n"
            "c.JupyterHub.load_roles = [{'name': 'test', 'scopes': ['admin:users', 'admin:servers', 'access:servers'],"
            " 'services': ['test']}]\n"
        )
    log = (folder / "hub.log").open("wb")
    process = subprocess.Popen(
        [data.python, "-m", "jupyterhub", "-f", str(config)],
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PATH": f"{proxy.parent}{os.pathsep}{os.environ['PATH']}"},
    )
    return process, f"http://127.0.0.1:{port}"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """The hub and everything in its session: the proxy and (LocalProcessSpawner) the servers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def classroom() -> Iterator[Classroom]:
    """A running hub for the class, set up with the course's commands, 00-setup released."""
    reason = why_no_hub()
    if reason:
        pytest.skip(reason)
    with (
        tempfile.TemporaryDirectory(prefix="k8s-course-hub-live-") as made,
        pytest.MonkeyPatch.context() as monkeypatch,
        unix_users([*STUDENTS, INSTRUCTOR]),
    ):
        folder = Path(made)
        folder.chmod(0o755)  # the environment, the exchange and the cache are in it
        roster = folder / "roster.csv"
        roster.write_text("id,first_name,last_name,email\n" + "".join(f"{student},,,\n" for student in STUDENTS))
        with _environment(folder) as environment:
            _shared_cache(folder, monkeypatch)
            jupyter_dir = environment.python.parent.parent / "etc" / "jupyter"  # read by every user of it
            created_config = not (jupyter_dir / "nbgrader_config.py").exists()
            instructor_root = Path(pwd.getpwnam(INSTRUCTOR).pw_dir) / "k8s-course"
            process = None
            checkout = _private_checkout(folder)
            try:
                _course_command(
                    environment, checkout, "class", "--course-root", str(instructor_root), "sandbox", "create",
                    "--roster", str(roster), "--chapter", CHAPTER,
                )  # fmt: skip
                _course_command(
                    environment, checkout, "class", "hub-config", "--roster", str(roster), "--instructor", INSTRUCTOR,
                    "--hub-dir", str(folder / "hub"), "--exchange", str(folder / "exchange"),
                    "--jupyter-dir", str(jupyter_dir),
                )  # fmt: skip
                data = HubData.load(folder / "hub" / HUB_DATA)
                token = secrets.token_hex(16)
                process, url = _start_hub(data, folder / "hub", folder, environment.proxy, token)
                room = Classroom(folder, environment, data, url, token)
                _until("the hub answers", 90, lambda: room.api("/hub/api/"))
                nbgrader = str(Path(data.python).parent / "nbgrader")
                room.as_instructor(nbgrader, "generate_assignment", CHAPTER)
                room.as_instructor(nbgrader, "release_assignment", CHAPTER)
                yield room
            finally:
                if process is not None:
                    _stop(process)
                    print((folder / "hub.log").read_text(errors="replace")[-5000:])  # shown when a test fails
                for user in [*STUDENTS, INSTRUCTOR]:  # a server or kernel the hub did not stop in time
                    for pid, _ in processes_of(pwd.getpwnam(user).pw_uid):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                delete_sandboxes([Student(student) for student in STUDENTS], None)
                if created_config:
                    (jupyter_dir / "nbgrader_config.py").unlink(missing_ok=True)


def _points(source: nbformat.NotebookNode, solved: list[str]) -> float:
    """The points of the exercises ``solved``, from the graded cells' metadata."""
    return sum(
        float(cell.metadata["nbgrader"]["points"])
        for cell in source.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
        and cell.metadata["nbgrader"]["grade_id"].split("-")[0] in solved
    )


def _spawn(room: Classroom, students: list[str]) -> dict[str, float]:
    """Ask the hub for every student's server at once; seconds until each was ready."""
    started = time.monotonic()
    for student in students:
        room.api(f"/hub/api/users/{student}/server", "POST")
    ready: dict[str, float] = {}
    deadline = started + 240
    while len(ready) < len(students) and time.monotonic() < deadline:
        for student in set(students) - set(ready):
            if room.api(f"/hub/api/users/{student}")["servers"].get("", {}).get("ready"):
                ready[student] = time.monotonic() - started
        time.sleep(0.5)
    assert set(ready) == set(students), f"ready: {ready}; see the hub's log below"
    return ready


def _work(room: Classroom, student: str, notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``student`` runs ``notebook`` as themselves, in their server's environment; the executed notebook."""
    home = Path(pwd.getpwnam(student).pw_dir)
    path = home / CHAPTER / f"{CHAPTER}.ipynb"
    nbformat.write(notebook, path)  # what they typed; still theirs (the fetch made it)
    as_user(
        student,
        [
            str(Path(room.data.python).parent / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
            "--inplace", "--ExecutePreprocessor.allow_errors=True", "--ExecutePreprocessor.timeout=180", path.name,
        ],
        server_environment(student),
        path.parent,
    )  # fmt: skip
    executed: nbformat.NotebookNode = nbformat.read(path, as_version=4)
    return executed


def _outputs(notebook: nbformat.NotebookNode, source: str) -> str:
    """Every output of the code cell with ``source``, as text."""
    (cell,) = [cell for cell in notebook.cells if cell.source == source]
    return json.dumps(cell.outputs)


def _assignment(room: Classroom, student: str, action: str) -> Any:
    """``student``'s server does ``action`` (fetch, submit, fetch_feedback), as the Assignments tab would."""
    answer = room.api(
        f"/user/{student}/assignments/{action}", "POST", {"course_id": hub.COURSE_ID, "assignment_id": CHAPTER}
    )
    assert isinstance(answer, dict) and answer.get("success"), f"{action} as {student}: {answer}"
    return answer["value"]


def _grading_logs(course_root: Path) -> str:
    """The end of every log of the class grader's jobs, to show when a grade is not what it should be."""
    logs = sorted((course_root / "classroom" / "runs").glob("*/jobs/*/*.log"))
    return "\n".join(f"== {log}\n{log.read_text(errors='replace')[-2500:]}" for log in logs)


def _pods(namespace: str) -> dict[str, str]:
    """Name → uid of the Pods in ``namespace`` (a Pod deleted and made again has another uid)."""
    return {pod["metadata"]["name"]: pod["metadata"]["uid"] for pod in checks.objects("Pod", namespace)}


def test_a_class_fetches_works_submits_and_gets_its_grades_through_the_hub(classroom: Classroom) -> None:
    room, flow = classroom, list(SOLVES)
    started = time.monotonic()
    spawned = _spawn(room, flow)
    memory = {
        student: sum(_resident_kib(pid) for pid, _ in processes_of(pwd.getpwnam(student).pw_uid)) / 1024
        for student in flow
    }
    for student in flow:
        account, environment = pwd.getpwnam(student), server_environment(student)
        home, copied = Path(account.pw_dir), Path(account.pw_dir) / KUBECONFIG_IN_HOME
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert (copied.stat().st_uid, stat.S_IMODE(copied.stat().st_mode)) == (account.pw_uid, 0o600)
        assert environment["K8S_COURSE_KUBECONFIG"] == str(copied)
        assert environment["K8S_COURSE_LEARNER"] == student
        assert environment["JUPYTER_CONFIG_PATH"] == room.data.learner_settings  # no Formgrader, no Create Assignment
        (fetched,) = [item for item in _assignment(room, student, "fetch") if item["status"] == "fetched"]
        assert fetched["assignment_id"] == CHAPTER
        assert (home / CHAPTER / f"{CHAPTER}.ipynb").stat().st_uid == account.pw_uid

    source = nbformat.read(room.instructor_root / "source" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    released = nbformat.read(room.instructor_root / "release" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    solved = {student: exercises(source) if what == "all" else [what] for student, what in SOLVES.items()}
    notebooks = {student: solve(released, source, solved[student]) for student in flow}
    notebooks["hub-eve"].cells.append(nbformat.v4.new_code_cell(TRESPASS))
    with ThreadPoolExecutor(2) as pool:  # the two who stay in their own namespaces work at once
        executed = dict(
            zip(
                ["hub-ada", "hub-bob"],
                pool.map(lambda s: _work(room, s, notebooks[s]), ["hub-ada", "hub-bob"]),
                strict=True,
            )
        )
    ada_namespace = Student("hub-ada").namespace(CHAPTER)
    ada_pods = _pods(ada_namespace)
    executed["hub-eve"] = _work(room, "hub-eve", notebooks["hub-eve"])
    refused = _outputs(executed["hub-eve"], TRESPASS)
    assert "403" in refused and "Forbidden" in refused, refused
    assert ada_pods and _pods(ada_namespace) == ada_pods  # eve's attempt changed nothing of ada's
    for student in flow:
        _assignment(room, student, "submit")

    nbgrader = str(Path(room.data.python).parent / "nbgrader")
    room.as_instructor(nbgrader, "collect", CHAPTER)
    assert sorted(path.name for path in (room.instructor_root / "submitted").iterdir()) == sorted(flow)
    grading = time.monotonic()
    _course_command(
        room.environment, Path(room.data.repo), "class", "--course-root", str(room.instructor_root), "grade", CHAPTER
    )
    grading = time.monotonic() - grading
    with (room.instructor_root / "classroom" / f"{CHAPTER}-grades.csv").open() as report:
        rows = list(csv.DictReader(report))
    grades = {row["student"]: (row["status"], float(row["score"]), float(row["max_score"])) for row in rows}
    total = _points(source, exercises(source))
    assert grades == {student: ("graded", _points(source, solved[student]), total) for student in flow}, (
        rows,
        _grading_logs(room.instructor_root),
    )

    room.as_instructor(nbgrader, "release_feedback", CHAPTER)
    for student in flow:
        _assignment(room, student, "fetch_feedback")
        (feedback,) = (Path(pwd.getpwnam(student).pw_dir) / CHAPTER / "feedback").glob(f"*/{CHAPTER}.html")
        text = feedback.read_text()
        assert f"{CHAPTER} (Score: {_points(source, solved[student])} / {total})" in text
        assert feedback.stat().st_uid == pwd.getpwnam(student).pw_uid
    eve_feedback = next((Path(pwd.getpwnam("hub-eve").pw_dir) / CHAPTER / "feedback").glob(f"*/{CHAPTER}.html"))
    assert "403" in eve_feedback.read_text()  # the grader ran her attempt with her rights: refused again

    for student in flow:
        checks = {check.what: check for check in doctor.examine(student, room.data)}
        assert [check.line() for check in checks.values() if not check.ok] == []
        assert checks[str(Path(room.data.repo) / "autograder" / "source")].reached is False
        assert checks[f"Pods in namespace {Student(student).namespace(CHAPTER)}"].reached
        assert checks[str(room.instructor_root / "source")].reached is False
        assert checks[str(room.instructor_root / "gradebook.db")].reached is False  # it exists now
        assert checks[room.data.kubeconfigs].reached is False
        assert checks[str(kubeconfig_path())].reached is False
        for other in set(flow) - {student}:
            assert checks[f"Pods in namespace {Student(other).namespace(CHAPTER)}"].reached is False
            assert checks[pwd.getpwnam(other).pw_dir].reached is False
        assert any(what.startswith("etcd at ") and check.reached is False for what, check in checks.items())
    for student in flow:
        room.api(f"/hub/api/users/{student}/server", "DELETE")
    print(
        "spawn (3 at once): " + ", ".join(f"{student} {seconds:.1f}s" for student, seconds in spawned.items())
        + "; resident: " + ", ".join(f"{student} {mib:.0f} MiB" for student, mib in memory.items())
        + f"; class grade {grading:.1f}s; the whole flow {time.monotonic() - started:.1f}s"
    )  # fmt: skip


@pytest.mark.browser
def test_a_student_fetches_validates_and_submits_in_chromiums_assignments_tab(
    classroom: Classroom, tmp_path: Path
) -> None:
    """Logged in through the hub's login page (PAM, their Unix password), in JupyterLab's Assignments panel."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed here (apt-get install -y chromium could not run)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    room, password = classroom, secrets.token_urlsafe(16)
    subprocess.run(["chpasswd"], input=f"{BROWSER_STUDENT}:{password}\n", text=True, check=True)
    notebook = room.instructor_root / "release" / CHAPTER / f"{CHAPTER}.ipynb"
    source = nbformat.read(room.instructor_root / "source" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    solved = solve(nbformat.read(notebook, as_version=4), source, exercises(source))
    fetched = Path(pwd.getpwnam(BROWSER_STUDENT).pw_dir) / CHAPTER / f"{CHAPTER}.ipynb"
    with chromium_page(tmp_path, "; the hub's log is printed at the end") as page:
        page.goto(f"{room.url}/hub/login", timeout=60_000)
        page.fill("#username_input", BROWSER_STUDENT)
        page.fill("#password_input", password)
        page.click("#login_submit")
        page.wait_for_url(f"**/user/{BROWSER_STUDENT}/lab**", timeout=240_000)  # the hub spawns the server
        page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click(timeout=120_000)
        page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
        page.locator("#released_assignments_list button", has_text="Fetch").click(timeout=60_000)
        page.locator("#fetched_assignments_list a.assignment-notebooks-link").click(timeout=60_000)  # its notebooks
        nbformat.write(solved, fetched)  # what the student typed, in the file the fetch made theirs
        page.locator("#fetched_assignments_list button", has_text="Validate").click()
        results = page.wait_for_selector(".nbgrader-SuccessDialog #validation-message", timeout=240_000)
        assert results is not None and "Success!" in results.inner_text(), results and results.inner_text()
        page.locator(".nbgrader-SuccessDialog .jp-Dialog-button.jp-mod-accept").click()
        assert page.locator("#fetched_assignments_list button.btn-success", has_text="Validate").count() == 1
        page.locator("#fetched_assignments_list button", has_text="Submit").click()
        page.wait_for_selector(f"#submitted_assignments_list .list_item:has-text('{CHAPTER}')", timeout=60_000)
    room.as_instructor(str(Path(room.data.python).parent / "nbgrader"), "collect", CHAPTER)
    collected = room.instructor_root / "submitted" / BROWSER_STUDENT / CHAPTER / f"{CHAPTER}.ipynb"
    assert [cell.source for cell in nbformat.read(collected, as_version=4).cells] == [
        cell.source for cell in solved.cells
    ]
