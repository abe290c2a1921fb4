"""Where the course keeps things: the repository's data, the binary cache and cluster state.

Binaries go to a per-version cache outside the repository (``~/.cache/k8s-course``) so that a fresh
clone, a second clone and CI all reuse one build. Cluster state (kwok's work directory, the course
kubeconfig) lives under ``~/.local/state/k8s-course``. Both honour the XDG variables and can be moved
with ``K8S_COURSE_CACHE`` and ``K8S_COURSE_STATE`` (the test suite does, to keep its cluster apart
from a learner's).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CONTEXT = "k8s-course"
"""The kubeconfig context every backend writes; the user's own ``~/.kube/config`` is never touched."""

CLUSTER_NAME = "course"
"""The cluster's name; Nodes are called ``course-control-plane``, ``course-worker``, ... on every backend."""


def repo_root() -> Path:
    """The checkout this package was installed from (``pip install -e .``)."""
    override = os.environ.get("K8S_COURSE_REPO")
    return Path(override) if override else Path(__file__).resolve().parent.parent


def setup_dir() -> Path:
    """``cluster-setup/``: version pins, cluster configs and the Go tools modules."""
    return repo_root() / "cluster-setup"


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable)
    return Path(value) if value else Path.home() / fallback


def cache_dir() -> Path:
    """Root of the binary cache, shared by every checkout on this machine."""
    override = os.environ.get("K8S_COURSE_CACHE")
    return Path(override) if override else _xdg("XDG_CACHE_HOME", ".cache") / "k8s-course"


def state_dir() -> Path:
    """Root of the running cluster's state: kwok's work directory and the course kubeconfig."""
    override = os.environ.get("K8S_COURSE_STATE")
    return Path(override) if override else _xdg("XDG_STATE_HOME", ".local/state") / "k8s-course"


def kubeconfig_path() -> Path:
    """The course kubeconfig, with the single context :data:`CONTEXT`."""
    return state_dir() / "kubeconfig"


def environment_bin() -> Path:
    """The ``bin/`` folder of the Python environment that runs the course (a venv's or conda's).

    Its programs (``jupyter``, ``nbgrader``, ``alembic``, which nbgrader runs to create a gradebook)
    belong to the course, whether or not the environment is activated. The path is not resolved: a
    venv's ``python`` is a link to the base interpreter, whose folder holds none of them.
    """
    return Path(sys.executable).parent


def put_environment_first_on_path() -> None:
    """Make every program the course starts come from its own environment before the rest of PATH."""
    if not sys.executable:  # an embedded interpreter knows no environment of its own
        return
    first = str(environment_bin())
    entries = [entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry and entry != first]
    os.environ["PATH"] = os.pathsep.join([first, *entries])


def jupyter_config_dir(role: str) -> Path:
    """JupyterLab settings for ``role`` (``learner`` or ``instructor``), or for an edition's language (``ko``:
    JupyterLab's menus in Korean): a folder for ``JUPYTER_CONFIG_PATH``."""
    return Path(__file__).resolve().parent / "jupyter" / role
