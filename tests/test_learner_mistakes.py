"""Bad input from a learner gets a short message that says what is wrong and what to do."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import course
from course._manifests import load_objects
from course._session import _kubectl_binary

from . import pictures_scenario

POD_WITH_TAB = "apiVersion: v1\nkind: Pod\nmetadata:\n\tname: hello\n"
# Valid YAML that kubectl applies: CRLF line ends, tabs between the entries of a flow mapping, after a
# value (copied from a web page), inside quotes and between the words of a value.
GREETER = (
    "apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: greeter\t\r\n"
    "  labels: {app: greeter,\ttier: demo}\r\ndata:\r\n  quoted: \"a\tb\"\r\n  words: echo a\tb\t\r\n"
)
GREETER_READ = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "greeter", "labels": {"app": "greeter", "tier": "demo"}},
    "data": {"quoted": "a\tb", "words": "echo a\tb"},
}
TAB_AFTER_DASH = "apiVersion: v1\nkind: List\nitems:\n-\t{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"


def test_a_tab_in_yaml_points_at_the_line_and_says_tab() -> None:
    with pytest.raises(course.ManifestError) as problem:
        load_objects(POD_WITH_TAB)
    message = str(problem.value)
    assert "line 4" in message and "tab character" in message
    assert len(message.splitlines()) <= 3


def test_tabs_where_kubectl_takes_them_are_read() -> None:
    assert load_objects(GREETER) == [GREETER_READ]


def test_a_tab_that_indents_is_refused_and_the_hint_says_where() -> None:
    with pytest.raises(course.ManifestError) as problem:
        load_objects(TAB_AFTER_DASH)
    assert "line 4" in str(problem.value) and "a tab character after '-' indents what follows" in str(problem.value)


def test_the_tab_hint_is_given_only_for_an_error_at_a_tab() -> None:
    with pytest.raises(course.ManifestError) as problem:
        load_objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a,\tlabels: {b: c}\n")
    assert "tab" not in str(problem.value).splitlines()[-1]


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
def cluster(sim_cluster: Path) -> Iterator[course.Cluster]:
    with pictures_scenario.namespace("tester-mistakes") as own:  # no other module resets it
        yield own


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

    @pytest.mark.parametrize(
        "text",
        [
            GREETER,
            POD_WITH_TAB,
            TAB_AFTER_DASH,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name:\tafter-a-colon\n  labels: {a: x,\tb: \"y\"}\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: one\n  \tb: two\n",
        ],
    )
    def test_yaml_is_read_as_kubectl_reads_it(self, cluster: course.Cluster, text: str) -> None:
        """What kubectl accepts the course accepts, as the same objects; what kubectl refuses, it refuses."""
        result = subprocess.run(
            [_kubectl_binary(), "create", "--dry-run=client", "-o", "json", "-f", "-"],
            input=text, capture_output=True, text=True, timeout=60,
        )
        kubectl_read = [json.loads(result.stdout)] if result.returncode == 0 else None
        if kubectl_read and kubectl_read[0].get("kind") == "List":
            kubectl_read = kubectl_read[0]["items"]
        try:
            read: list[dict[str, object]] | None = load_objects(text)
        except course.ManifestError:
            read = None
        if kubectl_read is None or read is None:
            assert kubectl_read is read is None, (result.stderr, read)
        else:
            assert [{**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "namespace"}}
                    for obj in kubectl_read] == read

    def test_the_manifest_of_the_issue_is_applied(self, cluster: course.Cluster) -> None:
        applied = cluster.apply(GREETER)[0]
        assert applied["metadata"]["labels"] == {"app": "greeter", "tier": "demo"}
        assert applied["data"] == GREETER_READ["data"]

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
