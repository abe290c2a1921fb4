"""The check library tells an author their mistake: a check written wrongly raises AuthoringError, which
names the mistake and the fix and is never taken for a learner's failed check (CheckFailed)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from kubernetes.dynamic.exceptions import ResourceNotFoundError, ResourceNotUniqueError

from course import checks
from course._errors import CourseError
from course.checks import AuthoringError, CheckFailed


def test_an_authoring_error_is_a_course_error_never_a_failed_check() -> None:
    assert issubclass(AuthoringError, CourseError)
    assert not issubclass(AuthoringError, AssertionError)  # `except CheckFailed` never takes it for a failed check
    message = str(AuthoringError("the mistake.", "the fix."))
    assert message == "A check is written wrongly: the mistake.\n  Fix: the fix."


def test_an_unknown_chapter_id_is_named_with_the_closest_chapter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K8S_COURSE_LEARNER", "tester")
    assert checks.namespace("04-workloads") == "tester-04-workloads"
    with pytest.raises(AuthoringError) as mistake:
        checks.namespace("04-workload")
    assert "checks.namespace('04-workload') names no chapter." in str(mistake.value)
    assert "did you mean '04-workloads'?" in str(mistake.value)
    with pytest.raises(AuthoringError, match="use one of 00-setup, 01-why-kubernetes, "):
        checks.namespace("zz")


# -- Kinds: unknown, and namespaced without a namespace (a fake discovery, no cluster) ------------------
class FakeResources:
    """What ``DynamicClient.resources`` answers, for a few kinds."""

    KINDS: ClassVar[dict[str, bool]] = {"Pod": True, "Deployment": True, "Node": False}
    """Kind: whether it is namespaced."""

    def get(self, kind: str, **_: Any) -> SimpleNamespace:
        if kind == "Event":
            raise ResourceNotUniqueError("Multiple matches found")
        if kind not in self.KINDS:
            raise ResourceNotFoundError("No matches found")
        listed = SimpleNamespace(items=[])
        return SimpleNamespace(namespaced=self.KINDS[kind], get=lambda **_: listed)

    def search(self, kind: str | None = None) -> list[SimpleNamespace]:
        served = [SimpleNamespace(kind=k, group_version="v1") for k in self.KINDS]
        served.append(SimpleNamespace(kind="PodList", group_version="v1"))  # discovery lists the lists too
        if kind == "Event":
            return [SimpleNamespace(kind="Event", group_version=v) for v in ("events.k8s.io/v1", "v1")]
        return served


@pytest.fixture
def discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "dynamic_client", lambda: SimpleNamespace(resources=FakeResources()))


@pytest.mark.usefixtures("discovery")
@pytest.mark.parametrize(
    ("kind", "guess"), [("Deploymnet", "Deployment"), ("deployment", "Deployment"), ("pod", "Pod")]
)
def test_an_unknown_kind_is_named_with_the_closest_kind(kind: str, guess: str) -> None:
    with pytest.raises(AuthoringError) as mistake:
        checks.expect_object(kind, "web", namespace="ada-04-workloads")
    assert f"checks.expect_object({kind!r}, 'web'): this cluster has no kind {kind!r}." in str(mistake.value)
    assert f"did you mean {guess!r}?" in str(mistake.value)
    with pytest.raises(AuthoringError, match=f"(?s)checks.objects.*did you mean {guess!r}"):
        checks.objects(kind, "ada-04-workloads")


@pytest.mark.usefixtures("discovery")
def test_a_kind_nothing_resembles_and_an_ambiguous_kind_say_what_to_do() -> None:
    with pytest.raises(AuthoringError, match=r"no kind 'Gizmo'\.\n  Fix: write the kind as YAML does"):
        checks.objects("Gizmo", "ada-04-workloads")
    with pytest.raises(AuthoringError, match=r"(?s)serve kind 'Event' \(events.k8s.io/v1, v1\).*checks.events_about"):
        checks.objects("Event", "ada-04-workloads")


@pytest.mark.usefixtures("discovery")
def test_a_namespaced_kind_without_a_namespace_is_an_authoring_error() -> None:
    """It used to look in the wrong place and blame the learner: "There is no Pod named 'web'"."""
    with pytest.raises(AuthoringError) as mistake:
        checks.expect_object("Pod", "web")
    assert str(mistake.value) == (
        "A check is written wrongly: checks.expect_object('Pod', 'web'): Pod is namespaced, "
        "and no namespace is given.\n"
        '  Fix: pass namespace=checks.namespace("<chapter id>").'
    )
    with pytest.raises(AuthoringError, match="or all_namespaces=True to read every namespace"):
        checks.objects("Pod")
    with pytest.raises(AuthoringError, match=r"checks.owned_by\('Pod'\): Pod is namespaced"):
        checks.owned_by("Pod", {"metadata": {"uid": "1"}}, "")
    # What is meant is allowed: every namespace on request, and cluster-wide kinds without one.
    assert checks.objects("Pod", all_namespaces=True) == []
    assert checks.objects("Node") == []


# -- Field paths ------------------------------------------------------------------------------------
POD = {
    "kind": "Pod",
    "metadata": {"name": "web", "labels": {"app.kubernetes.io/name": "shop"}},
    "spec": {
        "containers": [
            {"name": "log", "image": "busybox"},
            {"name": "web", "image": "nginx:1.27", "env": [{"name": "MODE", "value": "prod"}],
             "ports": [{"containerPort": 80}]},
        ]
    },
    "status": {"conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}]},
}  # fmt: skip


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.containers[name=web].image", "nginx:1.27"),
        ("spec.containers[name=web].env[name=MODE].value", "prod"),
        ('spec.containers[name="web"].image', "nginx:1.27"),
        ("spec.containers[1].env[0].value", "prod"),
        ("spec.containers[-1].name", "web"),
        ("spec.containers[name=web].ports[containerPort=80].containerPort", 80),
        ("status.conditions[type=Ready].status", "False"),
        ('metadata.labels["app.kubernetes.io/name"]', "shop"),
        ("metadata.labels['app.kubernetes.io/name']", "shop"),
    ],
)
def test_a_list_item_is_picked_by_position_or_by_name(path: str, value: Any) -> None:
    assert checks.field(POD, path) == value
    assert checks.expect_field(POD, path, value) == value


@pytest.mark.parametrize(
    "path", ["spec.containers[name=db].image", "spec.containers[5].image", "metadata.annotations.note"]
)
def test_a_path_that_finds_nothing_is_the_learners_missing_field(path: str) -> None:
    assert checks.field(POD, path, "(none)") == "(none)"
    with pytest.raises(CheckFailed) as failure:
        checks.expect_field(POD, path, "x")
    assert str(failure.value).startswith(f"Pod 'web': {path} is not set.\n")


@pytest.mark.parametrize(
    ("path", "rest"),
    [
        ("spec.containers.[0].image", ".[0].image"),
        ("spec.containers[name = web].image", "[name = web].image"),
        ("spec.containers[name=web", "[name=web"),
        ("spec..containers", "..containers"),
        (".spec", ".spec"),
        ("spec.containers[0]image", "image"),
        ("spec containers", " containers"),
    ],
)
def test_an_unknown_path_syntax_is_an_authoring_error(path: str, rest: str) -> None:
    """It used to be read as some key that no object has, and fail the learner with "(not set)"."""
    reads = (
        lambda: checks.field(POD, path),
        lambda: checks.expect_field(POD, path, 1),
        lambda: checks.expect_fields(POD, {path: 1}),
        lambda: checks.expect_quantity(POD, path, "1"),
    )
    for read in reads:
        with pytest.raises(AuthoringError) as mistake:
            read()
        assert f"field path {path!r} cannot be read at {rest!r}." in str(mistake.value)
        assert "spec.containers[name=web].image" in str(mistake.value)  # the fix shows the syntax
    with pytest.raises(AuthoringError, match="an empty field path"):
        checks.field(POD, "")


# -- A missing list or mapping says it is missing, never an empty table -------------------------------
@pytest.mark.parametrize("expected", [[], {}, [{"key": "dedicated"}], {"app": "web"}])
def test_a_missing_list_or_mapping_field_is_shown_as_not_set(expected: Any) -> None:
    with pytest.raises(CheckFailed) as failure:
        checks.expect_field(POD, "spec.tolerations", expected)
    assert str(failure.value) == (
        f"Pod 'web': spec.tolerations is not set.\n  expected: {expected}\n  found:    (not set)"
    )


def test_equal_looking_empty_values_show_both_sides_not_an_empty_table() -> None:
    assert str(CheckFailed("Pod 'web': spec.tolerations is not as asked.", [], {})) == (
        "Pod 'web': spec.tolerations is not as asked.\n  expected: []\n  found:    {}"
    )


def test_a_condition_status_that_is_not_text_is_an_authoring_error() -> None:
    with pytest.raises(AuthoringError, match=r'write status="True", "False" or "Unknown"'):
        checks.expect_condition(POD, "Ready", True)  # type: ignore[arg-type]


def test_authoring_md_documents_the_path_syntax_and_the_author_errors() -> None:
    guide = (Path(__file__).resolve().parent.parent / "AUTHORING.md").read_text()
    for documented in ("spec.containers[name=web].image", "[type=Ready]", '["app.kubernetes.io/name"]',
                       "AuthoringError", "all_namespaces=True"):  # fmt: skip
        assert documented in guide, f"AUTHORING.md does not mention {documented}"


def test_the_real_discovery_names_the_kind_meant(sim_cluster: Path) -> None:
    """The fake above answers as the API server's discovery does: checked once against the session's cluster."""
    with pytest.raises(AuthoringError, match="did you mean 'StatefulSet'"):
        checks.objects("Statefulset", "default")
    with pytest.raises(AuthoringError, match="did you mean 'ConfigMap'"):
        checks.expect_object("ConfigMaps", "settings", namespace="default")
    with pytest.raises(AuthoringError, match="ConfigMap is namespaced, and no namespace is given"):
        checks.expect_object("ConfigMap", "settings")
    assert {node["kind"] for node in checks.objects("Node")} == {"Node"}  # cluster-wide: no namespace needed
    assert isinstance(checks.objects("Pod", all_namespaces=True), list)
