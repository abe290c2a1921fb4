"""A class on a JupyterHub (issue 18): ``class hub-config``, ``class doctor``, the exchange, rotation, the wheel.

Most tests need neither a hub nor a cluster: they write the hub's files into a temporary folder, load
the written ``jupyterhub_config.py`` as JupyterHub would and call its spawn hook with a stand-in
spawner. The doctor's probes run against the session's sim cluster; one test runs them as a real
Unix user it creates and deletes; one builds the wheel and lists what students would install.
"""

from __future__ import annotations

import doctest
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from course._client import api_client
from course._errors import CourseError
from course._toolchain import load_toolchain
from course.classroom import doctor, hub
from course.classroom._hub_spawn import HUB_DATA, KUBECONFIG_IN_HOME, HubData, install_kubeconfig
from course.classroom.exchange import global_exchange_root
from course.classroom.roster import Student
from course.classroom.sandboxes import create_sandboxes, delete_sandboxes
from course.cli import main

from .hub_environment import copy_course_source
from .processes import unix_users as made_unix_users

REPO = Path(__file__).resolve().parent.parent
CHAPTER = "00-setup"
ME = pwd.getpwuid(os.getuid())

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: TOKEN}}]
contexts: [{name: k8s-course, context: {cluster: c, user: u}}]
current-context: k8s-course
"""


def _kubeconfig(path: Path, token: str) -> Path:
    path.write_text(KUBECONFIG.replace("TOKEN", token))
    return path


def _account(name: str, home: Path) -> pwd.struct_passwd:
    """A stand-in for ``name``'s account: this process's uid, a home in the test's folder."""
    return pwd.struct_passwd((name, "x", ME.pw_uid, ME.pw_gid, "", str(home), "/bin/sh"))


def _plan(tmp_path: Path, students: tuple[str, ...] = ("ada", "bob")) -> hub.HubPlan:
    return hub.HubPlan(
        students=[Student(student) for student in students],
        instructor=ME.pw_name,
        instructor_root=tmp_path / "teacher" / "k8s-course",
        kubeconfigs=tmp_path / "kubeconfigs",
        exchange=tmp_path / "srv" / "exchange",
        hub_dir=tmp_path / "etc" / "jupyterhub",
        jupyter_dir=tmp_path / "etc" / "jupyter",
    )


def _exchange_seen_by_nbgrader(monkeypatch: pytest.MonkeyPatch, config_path: Path | None) -> str:
    """``Exchange.root`` after the course root's config, as nbgrader reads it last, with ``config_path``
    as the machine's global config folder."""
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(config_path or REPO / "no-such-folder"))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(REPO / "no-such-folder"))
    loaded = PyFileConfigLoader("nbgrader_config.py", path=str(REPO / "autograder")).load_config()
    return str(loaded.Exchange.root)


def test_a_global_exchange_is_not_overridden_by_the_course_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _exchange_seen_by_nbgrader(monkeypatch, None) == str(REPO / "autograder" / "exchange")
    (tmp_path / "nbgrader_config.py").write_text('c.Exchange.root = "/srv/nbgrader/exchange"\n')
    assert _exchange_seen_by_nbgrader(monkeypatch, tmp_path) == "/srv/nbgrader/exchange"
    monkeypatch.setenv("K8S_COURSE_EXCHANGE", "/srv/other")
    assert _exchange_seen_by_nbgrader(monkeypatch, tmp_path) == "/srv/other"


def test_hub_config_writes_the_hub_nbgrader_and_the_instructors_private_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("id,first_name\nada,Ada\nno-account-here,Bob\n")
    plan = _plan(tmp_path)
    command = [
        "class",
        "hub-config",
        "--roster",
        str(roster),
        "--instructor",
        ME.pw_name,
        "--instructor-root",
        str(plan.instructor_root),
        "--hub-dir",
        str(plan.hub_dir),
        "--jupyter-dir",
        str(plan.jupyter_dir),
        "--exchange",
        str(plan.exchange),
    ]
    main(command)
    said = capsys.readouterr().err
    assert f" ✓ Writing {plan.hub_dir / 'jupyterhub_config.py'} for 2 students" in said
    assert "no Unix user yet (useradd -m ID): ada, no-account-here" in said
    assert said.splitlines()[-1].startswith("Next: ")

    data = HubData.load(plan.hub_dir / HUB_DATA)
    assert data.allowed_users == {"ada", "no-account-here", ME.pw_name}
    assert data.kubeconfigs == str(plan.instructor_root / "classroom" / "kubeconfigs")
    assert stat.S_IMODE((plan.hub_dir / HUB_DATA).stat().st_mode) == 0o600
    assert global_exchange_root([plan.jupyter_dir]) == str(plan.exchange)
    assert stat.S_IMODE(plan.exchange.stat().st_mode) == 0o777
    assert stat.S_IMODE(plan.instructor_root.stat().st_mode) == 0o700
    assert (plan.instructor_root / "source" / CHAPTER / f"{CHAPTER}.ipynb").is_file()

    # Again, after the admin edited the hub's config and the instructor changed a notebook: both are kept.
    (plan.hub_dir / "jupyterhub_config.py").write_text("# edited\n")
    (plan.instructor_root / "source" / CHAPTER / f"{CHAPTER}.ipynb").write_text("{}")
    main(command)
    assert (plan.hub_dir / "jupyterhub_config.py").read_text() == "# edited\n"
    assert (plan.instructor_root / "source" / CHAPTER / f"{CHAPTER}.ipynb").read_text() == "{}"


