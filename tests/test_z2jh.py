"""The course on Zero to JupyterHub (issue 18): ``cluster-setup/z2jh/`` and ``class sandbox create --as-secrets``.

No Helm, chart or KubeSpawner here, so each file is checked against what they accept, as read:

* the values fragment's keys against the ``jupyterhub`` chart's ``values.schema.yaml`` of release
  4.4.0 (:data:`CHART_KEYS`, written down below: the schema itself is not the course's to vendor);
* the shapes Z2JH's ``jupyterhub_config.py`` (4.4.0) turns into KubeSpawner 7.1's ``volumes`` and
  ``volume_mounts``, and what KubeSpawner expands in them (``{username}``);
* the Kubernetes objects those values become (the server's Pod, the servers' NetworkPolicy), by the
  API server itself: ``kubectl apply --dry-run=server`` on the session's sim cluster;
* the image recipe, for what it copies into the image (never the answers);
* the Secrets ``--as-secrets`` writes, on the sim cluster: there, with the key the values mount, and a
  kubeconfig in each that reaches its student's namespaces only.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from course._pins import load_pins
from course._toolchain import load_toolchain
from course.classroom._objects import KUBECONFIG_KEY, LABEL
from course.classroom.hub import COURSE_ID
from course.classroom.roster import Student
from course.classroom.sandboxes import delete_sandboxes
from course.cli import main

REPO = Path(__file__).resolve().parent.parent
Z2JH = REPO / "cluster-setup" / "z2jh"
CHAPTER = "00-setup"

CHART_KEYS: dict[str, str] = {
    "": "keys: hub singleuser proxy ingress httpRoute scheduling prePuller cull rbac custom global debug"
    " imagePullSecret imagePullSecrets enabled fullnameOverride nameOverride",
    "hub": "keys: config services extraConfig loadRoles extraEnv extraFiles networkPolicy image db baseUrl"
    " cookieSecret concurrentSpawnLimit activeServerLimit allowNamedServers",  # a selection
    "hub.config": "classes",  # patternProperties '^[A-Z].*$': traitlets classes, each passed through
    "hub.services": "open",  # additionalProperties: true (a service's own keys: url, apiToken, ...)
    "hub.extraConfig": "open",  # name: Python source
    "singleuser": "keys: allowPrivilegeEscalation cloudMetadata cmd cpu defaultUrl events extraAnnotations"
    " extraContainers extraEnv extraFiles extraLabels extraNodeAffinity extraPodAffinity extraPodAntiAffinity"
    " extraPodConfig extraResource extraTolerations fsGid image initContainers lifecycleHooks memory networkPolicy"
    " networkTools nodeSelector podNameTemplate profileList serviceAccountName startTimeout storage uid",
    "singleuser.image": "keys: name tag pullPolicy pullSecrets",
    "singleuser.extraEnv": "open",  # name: a value, or a Kubernetes EnvVar
    "singleuser.storage": "keys: type extraLabels extraVolumes extraVolumeMounts static capacity homeMountPath dynamic",
    "singleuser.storage.extraVolumes": "open",  # Kubernetes Volumes: the API server checks them below
    "singleuser.storage.extraVolumeMounts": "open",  # Kubernetes VolumeMounts, likewise
    "singleuser.extraFiles": "files",
    "singleuser.networkPolicy": "keys: enabled ingress egress egressAllowRules interNamespaceAccessLabels"
    " allowedIngressPorts",
    "singleuser.networkPolicy.egress": "open",  # Kubernetes NetworkPolicyEgressRules, likewise
}
"""The keys of the ``jupyterhub`` chart 4.4.0's ``values.schema.yaml`` (jupyterhub/zero-to-jupyterhub-k8s, tag
4.4.0), for the parts of the values the course uses: each object the schema closes
(``additionalProperties: false``) with the keys it allows (a selection of ``hub``'s and the top level's,
all of ``singleuser``'s), or what the schema leaves open below it. Re-read the schema when the
chart's version in ``cluster-setup/z2jh/`` changes."""

EXTRA_FILE_KEYS = {"mountPath", "data", "stringData", "binaryData", "mode"}
"""``singleuser.extraFiles.<name>``: ``mountPath`` and exactly one of the three contents (4.4.0's schema)."""


def _values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((Z2JH / "values.yaml").read_text())
    return values


def unknown_keys(values: dict[str, Any], path: str = "") -> list[str]:
    """The dotted paths in ``values`` that :data:`CHART_KEYS` says the chart's schema refuses."""
    rule = CHART_KEYS.get(path, "open")
    if rule == "open":
        return []
    wrong = []
    for key, value in values.items():
        where = f"{path}.{key}" if path else key
        if rule == "classes":
            allowed = key[:1].isupper() and isinstance(value, dict)
        elif rule == "files":
            allowed = isinstance(value, dict) and set(value) <= EXTRA_FILE_KEYS
        else:
            allowed = key in rule.removeprefix("keys: ").split()
        if not allowed:
            wrong.append(where)
        elif isinstance(value, dict) and rule.startswith("keys: "):
            wrong += unknown_keys(value, where)
    return wrong


def test_the_values_use_only_keys_the_chart_accepts() -> None:
    assert unknown_keys(_values()) == []
    # The control: the mistakes the chart's schema refuses are found (volumes belong under storage).
    wrong = {"singleuser": {"extraVolumes": [], "storage": {"extraVolume": []}, "extraFiles": {"f": {"path": "/x"}}}}
    assert unknown_keys(wrong) == [
        "singleuser.extraVolumes",
        "singleuser.storage.extraVolume",
        "singleuser.extraFiles.f",
    ]


def _kubespawner_expands(text: str, username: str) -> str:
    """KubeSpawner's template expansion, for the one field the values use (``{username}``)."""
    return text.replace("{username}", username)


def test_the_kubeconfig_secret_is_mounted_where_the_course_looks_for_it() -> None:
    single = _values()["singleuser"]
    volumes, mounts = single["storage"]["extraVolumes"], single["storage"]["extraVolumeMounts"]
    assert isinstance(volumes, list) and isinstance(mounts, list)  # Z2JH takes a list (or a dict) of each
    assert all(isinstance(volume.get("name"), str) for volume in volumes)
    by_name = {volume["name"]: volume for volume in volumes}
    assert {mount["name"] for mount in mounts} <= set(by_name)
    (secret_volume,) = [volume for volume in volumes if "secret" in volume]
    (secret_mount,) = [mount for mount in mounts if mount["name"] == secret_volume["name"]]
    student = Student("ada")
    assert student.kubespawner_names_alike
    assert _kubespawner_expands(secret_volume["secret"]["secretName"], "ada") == student.kubeconfig_secret
    assert "subPath" not in secret_mount  # a subPath mount never sees the Secret's new token
    assert secret_mount.get("readOnly") is True
    assert single["extraEnv"]["K8S_COURSE_KUBECONFIG"] == f"{secret_mount['mountPath']}/{KUBECONFIG_KEY}"
    assert secret_volume["secret"]["defaultMode"] == 0o440


def test_nbgrader_in_every_server_uses_ngshare_with_the_courses_id() -> None:
    values = _values()
    files = values["singleuser"]["extraFiles"]
    for name, file in files.items():
        assert file["mountPath"].startswith("/"), name
        assert len({"data", "stringData", "binaryData"} & set(file)) == 1, name
    (nbgrader,) = [file for file in files.values() if file["mountPath"] == "/etc/jupyter/nbgrader_config.py"]
    source = nbgrader["stringData"]
    compile(source, "nbgrader_config.py", "exec")
    assert f'c.CourseDirectory.course_id = "{COURSE_ID}"' in source
    service = values["hub"]["services"]["ngshare"]
    assert f'configureExchange(c, "{service["url"]}/services/ngshare")' in source
    for code in values["hub"]["extraConfig"].values():
        compile(code, "extraConfig", "exec")


def _dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (instruction, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (Z2JH / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_the_image_installs_the_course_without_its_answers() -> None:
    """The image copies the files of the wheel ``tests/test_hub.py`` builds and finds no answers in
    (the package, ``pyproject.toml``, ``README.md``), a few settings, and nothing of ``autograder/``."""
    copied: dict[str, str] = {}
    for instruction, arguments in _dockerfile():
        if instruction == "COPY" and "--from=" not in arguments:
            *sources, target = [word for word in shlex.split(arguments) if not word.startswith("--")]
            copied.update(dict.fromkeys(sources, target))
    package = {source for source, target in copied.items() if target.startswith("/tmp/k8s-course")}
    assert package == {"pyproject.toml", "README.md", "course"}
    assert not [source for source in copied if source.startswith(("autograder", "notebooks")) or source == "."]
    installs = [arguments for instruction, arguments in _dockerfile() if "pip install" in arguments]
    assert len(installs) == 1 and '"/tmp/k8s-course[hub]"' in installs[0] and " -e " not in installs[0]
    assert all((REPO / source).exists() for source in copied)


def test_the_images_kubectl_is_the_courses_release() -> None:
    version = load_pins().kubernetes
    dockerfile = (Z2JH / "Dockerfile").read_text()
    assert f"ARG KUBERNETES_VERSION={version}\n" in dockerfile
    named = re.findall(r"k8s-course/bin/(v[\d.]+)", dockerfile + (Z2JH / "README.md").read_text())
    assert named and set(named) == {version}  # the build commands' binary cache folder


def _server_pod(values: dict[str, Any], username: str) -> dict[str, Any]:
    """The parts of a user's server Pod these values decide, as KubeSpawner writes them."""
    single = values["singleuser"]
    env = [{"name": name, "value": value} for name, value in single["extraEnv"].items()]

    def expand(objects: Any) -> Any:
        return yaml.safe_load(_kubespawner_expands(yaml.safe_dump(objects), username))

    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"jupyter-{username}"},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"fsGroup": 100},
            "volumes": expand(single["storage"]["extraVolumes"]),
            "containers": [
                {
                    "name": "notebook",
                    "image": f"{single['image']['name']}:{single['image']['tag']}",
                    "env": env,
                    "volumeMounts": expand(single["storage"]["extraVolumeMounts"]),
                    "securityContext": {"runAsUser": 1000, "allowPrivilegeEscalation": False},
                }
            ],
        },
    }


