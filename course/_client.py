"""Clients of the official ``kubernetes`` package, pointed at the course cluster.

The kubeconfig is the course's own (``~/.local/state/k8s-course/kubeconfig``) unless
``K8S_COURSE_KUBECONFIG`` names another, as the class grader does to run a student's notebook with
that student's identity.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path

from kubernetes import client, config
from kubernetes.dynamic import DynamicClient

from course._errors import CourseError
from course._paths import kubeconfig_path


class NoKubeconfig(CourseError, FileNotFoundError):
    """There is no kubeconfig where the course looks: no cluster was started, or ``K8S_COURSE_KUBECONFIG``
    names a missing file. A ``FileNotFoundError`` too, for callers that ask "is a cluster there?"."""


def kubeconfig() -> Path:
    """The kubeconfig the course uses in this process."""
    override = os.environ.get("K8S_COURSE_KUBECONFIG")
    return Path(override) if override else kubeconfig_path()


@cache
def _api_client(path: str, modified: float) -> client.ApiClient:
    # Keyed on the file's mtime: after `cluster down` and `up` the file (and its port) changes.
    made: client.ApiClient = config.new_client_from_config(config_file=path)  # type: ignore[no-untyped-call]
    made.configuration.refresh_api_key_hook = _kubeconfig_follower(path, made.configuration)
    return made


def _stamp(path: str) -> tuple[int, int] | None:
    """The file's inode and modification time: a copy renamed into place changes the inode even
    within the same tick of the file system's clock."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_ino, status.st_mtime_ns


def _kubeconfig_follower(path: str, configuration: client.Configuration) -> Callable[[client.Configuration], None]:
    """A hook the client calls before each request: when the kubeconfig file was replaced (a hub hands
    out a new token after ``class sandbox revoke`` and ``create``), take its token, so clients made
    before (a notebook's ``cluster``) go on working without a restart. In between, the loader's own
    hook (which renews an expired login) runs as before."""
    seen = [_stamp(path)]
    inner = [configuration.refresh_api_key_hook]

    def refresh(configuration: client.Configuration) -> None:
        now = _stamp(path)
        if now is not None and now != seen[0]:
            fresh = client.Configuration()
            try:
                config.load_kube_config(config_file=path, client_configuration=fresh)  # type: ignore[no-untyped-call]
                seen[0] = now
                configuration.api_key = fresh.api_key
                inner[0] = fresh.refresh_api_key_hook
            except Exception:  # half-written or broken: keep the old token and look again next time
                pass
        if inner[0] is not None:
            inner[0](configuration)
            # The loader's hook installs itself again each time it runs: keep it inside this one.
            if configuration.refresh_api_key_hook is not refresh:
                inner[0] = configuration.refresh_api_key_hook
                configuration.refresh_api_key_hook = refresh

    return refresh


def api_client() -> client.ApiClient:
    """A shared ``ApiClient`` for the course kubeconfig. Fails with :class:`NoKubeconfig` when none exists."""
    path = kubeconfig()
    try:
        modified = path.stat().st_mtime
    except FileNotFoundError:
        named = "K8S_COURSE_KUBECONFIG names" if os.environ.get("K8S_COURSE_KUBECONFIG") else "there is"
        raise NoKubeconfig(
            f"No course cluster: {named} no kubeconfig at {path}. "
            "Start the cluster with: python -m course cluster up (or point K8S_COURSE_KUBECONFIG at a cluster's)."
        ) from None
    return _api_client(str(path), modified)


@cache
def _dynamic(api: client.ApiClient) -> DynamicClient:
    return DynamicClient(api)  # type: ignore[no-untyped-call]  # kubernetes.dynamic has no annotations


def dynamic_client() -> DynamicClient:
    """A ``DynamicClient`` (any kind, by apiVersion and kind) sharing :func:`api_client`."""
    return _dynamic(api_client())
