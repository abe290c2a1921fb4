"""The course's own YAML files are read strictly: every problem is reported at once, none is ignored."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from course import _chapters
from course._config import ConfigError, load_config
from course._pins import VERSIONS_SCHEMA, load_pins
from course._toolchain import load_toolchain

from .conftest import REPO


def reported(read: Callable[[], object]) -> tuple[str, set[str]]:
    """The first line of the ConfigError that ``read()`` raises, and the set of its problem lines."""
    with pytest.raises(ConfigError) as problem:
        read()
    first, *problems = str(problem.value).splitlines()
    return first, set(problems)


def test_every_shipped_file_follows_its_schema() -> None:
    for chapter in _chapters.chapter_ids():
        assert _chapters.load_chapter(chapter).title
    assert load_pins().kubernetes.startswith("v1.")
    assert load_toolchain().binaries


def test_a_misspelled_chapter_key_is_named_not_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``starting_state:`` for ``starting-state:`` used to give a chapter no starting state, silently."""
    (tmp_path / "99-typo.yaml").write_text(
        "title: A typo\nstarting_state:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: settings}}\n"
    )
    monkeypatch.setattr(_chapters, "CHAPTERS_DIR", tmp_path)
    with pytest.raises(ConfigError) as problem:
        _chapters.load_chapter("99-typo")
    assert str(problem.value) == (
        "course/chapters/99-typo.yaml has 1 problem:\n"
        "  - unknown key 'starting_state' (did you mean 'starting-state'?)"
    )


def test_a_manifest_without_a_name_or_kind_is_refused_before_it_reaches_the_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "99-bad.yaml").write_text(
        "title: Bad manifests\nstarting-state:\n"
        "- {apiVersion: v1, metadata: {name: a}}\n- {apiVersion: v1, kind: Pod}\n"
    )
    monkeypatch.setattr(_chapters, "CHAPTERS_DIR", tmp_path)
    with pytest.raises(ConfigError) as problem:
        _chapters.load_chapter("99-bad")
    assert "starting-state[0]: missing key 'kind' (a string)" in str(problem.value)
    assert "starting-state[1]: missing key 'metadata' (a mapping)" in str(problem.value)


def test_every_problem_of_the_pins_is_reported_at_once(tmp_path: Path) -> None:
    text = (REPO / "cluster-setup" / "versions.yaml").read_text()
    broken = text.replace("kwok: v0.8.0", "kwok: 0.8\nkubernets: v1.37.2").replace("calico:", "calicoo:")
    path = tmp_path / "versions.yaml"
    path.write_text(broken)
    first, problems = reported(lambda: load_config(path, VERSIONS_SCHEMA, shown_as="cluster-setup/versions.yaml"))
    assert first == "cluster-setup/versions.yaml has 4 problems:"
    assert problems == {
        "  - unknown key 'kubernets' (did you mean 'kubernetes'?)",
        "  - kwok: expected a string, found a number (0.8)",
        "  - kind: unknown key 'calicoo' (did you mean 'calico'?)",
        "  - kind: missing key 'calico' (a string)",
    }