def test_hub_config_refuses_a_global_nbgrader_config_with_another_exchange(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    plan.jupyter_dir.mkdir(parents=True)
    (plan.jupyter_dir / "nbgrader_config.py").write_text('c.Exchange.root = "/elsewhere"\n')
    with pytest.raises(CourseError, match="already sets the exchange to /elsewhere"):
        hub.write_nbgrader_config(plan)


def _load_hub_config(plan: hub.HubPlan) -> Config:
    """``jupyterhub_config.py`` as JupyterHub loads it."""
    hub.write_hub_config(plan)
    return PyFileConfigLoader("jupyterhub_config.py", path=str(plan.hub_dir)).load_config()


def test_the_spawn_hook_gives_a_student_a_private_home_their_kubeconfig_and_the_learners_lab(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plan = _plan(tmp_path)
    config = _load_hub_config(plan)
    assert config.Spawner.cmd == [sys.executable, "-m", "jupyterhub.singleuser"]
    assert config.Authenticator.allowed_users == {"ada", "bob", ME.pw_name}
    homes = {name: tmp_path / "home" / name for name in ("ada", "bob", ME.pw_name)}
    monkeypatch.setattr("course.classroom._hub_spawn.pwd.getpwnam", lambda name: _account(name, homes[name]))
    homes["ada"].mkdir(parents=True, mode=0o755)
    plan.kubeconfigs.mkdir()
    _kubeconfig(plan.kubeconfigs / "ada.kubeconfig", "ada-token")

    spawner = SimpleNamespace(user=SimpleNamespace(name="ada"), environment={})
    config.Spawner.pre_spawn_hook(spawner)
    copied = homes["ada"] / KUBECONFIG_IN_HOME
    assert stat.S_IMODE(homes["ada"].stat().st_mode) == 0o700
    assert stat.S_IMODE(copied.stat().st_mode) == 0o600
    assert "ada-token" in copied.read_text()
    assert spawner.environment["K8S_COURSE_KUBECONFIG"] == str(copied)
    assert spawner.environment["K8S_COURSE_LEARNER"] == "ada"
    assert spawner.environment["JUPYTER_CONFIG_PATH"].endswith("course/jupyter/learner")
    assert spawner.environment["K8S_COURSE_CACHE"]
    assert spawner.environment["K8S_COURSE_REPO"] == str(REPO)  # a wheel has no cluster-setup/versions.yaml

    with pytest.raises(CourseError, match="No kubeconfig for bob"):
        config.Spawner.pre_spawn_hook(SimpleNamespace(user=SimpleNamespace(name="bob"), environment={}))

    teacher = SimpleNamespace(user=SimpleNamespace(name=ME.pw_name), environment={})
    config.Spawner.pre_spawn_hook(teacher)
    assert teacher.environment["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [
        str(REPO / "course" / "jupyter" / "instructor"),
        str(plan.instructor_root),
    ]
    assert "K8S_COURSE_LEARNER" not in teacher.environment


def test_a_replaced_kubeconfig_gives_clients_made_before_its_new_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """After ``sandbox revoke`` and ``create``, ``hub-config`` copies the new kubeconfigs into the homes:
    a notebook's client, made before, must use the new token without a restart."""
    home = tmp_path / "home"
    home.mkdir()
    owner = _account("ada", home)
    installed = install_kubeconfig(_kubeconfig(tmp_path / "old", "old-token"), owner)
    monkeypatch.setenv("K8S_COURSE_KUBECONFIG", str(installed))
    api = api_client()
    for _ in range(2):  # the kubernetes loader's own hook, run by the first request, must not push ours out
        assert api.configuration.get_api_key_with_prefix("BearerToken") == "Bearer old-token"
    install_kubeconfig(_kubeconfig(tmp_path / "new", "new-token"), owner)
    assert api.configuration.get_api_key_with_prefix("BearerToken") == "Bearer new-token"


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temporary folder every user can enter (pytest's own are under a folder of the user's only)."""
    with tempfile.TemporaryDirectory(prefix="k8s-course-hub-") as folder:
        os.chmod(folder, 0o755)
        yield Path(folder)


def test_shared_problems_name_what_other_users_cannot_enter_and_readable_answers(open_tmp: Path) -> None:
    tmp_path = open_tmp
    closed = tmp_path / "root-only"
    (closed / "bin").mkdir(parents=True)
    closed.chmod(0o700)
    answers = tmp_path / "checkout" / "autograder"
    (answers / "source").mkdir(parents=True, mode=0o755)
    data = _plan(tmp_path).data()
    data = HubData(**{**data.__dict__, "python": str(closed / "bin" / "python")})
    problems = hub.shared_problems(data, answers)
    assert any(problem.startswith(f"the course's Python is under {closed},") for problem in problems)
    assert any(problem.startswith(f"every user can read the answers in {answers / 'source'}") for problem in problems)
    answers.chmod(0o700)
    assert not any("answers" in problem for problem in hub.shared_problems(data, answers))


@pytest.fixture(scope="module")
def two_students(sim_cluster: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Sandboxes and kubeconfigs for two students of the session's cluster."""
    folder = tmp_path_factory.mktemp("kubeconfigs")
    students = [Student("doc-ada"), Student("doc-bob")]
    report = create_sandboxes(students, [CHAPTER], folder)
    assert not report.failed
    yield report.kubeconfigs
    delete_sandboxes(students, None)


def test_the_doctor_finds_a_student_reaches_their_namespace_and_not_etcd_or_anothers(
    two_students: dict[str, Path],
) -> None:
    ada, bob = Student("doc-ada"), Student("doc-bob")
    request = doctor.ProbeRequest(
        kubeconfig=str(two_students[ada.id]),
        kubectl=str(load_toolchain().bin_dir / "kubectl"),
        namespaces={ada.namespace(CHAPTER): True, bob.namespace(CHAPTER): False, "kube-system": False},
    )
    checks = doctor.run_probes(request)
    assert [check.line() for check in checks if not check.ok] == []
    assert any(check.what.startswith("etcd at ") and check.reached is False for check in checks)
    # The control: with bob's kubeconfig, ada's namespace is refused, and the doctor says so.
    wrong = doctor.run_probes(doctor.ProbeRequest(**{**request.__dict__, "kubeconfig": str(two_students[bob.id])}))
    assert f" ✗ Pods in namespace {ada.namespace(CHAPTER)}: no, should be yes (403 Forbidden)" in [
        check.line() for check in wrong
    ]


@pytest.fixture
def unix_users() -> Iterator[list[str]]:
    """Two real Unix users with homes, removed afterwards whatever happens."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd to make Unix users")
    with made_unix_users(["doc-ada", "doc-bob"]) as names:
        yield names


@pytest.mark.slow
def test_the_doctor_as_root_probes_as_the_students_unix_user(
    two_students: dict[str, Path], unix_users: list[str], tmp_path: Path
) -> None:
    plan = hub.HubPlan(**{**_plan(tmp_path, tuple(unix_users)).__dict__, "kubeconfigs": two_students["doc-ada"].parent})
    data = hub.write_hub_config(plan)
    assert hub.copy_kubeconfigs(data).copied == unix_users
    checks = doctor.examine("doc-ada", data)
    blocked = hub.closed_to_others(Path(data.python).resolve().parent)
    if blocked is not None:  # e.g. a venv made from a Python under /root: the student's server cannot start
        assert [check.what for check in checks] == ["the course's Python"]
        assert not checks[0].ok and "Permission denied" in checks[0].detail
        return
    lines = {check.what: check.line() for check in checks}
    # What this machine itself gets wrong for a hub (a fresh HOME of 0700 holding the binary cache, a
    # checkout anyone may read) the doctor must name, and nothing else.
    machine_faults = set()
    if hub.closed_to_others(Path(data.cache)) is not None:
        machine_faults.add("the course's kubectl")
    answers = Path(data.repo) / "autograder" / "source"
    if hub.readable_by_others(answers):
        machine_faults.add(str(answers))
    assert {what for what, line in lines.items() if " ✗ " in line} == machine_faults, lines
    assert lines[str(Path(pwd.getpwnam("doc-bob").pw_dir))].endswith(": no (permission denied)")
    assert lines[str(plan.kubeconfigs)].endswith(": no (permission denied)")


@pytest.mark.slow
def test_the_wheel_students_install_holds_no_answers(tmp_path: Path) -> None:
    """``pip install .`` ships the package only: no course root, notebooks, gradebook or hidden tests."""
    source = copy_course_source(tmp_path / "source")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        texts = [archive.read(name).decode(errors="replace") for name in names]
    assert {name.split("/")[0] for name in names} == {"course", wheel.name.split("-")[0] + "-0.1.0.dist-info"}
    assert not [name for name in names if name.endswith((".ipynb", ".db")) or "autograder" in name]
    assert not [name for name, text in zip(names, texts, strict=True) if "### BEGIN HIDDEN TESTS\n" in text]
    assert "course/classroom/hub-files/jupyterhub_config.py" in names


@pytest.mark.parametrize("module", [doctor, sys.modules["course.classroom.exchange"]])
def test_the_examples_in_the_docstrings_hold(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0


def test_the_doctor_says_in_one_line_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("as root the doctor reads the hub's data file")
    plan = _plan(tmp_path)
    assert main(["class", "doctor", "--student", "ada", "--hub-dir", str(plan.hub_dir)]) == 1
    assert capsys.readouterr().err == (
        f"ERROR: No {plan.hub_dir / HUB_DATA}: run python -m course class hub-config first.\n"
    )
    hub.write_hub_config(plan)
    assert main(["class", "doctor", "--student", "zed", "--hub-dir", str(plan.hub_dir)]) == 1
    assert capsys.readouterr().err == (
        "ERROR: zed is not on the hub's roster: run class hub-config with a roster with them.\n"
    )


def test_hub_config_without_the_rights_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def refused(plan: hub.HubPlan) -> None:
        raise PermissionError(13, "Permission denied", str(plan.hub_dir))

    monkeypatch.setattr(hub, "write_hub_config", refused)
    roster = tmp_path / "roster.csv"
    roster.write_text("ada\n")
    hub_dir = tmp_path / "etc"
    command = ["class", "hub-config", "--roster", str(roster), "--instructor", ME.pw_name, "--hub-dir", str(hub_dir)]
    assert main(command) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"ERROR: No permission to change {hub_dir}: run class hub-config as root."
    )


def _refused(request: Callable[[], object], seconds: float = 30) -> int:
    """The status the API server refuses ``request`` with, once it does (it trusts a token it has just
    accepted for ten more seconds)."""
    from kubernetes.client.exceptions import ApiException

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            request()
        except ApiException as error:
            return int(error.status)
        time.sleep(1)
    raise AssertionError(f"still accepted after {seconds:.0f}s")


def test_after_revoke_and_create_a_running_notebooks_client_works_once_hub_config_copies_again(
    sim_cluster: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The README's rotation, against the API server: 401 between ``revoke`` and the copy, then the
    same client (a notebook's ``cluster``, made before) works with the new token, no restart."""
    from kubernetes import client

    from course.classroom.sandboxes import revoke_sessions

    student = Student("doc-cy")
    home = tmp_path / "home"
    home.mkdir()
    owner = _account(student.id, home)
    try:
        first = create_sandboxes([student], [CHAPTER], tmp_path / "first").kubeconfigs[student.id]
        installed = install_kubeconfig(first, owner)
        monkeypatch.setenv("K8S_COURSE_KUBECONFIG", str(installed))
        pods = client.CoreV1Api(api_client())
        pods.list_namespaced_pod(student.namespace(CHAPTER))
        with monkeypatch.context() as admin:  # revoke and create need the instructor's rights
            admin.delenv("K8S_COURSE_KUBECONFIG")
            revoke_sessions([student])
            second = create_sandboxes([student], [CHAPTER], tmp_path / "second").kubeconfigs[student.id]
        assert _refused(lambda: pods.list_namespaced_pod(student.namespace(CHAPTER))) == 401
        install_kubeconfig(second, owner)
        pods.list_namespaced_pod(student.namespace(CHAPTER))
    finally:
        monkeypatch.delenv("K8S_COURSE_KUBECONFIG", raising=False)
        delete_sandboxes([student], None)
