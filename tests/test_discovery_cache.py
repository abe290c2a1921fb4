"""`cluster down` removes the course kubeconfig and its cluster's API discovery cache, nothing else.

The ``kubernetes`` package's ``DynamicClient`` caches discovery in the temp folder, one file per API
server URL; every cluster listens on a new port, so without this each cluster ever started would leave
one there. (That the name is the one the library really writes is checked on a live cluster, in
``test_cluster_lifecycle``.)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml

from course.backends import discovery_cache_name
from course.backends._nodes_and_configs import remove_course_kubeconfig


def test_down_removes_its_discovery_cache_and_no_other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    temp, state = tmp_path / "temp", tmp_path / "state"
    temp.mkdir(), state.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setenv("K8S_COURSE_STATE", str(state))
    server = "https://127.0.0.1:41234/"
    kubeconfig = {"clusters": [{"name": "k8s-course", "cluster": {"server": server}}]}
    (state / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))
    ours, another = temp / discovery_cache_name(server), temp / discovery_cache_name("https://127.0.0.1:41235")
    ours.write_text("{}"), another.write_text("{}")
    assert ours.name == discovery_cache_name(server.rstrip("/")), "the library strips the trailing slash"

    remove_course_kubeconfig()

    assert not (state / "kubeconfig").exists() and not ours.exists()
    assert another.exists(), "another cluster's cache is not this cluster's to remove"


def test_down_without_a_kubeconfig_removes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("K8S_COURSE_STATE", str(tmp_path / "state"))
    kept = tmp_path / discovery_cache_name("https://127.0.0.1:41234")
    kept.write_text("{}")
    remove_course_kubeconfig()
    assert kept.exists()
