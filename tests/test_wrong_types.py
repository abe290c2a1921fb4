"""A value of the wrong type in an applied manifest names the field and the type it wants, not a 500.

Server-side apply checks a manifest against the kind's schema and reports a mismatch as "500 Internal
Server Error"; these tests send such manifests to the real API server of the sim cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import course

from . import pictures_scenario


def _deployment(**spec: Any) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "typed"},
        "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": template, **spec},
    }


def _pod(metadata: dict[str, Any] | None = None, **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "typed", **(metadata or {})},
        "spec": {"containers": [{"name": "c", "image": "nginx", **container}]},
    }


@pytest.fixture(scope="module")
def cluster(sim_cluster: Path) -> Iterator[course.Cluster]:
    with pictures_scenario.namespace("tester-wrong-types") as own:
        yield own


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (_deployment(replicas="three"), "spec.replicas: expected a number, found a string."),
        (_pod(image=5), 'spec.containers[name="c"].image: expected a string, found 5.'),
        (_pod({"labels": ["app", "web"]}), "metadata.labels: expected a map of key: value lines, found a list."),
        (_pod(args="sleep 5"), "spec.containers[name=\"c\"].args: expected a list, found the string 'sleep 5'."),
        (_pod({"labels": {"tier": True}}), "metadata.labels.tier: expected a string, found true."),
        (_deployment(replicas=2.5), "expected a whole number, found a decimal number."),
    ],
    ids=["string-for-number", "number-for-string", "list-for-map", "string-for-list", "bool-for-string", "decimal"],
)
def test_the_field_and_the_type_it_wants_are_named(
    cluster: course.Cluster, manifest: dict[str, Any], expected: str
) -> None:
    with pytest.raises(course.ApiProblem) as problem:
        cluster.apply(manifest)
    message = str(problem.value)
    lines = message.splitlines()
    assert lines[0] == f"Applying {manifest['kind']} 'typed' failed: a value in the manifest has the wrong type."
    assert expected in lines[1]
    assert lines[-1].startswith("  Try: ") and "500" not in message and "internal" not in message
    assert "failed to c" in problem.value.details  # the API server's own words, one click away


def test_every_wrong_field_is_named_once_with_one_try_line(cluster: course.Cluster) -> None:
    manifest = _deployment(replicas="3")
    manifest["spec"]["template"]["spec"]["containers"][0]["image"] = 1.27
    with pytest.raises(course.ApiProblem) as problem:
        cluster.apply(manifest)
    lines = str(problem.value).splitlines()
    assert sorted(lines[1:3]) == [
        "  spec.replicas: expected a number, found a string.",
        '  spec.template.spec.containers[name="c"].image: expected a string, found 1.27.',
    ]
    assert len(lines) == 4 and lines[3].count("; ") == 1


def test_a_real_internal_error_still_says_try_again() -> None:
    from kubernetes.client.exceptions import ApiException

    from course._errors import explain_api_error

    error = ApiException(status=500, reason="Internal Server Error")
    error.body = '{"message": "etcdserver: request timed out", "code": 500}'
    assert "Try: try again" in str(explain_api_error(error, "Applying Pod 'web'"))