def test_true_is_not_a_number_and_bad_yaml_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("replicas: true\n")
    with pytest.raises(ConfigError, match=r"replicas: expected a number, found true/false \(True\)"):
        load_config(path, {"replicas": int})
    path.write_text("replicas: [1\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(path, {"replicas": int})


def test_the_command_line_shows_a_config_problem_as_one_short_error(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    repo = tmp_path / "repo"
    shutil.copytree(REPO / "cluster-setup", repo / "cluster-setup", ignore=shutil.ignore_patterns("tools"))
    versions = repo / "cluster-setup" / "versions.yaml"
    versions.write_text(versions.read_text().replace("etcd:", "etdc:"))
    result = subprocess.run(
        [sys.executable, "-m", "course", "toolchain", "go"],
        env={**os.environ, "K8S_COURSE_REPO": str(repo)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "ERROR: cluster-setup/versions.yaml has 2 problems:" in result.stderr
    assert "unknown key 'etdc' (did you mean 'etcd'?)" in result.stderr
    assert "Traceback" not in result.stderr



def test_sandbox_settings_are_read_strictly(tmp_path: Path) -> None:
    from course.classroom._objects import SANDBOX_SCHEMA, sandbox_settings

    assert sandbox_settings()["quota"]["pods"] == "40"
    path = tmp_path / "sandbox.yaml"
    path.write_text("pod-security: baseline\nquotas: {pods: '40'}\nlimits: [{defaultRequest: {cpu: 10m}}]\n")
    with pytest.raises(ConfigError) as problem:
        load_config(path, SANDBOX_SCHEMA, shown_as="course/classroom/sandbox.yaml")
    assert set(str(problem.value).splitlines()[1:]) == {
        "  - unknown key 'quotas' (did you mean 'quota'?)",
        "  - missing key 'quota' (a mapping)",
        "  - limits[0]: missing key 'type' (a string)",
    }


def test_the_sim_clusters_kwokctl_settings_are_read_strictly_before_anything_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from course.backends import sim
    from course.backends._interface import Status

    assert sim.kwokctl_settings()["options"]["bindAddress"] == "127.0.0.1"
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "cluster-setup", repo / "cluster-setup", ignore=shutil.ignore_patterns("tools"))
    path = repo / "cluster-setup" / "sim" / "kwokctl.yaml"
    text = path.read_text().replace("bindAddress:", "bindAdress:").replace("quietPull: true", "quietPull: 'yes'")
    text = text.replace("- name: kube-apiserver", "- name: kube-apiserve").replace('value: "24"', "value: 24")
    path.write_text(text)
    monkeypatch.setenv("K8S_COURSE_REPO", str(repo))
    monkeypatch.setenv("K8S_COURSE_STATE", str(tmp_path / "state"))  # no cluster of another test's to clean up
    monkeypatch.setattr(sim.SimBackend, "status", lambda self: Status("sim", running=False))

    def not_reached() -> None:
        raise AssertionError("the binaries were built before the settings were read")

    monkeypatch.setattr(sim, "ensure_binaries", not_reached)
    first, problems = reported(sim.SimBackend().up)
    assert first == "cluster-setup/sim/kwokctl.yaml has 5 problems:"
    assert problems == {
        "  - options: unknown key 'bindAdress' (did you mean 'bindAddress'?)",
        "  - options: missing key 'bindAddress' (a string)",
        "  - options.quietPull: expected true or false, found a string ('yes')",
        "  - componentsPatches[1].name: expected one of 'etcd', 'kube-apiserver', 'kube-controller-manager', "
        "'kube-scheduler', 'kwok-controller', found 'kube-apiserve' (did you mean 'kube-apiserver'?)",
        "  - componentsPatches[2].extraArgs[3].value: expected a string, found a number (24)",
    }


def test_the_kind_cluster_configs_are_read_strictly(tmp_path: Path) -> None:
    from course.backends.kind import render_config

    for name in ("cluster.yaml", "cluster-calico.yaml"):
        assert "extraPortMappings" in render_config(REPO / "cluster-setup" / "kind" / name, {80: 80, 443: 443})
    path = tmp_path / "cluster.yaml"
    text = (REPO / "cluster-setup" / "kind" / "cluster.yaml").read_text()
    text = text.replace("- role: worker", "- role: wroker", 1).replace("hostPort: 443", "hostPort: '443'")
    path.write_text(text.replace("name: course", "name: mine").replace("  labels:", "  label:", 1))
    first, problems = reported(lambda: render_config(path, {80: 8080, 443: 8443}))
    assert first == "cluster-setup/kind/cluster.yaml has 4 problems:"
    assert problems == {
        "  - name: expected one of 'course', found 'mine'",
        "  - nodes[0]: unknown key 'label' (did you mean 'labels'?)",
        "  - nodes[0].extraPortMappings[1].hostPort: expected a number, found a string ('443')",
        "  - nodes[1].role: expected one of 'control-plane', 'worker', found 'wroker' (did you mean 'worker'?)",
    }
