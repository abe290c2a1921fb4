"""A student's kubeconfig Secret, mounted by a real kubelet the way Zero to JupyterHub mounts it (issue 18).

``tests/test_z2jh.py`` checks on sim that ``class sandbox create --as-secrets`` writes each kubeconfig as a
Secret and that the values file mounts it; no container runs there. Here, on kind, a Pod made from the
values' volume and mount (as KubeSpawner would make the student's server) reads the kubeconfig from the
mounted file, as the server's user, and asks the API server at the address the servers use
(``--server https://kubernetes.default.svc``) with its token and CA: the student's namespace answers
200, a classmate's 403. Marked ``kind`` through the ``kind_cluster`` fixture.
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import yaml

from course._toolchain import load_toolchain
from course.classroom.roster import Student
from course.classroom.sandboxes import delete_sandboxes
from course.cli import main

from .test_z2jh import CHAPTER, _server_pod, _values

IN_CLUSTER_SERVER = "https://kubernetes.default.svc"

ASK_AS_THE_STUDENT = r"""
set -eu
kubeconfig=$K8S_COURSE_KUBECONFIG
value() { sed -n "s/^ *$1: *//p" "$kubeconfig" | tr -d "'\""; }
value certificate-authority-data | base64 -d > /tmp/ca.crt
for namespace in "$@"; do
  curl -s -o /dev/null -w "$namespace %{http_code}\n" --cacert /tmp/ca.crt \
    -H "Authorization: Bearer $(value token)" "$(value server)/api/v1/namespaces/$namespace/pods"
done
"""
"""Run in the Pod with namespaces as arguments: prints ``<namespace> <HTTP status>`` for listing the
Pods of each, with the server, CA and token of the mounted kubeconfig (shell, sed and base64 only)."""


def test_a_pod_that_mounts_a_students_secret_reaches_the_api_server_as_that_student(
    kind_cluster: Path, tmp_path: Path
) -> None:
    ada, bob = Student("kube-ada"), Student("kube-bob")
    hub = "z2jh-kind-hub"
    kubectl = [str(load_toolchain().bin_dir / "kubectl"), "--kubeconfig", str(kind_cluster), "-n", hub]

    def run(*args: str, stdin: str | None = None) -> str:
        result = subprocess.run([*kubectl, *args], input=stdin, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr
        return result.stdout

    roster = tmp_path / "roster.csv"
    roster.write_text(f"id\n{ada.id}\n{bob.id}\n")
    run("create", "namespace", hub)
    try:
        create = ["class", "sandbox", "create", "--roster", str(roster), "--chapter", CHAPTER]
        assert main([*create, "--as-secrets", hub, "--server", IN_CLUSTER_SERVER]) == 0

        # Ada's server, as the values make it, with a shell and curl instead of JupyterLab: its user
        # (1000, group 100 through fsGroup) reads the Secret's file, mode 0440.
        pod = copy.deepcopy(_server_pod(_values(), ada.label))
        pod["spec"]["restartPolicy"] = "Never"
        (server,) = pod["spec"]["containers"]
        server["image"] = "curlimages/curl:8.11.1"
        server["command"] = ["sh", "-c", ASK_AS_THE_STUDENT, "ask"]
        server["args"] = [ada.namespace(CHAPTER), bob.namespace(CHAPTER)]
        run("apply", "-f", "-", stdin=yaml.safe_dump(pod))
        name = pod["metadata"]["name"]
        waited = subprocess.run([*kubectl, "wait", f"pod/{name}", "--for=jsonpath={.status.phase}=Succeeded",
                                 "--timeout=150s"], capture_output=True, text=True, timeout=180)  # fmt: skip
        answers = run("logs", name).split()
        assert waited.returncode == 0, f"{waited.stderr}\n{answers}\n{run('describe', 'pod', name)}"
    finally:
        delete_sandboxes([ada, bob], None)
        subprocess.run([*kubectl, "delete", "namespace", hub, "--wait=false"], capture_output=True, timeout=120)
    assert answers == [ada.namespace(CHAPTER), "200", bob.namespace(CHAPTER), "403"]
