"""Kubeconfigs that carry one identity: a ServiceAccount token from the TokenRequest API.

A TokenRequest asks the API server to sign a short-lived token for a ServiceAccount. Nothing is
stored in the cluster, and the token can be *bound* to an object: the API server accepts it only
while that object exists. Each token here is bound to a Secret in the classroom namespace, so
deleting the Secret revokes the token at once, long before it expires:

* ``learner-<label>-session`` binds the tokens of the kubeconfigs handed to students
  (``class sandbox revoke`` deletes it);
* ``learner-<label>-grading`` binds the token one grading run gives the student's notebook, and is
  deleted when that run ends: a process the submission left behind holds a dead token.

The kubeconfig holds the cluster's address and CA certificate (inline) and the token; no file of
the instructor's is referenced from it.
"""

from __future__ import annotations

import base64
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from course._cli_output import StepFailed
from course._client import kubeconfig
from course.classroom._objects import LABEL, STUDENT_LABEL
from course.classroom.roster import CLASSROOM_NAMESPACE


def cluster_entry(admin_kubeconfig: Path | None = None) -> dict[str, Any]:
    """The current context's cluster of the admin kubeconfig, with its CA certificate inlined."""
    path = admin_kubeconfig or kubeconfig()
    config = yaml.safe_load(path.read_text())
    context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = dict(next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"]))
    authority = cluster.pop("certificate-authority", None)
    if authority and "certificate-authority-data" not in cluster:
        ca_path = Path(authority) if os.path.isabs(authority) else path.parent / authority
        cluster["certificate-authority-data"] = base64.b64encode(ca_path.read_bytes()).decode()
    return cluster


def api_port(cluster: dict[str, Any]) -> int:
    """The TCP port of the API server (the only one a jailed kernel may connect to).

    >>> api_port({"server": "https://127.0.0.1:32728"}), api_port({"server": "https://k8s.example"})
    (32728, 443)
    """
    from urllib.parse import urlsplit

    url = urlsplit(cluster["server"])
    return url.port or (443 if url.scheme == "https" else 80)


def binding_secret(core: client.CoreV1Api, name: str, student_label: str, renew: bool) -> client.V1Secret:
    """The Secret tokens are bound to; with ``renew``, a new one (every older token dies with the old)."""
    if renew:
        revoke(core, name)
    body = client.V1Secret(
        metadata=client.V1ObjectMeta(name=name, labels={LABEL: "token-binding", STUDENT_LABEL: student_label}),
        type="Opaque",
    )
    try:
        secret: client.V1Secret = core.create_namespaced_secret(CLASSROOM_NAMESPACE, body)
        return secret
    except ApiException as error:
        if error.status != 409:
            raise
    existing: client.V1Secret = core.read_namespaced_secret(name, CLASSROOM_NAMESPACE)
    return existing


class RevocationFailed(StepFailed):
    """A binding Secret could not be deleted, so the tokens bound to it still work."""


def revoke(core: client.CoreV1Api, secret_name: str) -> None:
    """Delete a binding Secret: every token bound to it stops working now.

    A Secret that is already gone (404) is revoked already. Anything else is raised as
    :class:`RevocationFailed`: a token that was meant to die but still works must never go unnoticed.
    """
    try:
        core.delete_namespaced_secret(secret_name, CLASSROOM_NAMESPACE, grace_period_seconds=0)
    except ApiException as error:
        if error.status == 404:
            return
        raise RevocationFailed(
            f"Could not revoke the tokens bound to Secret {CLASSROOM_NAMESPACE}/{secret_name}: "
            f"{error.status} {error.reason}. They still work until they expire; run the command again "
            "with a cluster admin's kubeconfig (K8S_COURSE_KUBECONFIG)."
        ) from None


def request_token(
    core: client.CoreV1Api, service_account: str, secret: client.V1Secret, seconds: int
) -> tuple[str, datetime]:
    """A token for ``service_account``, bound to ``secret``, valid ``seconds`` (the server may shorten it)."""
    meta = secret.metadata
    assert meta is not None
    body = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(
            audiences=[],
            expiration_seconds=seconds,
            bound_object_ref=client.V1BoundObjectReference(
                api_version="v1", kind="Secret", name=meta.name, uid=meta.uid
            ),
        )
    )
    status = core.create_namespaced_service_account_token(service_account, CLASSROOM_NAMESPACE, body).status
    assert status is not None and status.token and status.expiration_timestamp
    return status.token, status.expiration_timestamp


def kubeconfig_text(cluster: dict[str, Any], user: str, token: str, namespace: str | None = None) -> str:
    """A kubeconfig with one cluster, one user (the token) and one context (``k8s-course``), as YAML text."""
    context: dict[str, Any] = {"cluster": "k8s-course", "user": user}
    if namespace:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "k8s-course", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "k8s-course", "context": context}],
        "current-context": "k8s-course",
    }
    return yaml.safe_dump(config, sort_keys=False)


def write_kubeconfig(path: Path, cluster: dict[str, Any], user: str, token: str, namespace: str | None = None) -> Path:
    """:func:`kubeconfig_text` written to ``path``, mode 0600 (created so before the token is in it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(kubeconfig_text(cluster, user, token, namespace))
    return path
