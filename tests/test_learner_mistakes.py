"""Bad input from a learner gets a short message that says what is wrong and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

import course
from course._manifests import load_objects

POD_WITH_TAB = "apiVersion: v1\nkind: Pod\nmetadata:\n\tname: hello\n"


def test_a_tab_in_yaml_points_at_the_line_and_says_tab() -> None:
    with pytest.raises(course.ManifestError) as problem:
        load_objects(POD_WITH_TAB)
    message = str(problem.value)
    assert "line 4" in message and "tab character" in message
    assert len(message.splitlines()) <= 3


def test_an_object_without_a_name_says_which_fields_every_object_needs() -> None:
    with pytest.raises(course.ManifestError, match=r"\(Pod\) has no metadata.name"):
        load_objects("apiVersion: v1\nkind: Pod\nspec: {}\n")


def test_an_empty_manifest_is_refused() -> None:
    with pytest.raises(course.ManifestError, match="empty"):
        load_objects("---\n")


def test_a_list_of_documents_and_a_kind_list_are_both_read() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: List\nitems:\n"
    text += "- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n"
    assert [obj["metadata"]["name"] for obj in load_objects(text)] == ["a", "b"]


def test_connect_without_a_cluster_says_which_command_to_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("K8S_COURSE_KUBECONFIG", str(tmp_path / "missing"))
    with pytest.raises(course.CourseError, match="python -m course cluster up"):
        course.connect("00-setup")


def test_an_unknown_chapter_lists_the_chapters() -> None:
    with pytest.raises(course.CourseError, match="00-setup"):
        course.connect("99-nope")


@pytest.fixture(scope="module")
def cluster(sim_cluster: Path) -> course.Cluster:
    return course.connect("00-setup", quiet=True)


class TestOnTheCluster:
    def test_an_invalid_field_is_explained_in_three_lines(self, cluster: course.Cluster) -> None:
        bad = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad}\nspec:\n  replicas: -1\n"
        bad += "  selector: {matchLabels: {app: x}}\n  template:\n    metadata: {labels: {app: x}}\n"
        bad += "    spec: {containers: [{name: c, image: nginx}]}\n"
        with pytest.raises(course.ApiProblem) as problem:
            cluster.apply(bad)
        assert problem.value.status == 422
        lines = str(problem.value).splitlines()
        assert len(lines) == 3
        assert "spec.replicas" in lines[0] and lines[1].startswith("  What it means")

    def test_an_unknown_kind_names_the_kind(self, cluster: course.Cluster) -> None:
        with pytest.raises(course.ManifestError, match="no kind 'Deploymnet'"):
            cluster.apply({"apiVersion": "apps/v1", "kind": "Deploymnet", "metadata": {"name": "x"}})

    def test_applying_twice_updates_instead_of_failing(self, cluster: course.Cluster) -> None:
        config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "twice"}, "data": {"a": "1"}}
        first = cluster.apply(config)[0]
        second = cluster.apply({**config, "data": {"a": "2"}})[0]
        assert first["metadata"]["uid"] == second["metadata"]["uid"]
        assert second["data"] == {"a": "2"}

    def test_waiting_for_a_missing_object_fails_fast_and_says_why(self, cluster: course.Cluster) -> None:
        with pytest.raises(course.WaitTimeout, match="Did the cell that creates it run"):
            cluster.wait_for("Pod", "never-created", "Ready", timeout=30)

    def test_a_forbidden_request_says_what_it_means(self, cluster: course.Cluster) -> None:
        # The shared client, acting as a user that RBAC gives no rights at all.
        cluster.api.default_headers["Impersonate-User"] = "learner-without-rights"
        try:
            with pytest.raises(course.ApiProblem) as problem:
                cluster.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nope"}})
        finally:
            del cluster.api.default_headers["Impersonate-User"]
        assert problem.value.status == 403 and "not allowed" in str(problem.value)