def _servers_network_policy(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "singleuser"},
        "spec": {
            "podSelector": {"matchLabels": {"component": "singleuser-server"}},
            "policyTypes": ["Egress"],
            "egress": values["singleuser"]["networkPolicy"]["egress"],
        },
    }


def _dry_run(kubeconfig: Path, objects: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    """``kubectl apply --dry-run=server``: the API server validates and admits, and stores nothing."""
    kubectl = load_toolchain().bin_dir / "kubectl"
    document = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects})
    command = [str(kubectl), "--kubeconfig", str(kubeconfig), "apply", "--dry-run=server", "-n", "default", "-f", "-"]
    return subprocess.run(command, input=document, capture_output=True, text=True, timeout=60)


def test_the_objects_the_values_make_pass_the_api_servers_validation(sim_cluster: Path) -> None:
    values = _values()
    checked = _dry_run(sim_cluster, [_server_pod(values, "ada"), _servers_network_policy(values)])
    assert checked.returncode == 0, checked.stderr
    assert "pod/jupyter-ada created (server dry run)" in checked.stdout
    # The control: a volume the API server refuses is refused here too.
    values["singleuser"]["storage"]["extraVolumes"][0]["secret"]["defaultMode"] = 0o1000
    refused = _dry_run(sim_cluster, [_server_pod(values, "ada")])
    assert refused.returncode != 0 and "defaultMode" in refused.stderr


