"""``cluster.apply`` sends an object again when the namespace's ResourceQuota was busy, and only then.

The class grader once lost a whole chapter's points to "409 Conflict: Operation cannot be fulfilled on
resourcequotas" while a crowd of Pods was being created and deleted in the same namespace: nothing
about the learner's object was wrong. No cluster here: the API server's answers are played by a stub.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from course import _applying
from course._errors import CourseError

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 3}}


def conflict(kind: str) -> ApiException:
    error = ApiException(status=409, reason="Conflict")
    error.body = json.dumps(
        {
            "kind": "Status",
            "status": "Failure",
            "reason": "Conflict",
            "code": 409,
            "details": {"name": "q", "kind": kind},
            "message": f'Operation cannot be fulfilled on {kind} "q": the object has been modified',
        }
    )
    return error


class Stored:
    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = obj

    def to_dict(self) -> dict[str, Any]:
        return self.obj


class Resource:
    """A namespaced kind whose first ``failures`` applies are answered with ``error``."""

    namespaced = True

    def __init__(self, failures: int, error: ApiException) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def server_side_apply(self, body: dict[str, Any], **_: Any) -> Stored:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return Stored(body)


def stub_api(monkeypatch: pytest.MonkeyPatch, resource: Resource) -> None:
    class Resources:
        def get(self, **_: Any) -> Resource:
            return resource

    class Client:
        resources = Resources()

    monkeypatch.setattr(_applying, "dynamic_client", Client)
    monkeypatch.setattr(_applying.time, "sleep", lambda seconds: None)


def test_a_busy_quota_is_waited_out(monkeypatch: pytest.MonkeyPatch) -> None:
    resource = Resource(failures=2, error=conflict("resourcequotas"))
    stub_api(monkeypatch, resource)
    (stored,) = _applying.apply(DEPLOYMENT, "ada-01-why-kubernetes")
    assert resource.calls == 3
    assert stored["metadata"]["namespace"] == "ada-01-why-kubernetes"


def test_a_quota_busy_for_too_long_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    resource = Resource(failures=_applying.QUOTA_RETRIES + 1, error=conflict("resourcequotas"))
    stub_api(monkeypatch, resource)
    with pytest.raises(CourseError, match="409"):
        _applying.apply(DEPLOYMENT, "ada-01-why-kubernetes")
    assert resource.calls == _applying.QUOTA_RETRIES + 1


def test_a_conflict_about_the_object_itself_is_not_sent_again(monkeypatch: pytest.MonkeyPatch) -> None:
    resource = Resource(failures=1, error=conflict("deployments"))
    stub_api(monkeypatch, resource)
    with pytest.raises(CourseError, match="409"):
        _applying.apply(DEPLOYMENT, "ada-01-why-kubernetes")
    assert resource.calls == 1
