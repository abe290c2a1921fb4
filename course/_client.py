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
    if made.configuration.refresh_api_key_hook is None:  # an exec or OIDC login refreshes itself
        made.configuration.refresh_api_key_hook = _token_follower(path, modified)
    return made


def _token_follower(path: str, modified: float) -> Callable[[client.Configuration], None]:
    """A hook the client calls before each request: when the kubeconfig file was replaced (a hub hands
    out a new token after ``class sandbox revoke`` and ``create``), take its token, so clients made
    before (a notebook's ``cluster``) go on working without a restart."""
    seen = [modified]

    def refresh(configuration: client.Configuration) -> None:
        try:
            now = os.stat(path).st_mtime
        except OSError:
            return
        if now == seen[0]:
            return
        fresh = client.Configuration()
        try:
            config.load_kube_config(config_file=path, client_configuration=fresh)  # type: ignore[no-untyped-call]
        except Exception:  # half-written or broken: keep the old token and look again next time
            return
        seen[0] = now
        configuration.api_key = fresh.api_key

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
