"""What a learner reads: short API errors, progress while waiting, and check failures as small diffs.

The API errors are caused for real on the sim cluster; the notebook tests run a real kernel through
nbclient, as nbgrader does, and read the outputs that end up in the learner's feedback.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from kubernetes.client.exceptions import ApiException
from nbclient import NotebookClient

import course
from course._errors import explain_api_error
from course._wait_progress import TextProgress, WidgetProgress
from course.checks import CheckFailed, expect_field, expect_fields
from tests import pictures_scenario

CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}}


@pytest.fixture(scope="module")
def cluster(sim_cluster: Path) -> Iterator[course.Cluster]:
    with pictures_scenario.namespace("tester-feedback") as fresh:
        yield fresh


def caused(call: Any, *args: Any, **kwargs: Any) -> ApiException:
    with pytest.raises(ApiException) as raised:
        call(*args, **kwargs)
    return raised.value


def three_lines(problem: course.ApiProblem) -> list[str]:
    lines = str(problem).splitlines()
    assert len(lines) == 3, lines
    assert lines[1].startswith("  What it means: ") and lines[2].startswith("  Try: ")
    return lines


# -- API errors ----------------------------------------------------------------------------------
class TestApiErrors:
    def test_409_already_exists(self, cluster: course.Cluster) -> None:
        cluster.core.create_namespaced_config_map(cluster.namespace, CONFIG_MAP)
        error = caused(cluster.core.create_namespaced_config_map, cluster.namespace, CONFIG_MAP)
        lines = three_lines(explain_api_error(error, "Creating ConfigMap 'settings'"))
        assert "409" in lines[0] and 'configmaps "settings" already exists' in lines[0]
        assert "exists already" in lines[1] and "cluster.apply" in lines[2]

    def test_409_conflict_on_a_stale_copy(self, cluster: course.Cluster) -> None:
        stale = cluster.core.read_namespaced_config_map("settings", cluster.namespace)
        cluster.core.patch_namespaced_config_map("settings", cluster.namespace, {"data": {"a": "2"}})
        error = caused(cluster.core.replace_namespaced_config_map, "settings", cluster.namespace, stale)
        problem = explain_api_error(error, "Updating ConfigMap 'settings'")
        lines = three_lines(problem)
        assert "the object has been modified" in lines[0] and "changed after you read it" in lines[1]
        assert '"reason": "Conflict"' in problem.details

    def test_422_names_the_field_and_an_immutable_one_says_recreate(self, cluster: course.Cluster) -> None:
        bad = {**CONFIG_MAP, "metadata": {"name": "Not_A_Name"}}
        lines = three_lines(
            explain_api_error(caused(cluster.core.create_namespaced_config_map, cluster.namespace, bad), "Creating")
        )
        assert "metadata.name" in lines[1] and "metadata.name" in lines[2]
        job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n"
        job += "      restartPolicy: Never\n      containers: [{name: c, image: IMAGE}]\n"
        cluster.apply(job.replace("IMAGE", "busybox"))
        with pytest.raises(course.ApiProblem) as problem:
            cluster.apply(job.replace("IMAGE", "busybox:1.36"))
        lines = three_lines(problem.value)
        assert "cannot be changed" in lines[1] and "delete the object" in lines[2]

    def test_404_names_the_missing_object(self, cluster: course.Cluster) -> None:
        error = caused(cluster.core.read_namespaced_pod, "nope", cluster.namespace)
        lines = three_lines(explain_api_error(error, "Reading Pod 'nope'"))
        assert "there is no pods named 'nope'" in lines[1] and "kubectl get pods" in lines[2]
        error = caused(cluster.core.create_namespaced_config_map, "no-such-namespace-here", CONFIG_MAP)
        assert "namespace 'no-such-namespace-here' does not exist" in str(explain_api_error(error, "Creating"))

    def test_403_says_which_verb_and_resource_are_not_allowed(self, cluster: course.Cluster) -> None:
        cluster.api.default_headers["Impersonate-User"] = "learner-without-rights"
        try:
            error = caused(cluster.core.create_namespaced_config_map, cluster.namespace, CONFIG_MAP)
        finally:
            del cluster.api.default_headers["Impersonate-User"]
        lines = three_lines(explain_api_error(error, "Creating ConfigMap"))
        assert f"not allowed to create configmaps in namespace '{cluster.namespace}' (RBAC)" in lines[1]

    def test_a_yaml_syntax_error_keeps_the_parsers_words_as_details(self) -> None:
        with pytest.raises(course.ManifestError) as problem:
            course._manifests.load_objects("kind: Pod\nmetadata:\n  name: [unclosed\n")
        assert len(str(problem.value).splitlines()) == 3 and "line" in str(problem.value)
        assert "while parsing" in problem.value.details


# -- progress ------------------------------------------------------------------------------------
class TestProgress:
    def test_text_progress_shows_a_bar_and_ends_with_what_it_saw(self, cluster: course.Cluster) -> None:
        stream = io.StringIO()
        bar = TextProgress("Deployment 'web' to be Ready", 60, stream)
        bar.update(0.2, (1, 3), "replicas=3, readyReplicas=1")
        bar.update(0.4, (1, 3), "replicas=3, readyReplicas=1")  # same state: no new line
        bar.finish(True, "✓ done: replicas=3, readyReplicas=3")
        assert stream.getvalue().splitlines() == [
            "  waiting for Deployment 'web' to be Ready: [###.......] 1/3 replicas=3, readyReplicas=1 (0s)",
            "  ✓ done: replicas=3, readyReplicas=3",
        ]

    def test_a_real_wait_reports_progress_and_the_final_state(
        self, cluster: course.Cluster, capsys: pytest.CaptureFixture[str]
    ) -> None:
        cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "three"},
                       "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "three"}},
                                "template": {"metadata": {"labels": {"app": "three"}},
                                             "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})  # fmt: skip
        cluster.wait_for("Deployment", "three", "Ready")
        last = capsys.readouterr().err.splitlines()[-1]
        assert last.startswith("  ✓ Deployment 'three' is Ready (") and "readyReplicas=3" in last

    def test_the_widget_fills_and_turns_green_or_red(self) -> None:
        bar = WidgetProgress("Job 'count' to be Complete", 60)
        bar.update(1.0, (1, 2), "succeeded=1")
        assert (bar.bar.value, bar.bar.max) == (1, 2) and "1/2 succeeded=1" in bar.label.value
        bar.update(30.0, None, "no status yet")
        assert (bar.bar.value, bar.bar.max) == (50, 100)
        bar.finish(False, "✗ Job 'count' was not Complete after 60s")
        assert bar.bar.bar_style == "danger" and "after 60s" in bar.label.value
        assert "course-progress" in bar.box._dom_classes


# -- checks --------------------------------------------------------------------------------------
class TestCheckFeedback:
    def test_a_failed_check_lists_only_the_fields_that_differ(self, cluster: course.Cluster) -> None:
        deployment = cluster.get("Deployment", "three")
        assert deployment is not None
        with pytest.raises(CheckFailed) as failure:
            expect_fields(
                {**deployment, "kind": "Deployment"},
                {"spec.replicas": 2, "spec.template.spec.containers[0].image": "nginx:1.27", "metadata.name": "three"},
                hint="Scale to 2 and pin the image.",
            )
        assert isinstance(failure.value, AssertionError)
        assert str(failure.value).splitlines() == [
            "Deployment 'three' is not as asked.",
            "  field                                    expected       found",
            "  spec.replicas                            2              3",
            "  spec.template.spec.containers[0].image   'nginx:1.27'   'nginx'",
            "  hint:   Scale to 2 and pin the image.",
        ]

    def test_labels_are_compared_key_by_key(self, cluster: course.Cluster) -> None:
        deployment = cluster.get("Deployment", "three")
        assert deployment is not None
        with pytest.raises(CheckFailed) as failure:
            expect_field(deployment, "spec.selector.matchLabels", {"app": "three", "tier": "web"})
        assert str(failure.value).splitlines()[1:] == ["  field   expected   found", "  tier    'web'      (not set)"]
        with pytest.raises(CheckFailed) as failure:
            expect_field(deployment, "metadata.annotations.owner", {"team": "a"})
        # A whole mapping that is missing is named as missing, not shown as an empty or key-by-key table.
        assert str(failure.value).splitlines() == [
            "Deployment 'three': metadata.annotations.owner is not set.",
            "  expected: {'team': 'a'}",
            "  found:    (not set)",
        ]


def run_notebook(cells: list[str], env: dict[str, str]) -> list[Any]:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        NotebookClient(notebook, timeout=120, allow_errors=True).execute()
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return [cell.outputs for cell in notebook.cells]


FAILING_CHECK = """
from course.checks import CheckFailed, expect_fields
expect_fields({"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}},
              {"spec.replicas": 3}, hint="Scale it to 3.")
"""


class TestInANotebook:
    def test_nbgrader_feedback_has_the_same_diff_and_no_widget(self, sim_cluster: Path) -> None:
        setup = "import course\ncluster = course.connect('00-setup', quiet=True)"
        outputs = run_notebook([setup, FAILING_CHECK, "cluster.core.read_namespaced_pod('nope', cluster.namespace)"],
                               {"NBGRADER_EXECUTION": "autograde"})  # fmt: skip
        [error] = [o for o in outputs[1] if o.output_type == "error"]
        assert error.ename == "CheckFailed"
        expected = str(
            CheckFailed(
                "Deployment 'web' is not as asked.", {"spec.replicas": 3}, {"spec.replicas": 2}, "Scale it to 3."
            )
        )
        assert error.evalue == expected and "spec.replicas   3          2" in "\n".join(error.traceback)
        assert not [o for o in outputs[1] if o.output_type == "display_data"]
        [api_error] = [o for o in outputs[2] if o.output_type == "error"]
        assert api_error.ename == "ApiProblem" and "What it means: there is no pods named 'nope'" in api_error.evalue
        shown = [line for line in "".join(api_error.traceback).splitlines() if line and "%tb" not in line]
        assert len(shown) == 3, shown  # IPython's one-line header aside, the learner reads three lines

    def test_a_person_gets_the_full_error_one_click_away(self, sim_cluster: Path) -> None:
        setup = "import course\ncluster = course.connect('00-setup', quiet=True)"
        outputs = run_notebook([setup, "cluster.core.read_namespaced_pod('nope', cluster.namespace)"],
                               {"K8S_COURSE_DISPLAY": "rich"})  # fmt: skip
        [folded] = [o for o in outputs[1] if o.output_type == "display_data"]
        html = folded.data["text/html"]
        assert html.startswith("<details class='course-full-error'><summary>full error</summary>")
        assert "&quot;reason&quot;: &quot;NotFound&quot;" in html and "Traceback" in html
