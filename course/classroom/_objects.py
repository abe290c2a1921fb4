"""The Kubernetes objects of a classroom, as plain manifests (no cluster needed to build them).

Three identities meet on a classroom cluster, and RBAC alone decides what each may do:

========================  ==============================================================================
who                       may
========================  ==============================================================================
the instructor (admin)    everything; creates the objects below (``class sandbox create``)
a student (ServiceAccount ``edit`` in each of *their* chapter namespaces (the built-in role: Pods,
``learner-<label>``)      Deployments, Services, Secrets, ... but not RBAC, quotas or the namespace
                          itself); one PersistentVolume per chapter namespace, ``<namespace>-pv``;
                          read-only: Nodes, Namespaces, StorageClasses and other cluster-wide
                          kinds a chapter shows, and the control plane's Leases in ``kube-system``
the grader                read everything (Secrets included) in student namespaces, and the same
(``k8s-course-grader``)   cluster-wide kinds; write nothing
========================  ==============================================================================

Everything else is a 403 from the API server: another student's namespace, ``kube-system``'s Secrets,
creating Namespaces or ClusterRoles, any PersistentVolume but the student's own. RBAC cannot limit
``create`` by name, so that last rule is a ValidatingAdmissionPolicy (``persistent-volumes.yaml``),
which refuses with 403 too. A ResourceQuota and a LimitRange (numbers in
``sandbox.yaml``) cap what one namespace may hold, and Pod Security Admission refuses privileged Pods.

Students' and the grader's ServiceAccounts live in ``k8s-course-classroom``, a namespace where no
student has any right: a student can neither delete their identity nor mint tokens for another.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from course._config import MapOf, load_config
from course.classroom.roster import CLASSROOM_NAMESPACE, GRADER, Student

Manifest = dict[str, Any]

LABEL = "k8s-course/classroom"
"""On every classroom object; its value says what the object is for (``sandbox``, ``identity``, ...)."""
STUDENT_LABEL = "k8s-course/student"
CHAPTER_LABEL = "k8s-course/chapter"

CLUSTER_READER = "k8s-course:cluster-reader"
GRADER_ROLE = "k8s-course:grader"
LEASE_READER = "k8s-course:control-plane-leases"
STUDENT_VOLUMES = "k8s-course:student-volumes"
VOLUME_POLICY = "k8s-course-student-volumes"
LEARNER_BINDING = "k8s-course-learner"
GRADER_BINDING = "k8s-course-grader"

CLUSTER_READ_RULES: list[dict[str, list[str]]] = [
    {"apiGroups": [""], "resources": ["nodes", "namespaces", "persistentvolumes"]},
    {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses", "csidrivers", "csinodes"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingressclasses"]},
    {"apiGroups": ["scheduling.k8s.io"], "resources": ["priorityclasses"]},
    {"apiGroups": ["node.k8s.io"], "resources": ["runtimeclasses"]},
    {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"]},
]
"""Cluster-wide kinds every classroom identity may read: what the chapters show about the cluster.
Namespaces are listed, so students see each other's namespace *names* (never their contents)."""

_READ = ["get", "list", "watch"]


SANDBOX_SCHEMA = {
    "pod-security": str,
    # ResourceQuota's spec.hard: resource names are Kubernetes'; the API server checks them.
    "quota": MapOf((str, int)),
    # LimitRange's spec.limits, item by item.
    "limits": [{"type": str, ...: Any}],
}
"""What ``sandbox.yaml`` holds; read strictly, so a misspelt key is an error, not a missing limit."""


@cache
def sandbox_settings() -> dict[str, Any]:
    """``sandbox.yaml``: the Pod Security level, the ResourceQuota and the LimitRange of a namespace."""
    path = Path(__file__).with_name("sandbox.yaml")
    data: dict[str, Any] = load_config(path, SANDBOX_SCHEMA, shown_as="course/classroom/sandbox.yaml")
    return data


def volume_objects() -> list[Manifest]:
    """``persistent-volumes.yaml``: who may write which PersistentVolume, for the course's chapters."""
    from course._chapters import chapter_ids

    manifests: list[Manifest] = yaml.safe_load(Path(__file__).with_name("persistent-volumes.yaml").read_text())
    for manifest in manifests:
        for variable in manifest.get("spec", {}).get("variables", []):
            if variable["name"] == "chapters":
                variable["expression"] = json.dumps(chapter_ids())  # a JSON list of strings is a CEL list
    return manifests