@pytest.fixture
def hub_namespace(sim_cluster: Path) -> Iterator[str]:
    """The namespace a Z2JH release would live in (the module's cleanup deletes it)."""
    name = "z2jh-hub"
    core = client.CoreV1Api(config.new_client_from_config(str(sim_cluster)))  # type: ignore[no-untyped-call]
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name


def _secret_kubeconfig(core: client.CoreV1Api, namespace: str, student: Student, into: Path) -> Path:
    import base64

    secret = core.read_namespaced_secret(student.kubeconfig_secret, namespace)
    assert secret.metadata.labels[LABEL] == "kubeconfig"
    assert set(secret.data) == {KUBECONFIG_KEY}
    into.write_bytes(base64.b64decode(secret.data[KUBECONFIG_KEY]))
    return into


def _status(request: Any) -> int:
    try:
        request()
    except ApiException as error:
        return int(error.status)
    return 200


def test_sandbox_create_as_secrets_writes_kubeconfigs_a_server_can_mount(
    hub_namespace: str, sim_cluster: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ada, bob, numbered = Student("sec-ada"), Student("sec-bob"), Student("2024001")
    roster = tmp_path / "roster.csv"
    roster.write_text("id\nsec-ada\nsec-bob\n2024001\n")
    create = ["class", "sandbox", "create", "--roster", str(roster), "--chapter", CHAPTER, "--as-secrets"]
    try:
        assert main([*create, hub_namespace]) == 0
        said = capsys.readouterr().err
        assert f"Kubeconfig Secrets (k8s-course-kubeconfig-<label>): 3 in namespace {hub_namespace}" in said
        assert "so their servers would not find their Secret: 2024001." in said
        assert not (tmp_path / "classroom").exists() and "Kubeconfigs (one per student" not in said  # no files

        admin = client.CoreV1Api(config.new_client_from_config(str(sim_cluster)))  # type: ignore[no-untyped-call]
        path = _secret_kubeconfig(admin, hub_namespace, ada, tmp_path / "ada.kubeconfig")
        as_ada = client.CoreV1Api(config.new_client_from_config(str(path)))  # type: ignore[no-untyped-call]
        assert _status(lambda: as_ada.list_namespaced_pod(ada.namespace(CHAPTER))) == 200
        assert _status(lambda: as_ada.list_namespaced_pod(bob.namespace(CHAPTER))) == 403
        assert _status(lambda: as_ada.read_namespaced_secret(bob.kubeconfig_secret, hub_namespace)) == 403
        assert _status(lambda: as_ada.list_namespaced_pod(hub_namespace)) == 403

        # Again with the address the servers reach the API server at: each Secret is replaced.
        assert main([*create, hub_namespace, "--server", "https://kubernetes.default.svc"]) == 0
        path = _secret_kubeconfig(admin, hub_namespace, bob, tmp_path / "bob.kubeconfig")
        assert yaml.safe_load(path.read_text())["clusters"][0]["cluster"]["server"] == "https://kubernetes.default.svc"

        assert main([*create, "no-such-hub"]) == 1
        assert capsys.readouterr().err.splitlines()[-1] == (
            "ERROR: There is no namespace no-such-hub for the kubeconfig Secrets: name the hub's"
            " (helm install --namespace ...), or create it first."
        )
    finally:
        delete_sandboxes([ada, bob, numbered], None)
