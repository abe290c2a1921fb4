"""A course environment every user of the machine can run, for the tests that start a real JupyterHub.

A hub's servers run as the students' Unix users, so the course's Python, its packages and
configurable-http-proxy must sit where anyone may enter: this machine's ``.venv`` (made from a
Python under ``/root``, 0700) cannot serve. :func:`make_hub_environment` makes one in a folder the
caller opens to everyone: a venv from a system Python, with the course installed from a wheel
(exactly what students' servers get) and JupyterHub (``.[hub]``), and configurable-http-proxy from
npm. pip and npm keep using their download caches (``PIP_CACHE_DIR``, ``npm_config_cache``).

Making it costs about a minute of pip, none of it waiting on the cluster: :func:`make_ahead_of_time`
starts it (niced) when the session starts, while the modules before the hub's mostly wait on the
cluster, and the hub test takes it from :func:`made_ahead_of_time`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from course.classroom import hub

REPO = Path(__file__).resolve().parent.parent
MINIMUM_PYTHON = (3, 11)


@dataclass(frozen=True)
class HubEnvironment:
    python: Path
    """The course environment's Python: the hub and every server run it."""
    proxy: Path
    """configurable-http-proxy."""


def copy_course_source(into: Path) -> Path:
    """What ``pip install .`` builds from (the package, ``pyproject.toml``, ``README.md``), copied into
    ``into``, so that pip writes nothing into the checkout and nothing else can reach the wheel."""
    shutil.copytree(REPO / "course", into / "course", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, into / name)
    return into


def python_for_everyone() -> Path | None:
    """A Python >= 3.11 with ``venv`` that every user can run: this one's base, or the system's."""
    candidates = [Path(getattr(sys, "_base_executable", sys.executable)), Path("/usr/bin/python3")]
    for candidate in candidates:
        resolved = candidate.resolve()
        if not resolved.is_file() or hub.closed_to_others(resolved.parent) or hub.closed_to_others(candidate.parent):
            continue
        probe = f"import sys, venv, ensurepip; sys.exit(sys.version_info < {MINIMUM_PYTHON!r})"
        if subprocess.run([str(candidate), "-c", probe], capture_output=True).returncode == 0:
            return candidate
    return None


SYSTEM_CERTIFICATES = Path("/etc/ssl/certs/ca-certificates.crt")
"""Debian's bundle of trusted certificates, where pip and Python find a registry's certificate authority."""


def _run(command: list[str], log: Path) -> None:
    # Node's npm trusts only the certificates built into Node, not the system's: behind a registry
    # or proxy with a certificate authority of its own it fails (SELF_SIGNED_CERT_IN_CHAIN) unless
    # NODE_EXTRA_CA_CERTS names the system's bundle, which a newcomer's empty environment does not set.
    environment = dict(os.environ)
    if SYSTEM_CERTIFICATES.is_file():
        environment.setdefault("NODE_EXTRA_CA_CERTS", str(SYSTEM_CERTIFICATES))
    with log.open("ab") as output:  # niced: the tests running meanwhile come first
        done = subprocess.run(["nice", "-n", "10", *command], stdout=output, stderr=subprocess.STDOUT, env=environment)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... failed ({done.returncode}):\n{log.read_text()[-3000:]}")


def make_hub_environment(folder: Path, python: Path) -> HubEnvironment:
    """A venv in ``folder/env`` with the course's wheel and ``.[hub]``, configurable-http-proxy in
    ``folder/proxy``; ``folder`` must already be open to every user."""
    environment, log = folder / "env", folder / "install.log"
    _run([str(python), "-m", "venv", str(environment)], log)
    source = copy_course_source(folder / "source")
    pip = [str(environment / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, f"{source}[hub]"], log)
    shutil.rmtree(source)
    npm = shutil.which("npm")
    assert npm is not None, "the caller checks for npm"
    _run([npm, "install", "--prefix", str(folder / "proxy"), "--no-audit", "--no-fund", "configurable-http-proxy"], log)
    for made in (environment, folder / "proxy"):
        made.chmod(0o755)
    return HubEnvironment(
        environment / "bin" / "python", folder / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"
    )


_MADE_AHEAD: list[tuple[Future[HubEnvironment], Path]] = []
"""The environment :func:`make_ahead_of_time` is making, and the folder it is made in."""


def make_ahead_of_time() -> None:
    """Start making the environment in the background, in a folder of its own, unless one is given or none
    can be made (the hub test then says why)."""
    python = python_for_everyone()
    if _MADE_AHEAD or given_hub_environment() is not None or why_no_hub() is not None or python is None:
        return
    folder = Path(tempfile.mkdtemp(prefix="k8s-course-hub-environment-"))
    folder.chmod(0o755)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-environment")
    _MADE_AHEAD.append((pool.submit(make_hub_environment, folder, python), folder))
    pool.shutdown(wait=False)


def made_ahead_of_time() -> HubEnvironment | None:
    """The environment :func:`make_ahead_of_time` started (waiting until it is made), or None if it did not."""
    return _MADE_AHEAD[0][0].result() if _MADE_AHEAD else None


def remove_made_ahead_of_time() -> None:
    """Remove the environment made ahead of time, once pip and npm are done with it."""
    for making, folder in _MADE_AHEAD:
        making.exception()  # waits; a failure was the hub test's to report
        shutil.rmtree(folder, ignore_errors=True)
    _MADE_AHEAD.clear()


def given_hub_environment() -> HubEnvironment | None:
    """The environment named by ``K8S_COURSE_HUB_PYTHON`` (and ``K8S_COURSE_HUB_PROXY``, or a proxy on PATH)."""
    python = os.environ.get("K8S_COURSE_HUB_PYTHON")
    if not python:
        return None
    proxy = os.environ.get("K8S_COURSE_HUB_PROXY") or shutil.which("configurable-http-proxy")
    if proxy is None:
        raise RuntimeError("K8S_COURSE_HUB_PYTHON is set: set K8S_COURSE_HUB_PROXY to configurable-http-proxy too")
    return HubEnvironment(Path(python), Path(proxy))


def why_no_hub() -> str | None:
    """Why this machine cannot run a real hub with real users (``None``: it can)."""
    if os.geteuid() != 0:
        return "needs root (LocalProcessSpawner starts servers as other users)"
    if shutil.which("useradd") is None:
        return "needs useradd to make the class's Unix users"
    if os.environ.get("K8S_COURSE_HUB_PYTHON"):
        return None
    if shutil.which("npm") is None:
        return "needs npm for configurable-http-proxy (or K8S_COURSE_HUB_PYTHON and K8S_COURSE_HUB_PROXY)"
    if python_for_everyone() is None:
        return "needs a Python >= 3.11 with venv that every user can run (e.g. /usr/bin/python3)"
    return None