def _meta(name: str, purpose: str, namespace: str | None = None, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {LABEL: purpose, **labels}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _service_account_group() -> dict[str, str]:
    """Every ServiceAccount of the classroom namespace: the students and the grader."""
    return {
        "kind": "Group",
        "apiGroup": "rbac.authorization.k8s.io",
        "name": f"system:serviceaccounts:{CLASSROOM_NAMESPACE}",
    }


def _service_account_subject(name: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": CLASSROOM_NAMESPACE}


def _role_ref(kind: str, name: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name}


def shared_objects() -> list[Manifest]:
    """What every classroom needs once: the identities' namespace, the grader and the shared roles."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(CLASSROOM_NAMESPACE, "identities")},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(GRADER, "grader", CLASSROOM_NAMESPACE),
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta(CLUSTER_READER, "roles"),
            "rules": [{**rule, "verbs": _READ} for rule in CLUSTER_READ_RULES],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta(CLUSTER_READER, "roles"),
            "roleRef": _role_ref("ClusterRole", CLUSTER_READER),
            "subjects": [_service_account_group()],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta(GRADER_ROLE, "roles"),
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": _READ}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta(LEASE_READER, "roles", "kube-system"),
            "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": _READ}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(LEASE_READER, "roles", "kube-system"),
            "roleRef": _role_ref("Role", LEASE_READER),
            "subjects": [_service_account_group()],
        },
        *volume_objects(),
    ]


def volume_binding(student: Student) -> str:
    """The name of the student's ClusterRoleBinding to :data:`STUDENT_VOLUMES`."""
    return f"{STUDENT_VOLUMES}:{student.label}"


def identity_objects(student: Student) -> list[Manifest]:
    """The student's ServiceAccount (in the classroom namespace, out of the student's reach), and
    their right to write PersistentVolumes (which ones: see ``persistent-volumes.yaml``)."""
    labels = {STUDENT_LABEL: student.label}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(student.service_account, "identity", CLASSROOM_NAMESPACE, **labels),
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta(volume_binding(student), "identity", **labels),
            "roleRef": _role_ref("ClusterRole", STUDENT_VOLUMES),
            "subjects": [_service_account_subject(student.service_account)],
        },
    ]


def sandbox_objects(student: Student, chapter: str) -> list[Manifest]:
    """One chapter namespace of a student, with its RoleBindings, ResourceQuota and LimitRange."""
    settings = sandbox_settings()
    namespace = student.namespace(chapter)
    labels = {STUDENT_LABEL: student.label, CHAPTER_LABEL: chapter}
    security = {f"pod-security.kubernetes.io/{mode}": settings["pod-security"] for mode in ("enforce", "audit")}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(namespace, "sandbox", **labels, **security)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(LEARNER_BINDING, "sandbox", namespace, **labels),
            "roleRef": _role_ref("ClusterRole", "edit"),
            "subjects": [_service_account_subject(student.service_account)],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(GRADER_BINDING, "sandbox", namespace, **labels),
            "roleRef": _role_ref("ClusterRole", GRADER_ROLE),
            "subjects": [_service_account_subject(GRADER)],
        },
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": _meta("k8s-course-quota", "sandbox", namespace, **labels),
            "spec": {"hard": dict(settings["quota"])},
        },
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": _meta("k8s-course-limits", "sandbox", namespace, **labels),
            "spec": {"limits": list(settings["limits"])},
        },
    ]


KUBECONFIG_KEY = "kubeconfig"
"""The key of a student's kubeconfig Secret: the file's name where KubeSpawner mounts the Secret."""


def kubeconfig_secret(student: Student, kubeconfig: str) -> Manifest:
    """The student's kubeconfig as a Secret, for a hub on Kubernetes to mount into their server only.

    It lives in the hub's namespace, where only the hub and the instructor may read Secrets (students'
    servers get no token of that namespace: ``cluster-setup/z2jh/values.yaml``).
    """
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            **_meta(student.kubeconfig_secret, "kubeconfig", **{STUDENT_LABEL: student.label}),
            "annotations": {STUDENT_LABEL: student.id},  # an annotation takes any id, a label only DNS-like ones
        },
        "type": "Opaque",
        "stringData": {KUBECONFIG_KEY: kubeconfig},
    }
