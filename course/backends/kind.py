"""The kind backend: a real cluster whose nodes are containers, with real Pods, traffic and logs.

``kind`` (Kubernetes IN Docker) runs each node as a Docker or Podman container that holds a
kubelet and containerd, so Pods really run: ``kubectl logs`` and ``exec`` work, Services carry
traffic, Ingresses answer. On top of kind's own cluster the course adds (``cluster-setup/kind/``):

* an Ingress controller (Traefik) on the control-plane node, reached at ``http://localhost/``
  through the host ports that ``cluster.yaml`` maps (other ports when 80 or 443 are taken);
* cloud-provider-kind, a container beside the nodes that gives ``LoadBalancer`` Services an address;
* for ``kind-calico``, Calico instead of kindnet. Both enforce NetworkPolicies: kindnet has done so
  since kind v0.24 (kube-network-policies), so the course needs no Calico for them.

The node image is the official ``kindest/node`` pinned by digest in ``cluster-setup/versions.yaml``,
unless :data:`NODE_IMAGE_VARIABLE` names another: a node image of one's own, such as the one
``cluster-setup/kind/node-image/`` builds offline for CI. Such an image is taken to run offline: the
add-ons run from the images it preloads (Traefik under the tag it carries), an add-on whose image is
not there is left out, and the cluster says so in its capabilities instead of failing; kube-router,
when the image carries it, enforces NetworkPolicies beside that image's stand-in network plugin.

The course never writes ``~/.kube/config``: kind's kubeconfig goes to a throwaway file, and the
course's own (:func:`course._paths.kubeconfig_path`, context ``k8s-course``) is written from
``kind get kubeconfig``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import client, config

from course._cli_output import StepFailed, say, step
from course._config import MapOf, OneOf, Optional, load_config
from course._paths import CLUSTER_NAME, CONTEXT, cache_dir, kubeconfig_path, setup_dir, state_dir
from course._pins import load_pins
from course._toolchain import ensure_command, fetch_verified, load_toolchain
from course.backends._interface import (
    CAPABILITIES_ANNOTATION,
    CNI_LABEL,
    Capabilities,
    Status,
    recorded_capabilities,
)
from course.backends._nodes_and_configs import describe_node, remove_course_kubeconfig, write_course_kubeconfig
from course.backends.engine import Container, Engine, EngineError, EngineProbe, find_engine

KIND = Capabilities(containers=True, network_policy=True, load_balancer=True, ingress=True)
"""kind with its own CNI, kindnet, which enforces NetworkPolicies (kube-network-policies, since kind v0.24)."""
KIND_CALICO = KIND
"""kind with Calico instead of kindnet: for the course it does what kindnet does (the chapters use nothing
of Calico's own)."""

NODES = (f"{CLUSTER_NAME}-control-plane", f"{CLUSTER_NAME}-worker", f"{CLUSTER_NAME}-worker2")
CONTROL_PLANE = NODES[0]
KIND_NODE_LABEL = f"io.x-k8s.kind.cluster={CLUSTER_NAME}"
"""The label kind puts on the containers of a cluster's nodes."""
CLOUD_PROVIDER = f"{CLUSTER_NAME}-cloud-provider-kind"
# Not kind's label: kind would take a container with its label for one of the cluster's nodes.
COURSE_CONTAINER_LABEL = f"k8s-course/cluster={CLUSTER_NAME}"
LOAD_BALANCER_LABEL = f"io.x-k8s.cloud-provider-kind.cluster={CLUSTER_NAME}"
"""The label cloud-provider-kind puts on the proxy container of each LoadBalancer it makes."""

CLUSTER_CONFIG_SCHEMA = {
    "apiVersion": OneOf("kind.x-k8s.io/v1alpha4"),
    "kind": OneOf("Cluster"),
    "name": OneOf(CLUSTER_NAME),  # the Nodes' names (course-worker, ...) follow from it, as on sim
    "networking": Optional({"disableDefaultCNI": Optional(bool), "podSubnet": Optional(str)}),
    "nodes": [{
        "role": OneOf("control-plane", "worker"),
        "labels": Optional(MapOf(str)),
        "extraPortMappings": Optional([{
            "containerPort": int, "hostPort": int, "listenAddress": str, "protocol": OneOf("TCP", "UDP", "SCTP"),
        }]),
    }],
}  # fmt: skip
"""What ``cluster-setup/kind/cluster*.yaml`` may hold (kind's v1alpha4 Cluster, as far as the course uses
it); kind checks its own config again when it creates the cluster."""

HOST_PORTS = {80: "http", 443: "https"}
"""The control plane's ports that cluster.yaml maps to this machine, and what they carry."""
FALLBACK_PORTS = {80: 8080, 443: 8443}
CREATE_TIMEOUT = 900.0
"""Seconds for ``kind create cluster``; the first run pulls the node image (about 1 GB)."""
READY_TIMEOUT = 300.0
CALICO_MANIFESTS = ("operator-crds.yaml", "tigera-operator.yaml")
CALICO_URL = "https://raw.githubusercontent.com/projectcalico/calico/{version}/manifests/{name}"

NODE_IMAGE_VARIABLE = "K8S_COURSE_KIND_NODE_IMAGE"
"""Environment variable naming a node image of one's own instead of the pinned ``kindest/node``: for CI and
offline machines (``k8s-course/kind-node:v1.37.2-offline``, built by ``cluster-setup/kind/node-image/``)."""
KUBE_ROUTER_MANIFEST = "network-policy.yaml"
"""kube-router as a NetworkPolicy firewall (``cluster-setup/kind/``), for node images that preload it."""

T = TypeVar("T")


def variant_name(network_policy: bool) -> str:
    return "kind-calico" if network_policy else "kind"


class KindBackend:
    """Runs the course cluster with kind. See the module docstring.

    ``network_policy`` chooses the variant: False for kindnet (``kind``), True for Calico
    (``kind-calico``), None for "whichever exists" (what ``--backend auto`` finds running).
    """

    def __init__(self, network_policy: bool | None = False) -> None:
        self.network_policy = network_policy
        self.name = variant_name(bool(network_policy))
        self.capabilities = KIND_CALICO if network_policy else KIND

    @property
    def config_file(self) -> Path:
        """The kind config of this variant in ``cluster-setup/kind/``."""
        return setup_dir() / "kind" / ("cluster-calico.yaml" if self.network_policy else "cluster.yaml")

    # -- Backend protocol ---------------------------------------------------------------------
    def available(self) -> tuple[bool, str]:
        probe = find_engine()
        if probe.engine is None:
            return False, probe.reason
        return True, f"real containers, in {probe.engine.label}"

    def exists(self) -> bool:
        engine = find_engine().engine
        return engine is not None and bool(_nodes(engine) or engine.containers(COURSE_CONTAINER_LABEL))

    def status(self) -> Status:
        engine = find_engine().engine
        if engine is None:
            return Status(self.name, running=False, detail="no kind cluster (no container engine answers)")
        try:
            nodes = _nodes(engine)
        except EngineError as problem:
            return Status(self.name, running=False, detail=f"the container engine failed: {problem}")
        if not nodes:
            return Status(self.name, running=False, detail="no kind cluster")
        stopped = [node.name for node in nodes if node.state != "running"]
        if stopped:
            return Status(self.name, running=False, detail=f"kind nodes not running: {', '.join(stopped)}")
        try:
            server, version, node_objects = _read_cluster(engine)
        except (StepFailed, EngineError) as problem:
            return Status(self.name, running=False, detail=str(problem))
        found = variant_name(_has_calico(node_objects))
        ports = engine.published_ports(CONTROL_PLANE)
        urls = ", ".join(f"{HOST_PORTS[p]}://localhost:{ports[p]}/" for p in sorted(HOST_PORTS) if p in ports)
        capabilities = recorded_capabilities(node["metadata"] for node in node_objects) or KIND
        details = [f"Ingress at {urls}" if capabilities.ingress else "no Ingress controller"]
        details += [] if capabilities.load_balancer else ["LoadBalancer Services get no address"]
        details += [] if capabilities.network_policy else ["NetworkPolicies are stored, not enforced"]
        status = Status(
            found,
            running=True,
            server=server,
            version=version,
            nodes=tuple(describe_node(node) for node in node_objects),
            detail="; ".join(details),
        )
        if self.network_policy is not None and found != self.name:
            return replace(status, running=False, detail=_mismatch(found, self.name))
        return status

    def up(self) -> Status:
        engine = _require_engine(find_engine())
        if _nodes(engine):
            return self._reuse(engine)
        # Everything that can refuse (a config mistake, a missing checksum, no Go, no node image) does so
        # before minutes of creating.
        cluster_config(self.config_file)
        image = node_image()
        if not pulls_addons(image) and not engine.has_image(image):
            raise StepFailed(missing_node_image_message(image, engine))
        kind = ensure_command("kind")
        calico = self._calico_manifests() if self.network_policy else []
        host_ports, notes = choose_host_ports({port: port for port in HOST_PORTS})
        for note in notes:
            say(note)
        rendered = state_dir() / "kind-config.yaml"
        rendered.parent.mkdir(parents=True, exist_ok=True)
        rendered.write_text(render_config(self.config_file, host_ports, cgroup_v1=engine.cgroup_version() == "1"))
        nodes = "1 control plane, 2 workers"
        source = "the first time pulls the node image" if pulls_addons(image) else f"node image {image}"
        with step(f"Creating the kind cluster {CLUSTER_NAME!r} ({nodes}; {source})"):
            _run_kind(
                engine, kind, "create", "cluster", "--name", CLUSTER_NAME, "--config", str(rendered),
                "--image", image, timeout=CREATE_TIMEOUT,
            )  # fmt: skip
        return self._finish(engine, kind, calico)

    def down(self) -> None:
        engine = find_engine().engine
        if engine is None:
            return
        # What `kind delete cluster` does (docker rm -f -v of the node containers), without needing
        # kind itself; then the course's own containers and the load balancers made for the cluster.
        names = [c.name for label in (KIND_NODE_LABEL, COURSE_CONTAINER_LABEL, LOAD_BALANCER_LABEL)
                 for c in engine.containers(label)]  # fmt: skip
        if names:
            result = engine.run("rm", "--force", "--volumes", *names, timeout=180)
            if result.returncode != 0:
                raise StepFailed(f"{engine.name} rm {' '.join(names)} failed: {result.stderr.strip()[-1000:]}")
        remove_course_kubeconfig()

    # -- steps --------------------------------------------------------------------------------
    def _reuse(self, engine: Engine) -> Status:
        """Bring an existing cluster back (stopped nodes, a missing kubeconfig), or say it is broken."""
        nodes = _nodes(engine)
        names = sorted(node.name for node in nodes)
        if names != sorted(NODES):
            raise StepFailed(_broken(f"its nodes are {', '.join(names)}, the course expects {', '.join(NODES)}"))
        stopped = [node.name for node in nodes if node.state != "running"]
        if stopped:
            with step(f"Starting the stopped kind nodes ({', '.join(stopped)})"):
                result = engine.run("start", *stopped, timeout=180)
                if result.returncode != 0:
                    raise StepFailed(_broken(f"{engine.name} start failed: {result.stderr.strip()[-500:]}"))
        # kind writes admin.conf in kubeadm init: without it, creating was interrupted and no API server will come.
        if engine.run("exec", CONTROL_PLANE, "test", "-f", "/etc/kubernetes/admin.conf", timeout=60).returncode != 0:
            raise StepFailed(_broken("it was not finished being created (was cluster up interrupted?)"))
        try:
            with step("Waiting for the kind cluster's API server"):
                node_list = json.loads(_retry(lambda: _kubectl(engine, "get", "nodes", "-o", "json"), READY_TIMEOUT))
        except StepFailed as problem:
            raise StepFailed(_broken(str(problem))) from None
        found = variant_name(_has_calico(node_list["items"]))
        if self.network_policy is not None and found != self.name:
            raise StepFailed(_mismatch(found, self.name))
        calico = self._calico_manifests() if found == "kind-calico" else []
        kind = ensure_command("kind")
        try:
            return self._finish(engine, kind, calico)
        except StepFailed as problem:
            raise StepFailed(_broken(str(problem))) from None

    def _finish(self, engine: Engine, kind: Path, calico: list[Path]) -> Status:
        """Kubeconfig, add-ons, then wait: every step is safe to repeat on a running cluster."""
        with step(f"Writing the course kubeconfig (context {CONTEXT})"):
            kind_config = _run_kind(engine, kind, "get", "kubeconfig", "--name", CLUSTER_NAME)
            write_course_kubeconfig(yaml.safe_load(kind_config))
        pins = load_pins()
        if calico:
            with step(f"Installing Calico {pins.calico} (Tigera operator)"):
                # --force-conflicts: take over fields that an earlier client-side apply of them owns.
                apply = ("apply", "--server-side", "--force-conflicts", "-f", "-")
                for manifest in calico:
                    _kubectl(engine, *apply, stdin=manifest.read_text())
                _kubectl(engine, "wait", "--for=condition=Established", "crd/installations.operator.tigera.io")
                installation = (setup_dir() / "kind" / "calico-installation.yaml").read_text()
                _kubectl(engine, "apply", "--server-side", "-f", "-", stdin=installation)
        pulls = pulls_addons(_running_node_image(engine))
        preloaded = _preloaded_images(engine)
        ingress = addon_image(pins.kind_ingress_image, preloaded, pulls)
        if ingress is None:
            say(f"  No Ingress controller: the node image does not carry {pins.kind_ingress_image}.")
        else:
            with step(f"Installing the Ingress controller ({ingress.rsplit('/', 1)[-1]})"):
                _kubectl(engine, "apply", "--server-side", "-f", "-", stdin=ingress_manifest(ingress))
        kube_router = addon_image(_manifest_image(KUBE_ROUTER_MANIFEST), preloaded, pulls=False)
        if kube_router is not None:
            with step(f"Installing kube-router to enforce NetworkPolicies ({kube_router.rsplit('/', 1)[-1]})"):
                _kubectl(engine, "apply", "--server-side", "-f", "-", stdin=kube_router_manifest(kube_router))
        load_balancer = _start_cloud_provider(engine, pins.kind_cloud_provider_image, pulls)
        capabilities = Capabilities(
            containers=True,
            network_policy=bool(calico) or pulls or kube_router is not None,
            load_balancer=load_balancer,
            ingress=ingress is not None,
        )
        wait = f"--timeout={READY_TIMEOUT:.0f}s"
        with step(f"Waiting for {len(NODES)} nodes to be Ready"):
            _kubectl(engine, "wait", "--for=condition=Ready", "nodes", "--all", wait, timeout=READY_TIMEOUT + 30)
            _kubectl(engine, "annotate", "nodes", "--all", "--overwrite",
                     f"{CAPABILITIES_ANNOTATION}={capabilities.as_annotation()}")  # fmt: skip
        with step("Waiting for the add-ons to be ready"):
            if ingress is not None:
                _kubectl(engine, "-n", "course-ingress", "rollout", "status", "deployment/traefik", wait,
                         timeout=READY_TIMEOUT + 30)  # fmt: skip
            if kube_router is not None:
                _kubectl(engine, "-n", "kube-system", "rollout", "status", "daemonset/kube-router", wait,
                         timeout=READY_TIMEOUT + 30)  # fmt: skip
            if calico:
                _kubectl(engine, "wait", "--for=create", "tigerastatus/calico", wait, timeout=READY_TIMEOUT + 30)
                _kubectl(engine, "wait", "--for=condition=Available", "tigerastatus/calico", wait,
                         timeout=READY_TIMEOUT + 30)  # fmt: skip
        return self.status()

    def _calico_manifests(self) -> list[Path]:
        """Calico's release manifests, downloaded once and checked against ``checksums.yaml``."""
        version = load_pins().calico
        folder = cache_dir() / "kind-addons" / f"calico-{version}"
        folder.mkdir(parents=True, exist_ok=True)
        checksums = load_toolchain().checksums
        paths = []
        for name in CALICO_MANIFESTS:
            path = folder / name
            if not path.exists():
                url = CALICO_URL.format(version=version, name=name)
                with step(f"Downloading Calico {version} {name}"):
                    fetch_verified(url, checksums.get(url), path)
            paths.append(path)
        return paths


# -- configs and manifests ------------------------------------------------------------------------
def cluster_config(source: Path) -> dict[str, Any]:
    """The kind config ``source``, read strictly (:data:`CLUSTER_CONFIG_SCHEMA`): every problem at once."""
    config: dict[str, Any] = load_config(source, CLUSTER_CONFIG_SCHEMA, shown_as=f"cluster-setup/kind/{source.name}")
    return config


def render_config(source: Path, host_ports: Mapping[int, int], cgroup_v1: bool = False) -> str:
    """The kind config in ``source`` with the control plane's host ports set to ``host_ports``, and, for a
    host that runs cgroup v1, the kubelet patch of ``cluster-setup/kind/cgroup-v1.yaml``."""
    kind_config = cluster_config(source)
    for node in kind_config["nodes"]:
        for mapping in node.get("extraPortMappings", []):
            mapping["hostPort"] = host_ports.get(mapping["containerPort"], mapping["hostPort"])
    if cgroup_v1:
        kind_config["kubeadmConfigPatches"] = [(setup_dir() / "kind" / "cgroup-v1.yaml").read_text()]
    header = f"# Written by `python -m course cluster up` from cluster-setup/kind/{source.name}.\n"
    return header + yaml.safe_dump(kind_config, sort_keys=False)


def ingress_manifest(image: str) -> str:
    """``cluster-setup/kind/ingress.yaml`` with the controller image ``image``."""
    return _manifest_with_image("ingress.yaml", "Deployment", image)


def kube_router_manifest(image: str) -> str:
    """``cluster-setup/kind/network-policy.yaml`` (kube-router as a firewall) with ``image``."""
    return _manifest_with_image(KUBE_ROUTER_MANIFEST, "DaemonSet", image)


def _manifest_with_image(name: str, kind: str, image: str) -> str:
    documents = list(yaml.safe_load_all((setup_dir() / "kind" / name).read_text()))
    for document in documents:
        if document["kind"] == kind:
            document["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return yaml.safe_dump_all(documents, sort_keys=False)


def _manifest_image(name: str) -> str:
    """The image that the first workload of ``cluster-setup/kind/<name>`` names."""
    for document in yaml.safe_load_all((setup_dir() / "kind" / name).read_text()):
        if document["kind"] in ("Deployment", "DaemonSet"):
            return str(document["spec"]["template"]["spec"]["containers"][0]["image"])
    raise StepFailed(f"cluster-setup/kind/{name} has no Deployment or DaemonSet")


# -- node images and the add-on images they carry ---------------------------------------------------
def node_image() -> str:
    """The node image ``cluster up`` creates the cluster from: :data:`NODE_IMAGE_VARIABLE`'s, else the pinned one."""
    return os.environ.get(NODE_IMAGE_VARIABLE) or load_pins().kind_node_image


def pulls_addons(image: str) -> bool:
    """Whether a cluster of node image ``image`` pulls the add-on images it lacks: the pinned official
    image does (it needs the internet anyway); a node image of one's own is taken to run offline."""
    return image == load_pins().kind_node_image


def repository(image: str) -> str:
    """``image`` without its tag or digest.

    >>> repository("docker.io/library/traefik:v3.6.8"), repository("localhost:5000/kind@sha256:ab")
    ('docker.io/library/traefik', 'localhost:5000/kind')
    """
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def addon_image(wanted: str, preloaded: Collection[str], pulls: bool) -> str | None:
    """The image to run an add-on with: ``wanted`` when the node image carries it or the node may pull it;
    else the same repository under the tag the node image carries (an offline node image holds what could
    be built: Traefik v3.6.12 where v3.6.8 is pinned); else None, and the add-on is left out.

    >>> addon_image("docker.io/library/traefik:v3.6.8", {"docker.io/library/traefik:v3.6.12"}, pulls=False)
    'docker.io/library/traefik:v3.6.12'
    >>> addon_image("docker.io/library/traefik:v3.6.8", set(), pulls=True)
    'docker.io/library/traefik:v3.6.8'
    """
    if wanted in preloaded:
        return wanted
    same = sorted(image for image in preloaded if repository(image) == repository(wanted))
    if same:
        return same[-1]
    return wanted if pulls else None


def missing_node_image_message(image: str, engine: Engine) -> str:
    """Why ``cluster up`` cannot start from ``image``, and the two ways out."""
    return (
        f"The node image {image} ({NODE_IMAGE_VARIABLE}) is not in {engine.label}.\n"
        "  Build it: python cluster-setup/kind/node-image/build.py (offline, see its README), "
        f"or unset {NODE_IMAGE_VARIABLE} to use the pinned kindest/node."
    )


# -- host ports -----------------------------------------------------------------------------------
def port_in_use(port: int) -> bool:
    """Whether something on this machine answers at 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def choose_host_ports(wanted: Mapping[int, int]) -> tuple[dict[int, int], list[str]]:
    """Host ports for the control plane's ports: ``wanted`` where free, else another free one.

    Returns ``{container port: host port}`` and the lines that tell the learner what changed.
    """
    chosen: dict[int, int] = {}
    notes: list[str] = []
    for container, host in wanted.items():
        if not port_in_use(host):
            chosen[container] = host
            continue
        fallback = FALLBACK_PORTS.get(container)
        alternative = fallback if fallback and not port_in_use(fallback) else _free_port()
        chosen[container] = alternative
        scheme = HOST_PORTS.get(container, "tcp")
        notes.append(
            f"Port {host} is already in use on this machine (something answers at 127.0.0.1:{host}), "
            f"so the cluster's {scheme.upper()} entry is {scheme}://localhost:{alternative}/ instead."
        )
    if notes:
        notes.append(
            "  To get the usual ports back, stop what uses them, then: "
            "python -m course cluster up --backend kind --recreate"
        )
    return chosen, notes


# -- talking to the engine, kind and the cluster ----------------------------------------------------
def no_engine_message(probe: EngineProbe) -> str:
    """Why kind cannot run here, what to do, and the sim backend as the way to go on now."""
    if probe.installed:
        fix = (
            "Start the engine (Docker Desktop, or: sudo systemctl start docker; for Podman: "
            "systemctl --user start podman.socket), then run this again."
        )
    else:
        fix = "Install Docker (https://docs.docker.com/get-docker/) or Podman for real containers."
    return (
        f"The kind backend needs a running container engine: {probe.reason}.\n"
        f"  {fix}\n"
        "  Or go on without containers, with the simulated cluster: python -m course cluster up --backend sim"
    )


def _require_engine(probe: EngineProbe) -> Engine:
    if probe.engine is None:
        raise StepFailed(no_engine_message(probe))
    return probe.engine


def _nodes(engine: Engine) -> list[Container]:
    return engine.containers(KIND_NODE_LABEL)


def _broken(why: str) -> str:
    return (
        f"A kind cluster called {CLUSTER_NAME!r} exists, but it does not work: {why}\n"
        "  Delete it and create it again (whatever you created in it is lost):\n"
        "    python -m course cluster up --backend kind --recreate"
    )


def _mismatch(found: str, wanted: str) -> str:
    return (
        f"The kind cluster that exists is the {found!r} variant, not {wanted!r}.\n"
        "  Replace it (whatever you created in it is lost):\n"
        f"    python -m course cluster up --backend {wanted} --recreate"
    )


def _run_kind(engine: Engine, kind: Path, *args: str, timeout: float = 120) -> str:
    """Run kind with the engine's environment; its own kubeconfig goes to a throwaway file."""
    throwaway = state_dir() / "kind-internal.kubeconfig"
    command = [str(kind), *args]
    if args[0] in ("create", "delete"):
        command += ["--kubeconfig", str(throwaway)]
    try:
        result = subprocess.run(
            command,
            env=engine.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise StepFailed(f"kind {' '.join(args[:2])} did not finish in {timeout:.0f}s.") from None
    finally:
        throwaway.unlink(missing_ok=True)
    if result.returncode != 0:
        output = result.stderr.strip()[-2000:]
        taken = TAKEN_PORT.search(output)
        if taken:  # kind has deleted the nodes it made (no --retain): one line is the whole story
            raise StepFailed(taken_port_message(int(taken.group(1))))
        refused = PRIVILEGED_REFUSED.search(output)
        if refused:
            raise StepFailed(no_privileged_containers_message(engine, refused.group(0)))
        raise StepFailed(
            f"kind {' '.join(args[:2])} failed:\n{output}\nTry: python -m course cluster down, then up again."
        )
    return result.stdout


TAKEN_PORT = re.compile(r"(?:listen tcp[46]? \S+?|Bind for \S+?):(\d+)(?:: bind: address already in use|"
                        r" failed: port is already allocated)")  # fmt: skip
"""Docker's words (its userland proxy's, or its own) when a port it publishes is taken on the host."""


PRIVILEGED_REFUSED = re.compile(r"unable to apply caps: [\w ]+")
"""The OCI runtime's words when it cannot give a privileged container every capability: a daemon that runs in
a container or VM which withholds some (``docker run --privileged`` fails, an ordinary container starts)."""


def no_privileged_containers_message(engine: Engine, refusal: str) -> str:
    """One line: the engine cannot start the privileged containers that kind's nodes are, and the way on.

    >>> from course.backends.engine import Engine
    >>> no_privileged_containers_message(Engine("docker", "docker", "unix:///run/docker.sock"), "x")[:76]
    'Docker at unix:///run/docker.sock cannot start privileged containers (its ru'
    """
    return (
        f"{engine.label} cannot start privileged containers (its runtime says: {refusal}), and each kind node is "
        "one: use a Docker that can (Docker Desktop, your own Linux machine or VM, a codespace), or go on without "
        "containers: python -m course cluster up --backend sim"
    )


def taken_port_message(port: int) -> str:
    """One line: the host port Docker could not publish, and what to do.

    ``cluster up`` moves to another port when something answers on 80 or 443; this is a port taken
    without answering (a socket bound, not listening), or taken between that look and kind's create.

    >>> taken_port_message(80)[:79]
    'Port 80 of this machine is taken, so Docker could not publish the cluster on it'
    """
    return (
        f"Port {port} of this machine is taken, so Docker could not publish the cluster on it: free it (sudo ss "
        f"-tlnp 'sport = :{port}' shows who listens there), then run: python -m course cluster up --backend kind"
    )


def _kubectl(engine: Engine, *args: str, stdin: str | None = None, timeout: float = 120) -> str:
    """kubectl inside the control-plane node, as cluster-admin: version-matched, nothing to install."""
    interactive = ["--interactive"] if stdin is not None else []
    command = [
        "exec",
        *interactive,
        CONTROL_PLANE,
        "kubectl",
        "--kubeconfig=/etc/kubernetes/admin.conf",
        *args,
    ]
    try:
        result = engine.run(*command, stdin=stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise StepFailed(f"kubectl {' '.join(args)} did not finish in {timeout:.0f}s") from None
    if result.returncode != 0:
        raise StepFailed(f"kubectl {' '.join(args[:3])} ...: {result.stderr.strip()[-1000:]}")
    return result.stdout


def _retry(action: Callable[[], T], timeout: float) -> T:
    """Call ``action`` until it stops raising StepFailed, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except StepFailed:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def _has_calico(nodes: list[dict[str, Any]]) -> bool:
    return any((node["metadata"].get("labels") or {}).get(CNI_LABEL) == "calico" for node in nodes)


def _start_cloud_provider(engine: Engine, image: str, pulls: bool) -> bool:
    """Run cloud-provider-kind beside the nodes, with the engine's socket (it creates LB containers).

    Returns whether it runs. Without it, LoadBalancer Services stay ``<pending>`` and the rest of the
    course works, so a missing image or socket is said in one line rather than stopping ``cluster up``.
    """
    existing = engine.containers(COURSE_CONTAINER_LABEL)
    if any(container.state == "running" for container in existing):
        return True
    no_address = "  LoadBalancer Services get no address:"
    if existing:
        result = engine.run("start", CLOUD_PROVIDER)
    elif not pulls and not engine.has_image(image):
        say(f"{no_address} {image} is not in {engine.label}, and this node image pulls nothing.")
        return False
    else:
        socket_path = engine.socket_path
        if socket_path is None:
            say(f"{no_address} cloud-provider-kind needs the engine's unix socket.")
            return False
        # Docker Desktop serves /var/run/docker.sock inside its VM, whatever the path on the Mac.
        if ".docker/run/" in socket_path:
            socket_path = "/var/run/docker.sock"
        flags = ["--gateway-channel=disabled", "--enable-default-ingress=false"]
        if platform.system() != "Linux":
            # The nodes' network is inside a VM there: publish each load balancer on localhost.
            flags.append("--enable-lb-port-mapping")
        result = engine.run(
            "run", "--detach", "--name", CLOUD_PROVIDER, "--label", COURSE_CONTAINER_LABEL,
            "--restart", "unless-stopped", "--network", "kind",
            "--volume", f"{socket_path}:/var/run/docker.sock", image, *flags,
        )  # fmt: skip
    if result.returncode != 0:
        say(f"{no_address} cloud-provider-kind did not start: {result.stderr.strip()[-300:]}")
        return False
    return True


def _running_node_image(engine: Engine) -> str:
    """The image the control-plane node was created from (a reused cluster may predate a change of pin)."""
    return str(engine.get(f"/containers/{CONTROL_PLANE}/json")["Config"]["Image"])


def _preloaded_images(engine: Engine) -> set[str]:
    """The images the control-plane node already holds (``crictl images``), by their full names."""
    result = engine.run("exec", CONTROL_PLANE, "crictl", "images", "--output", "json", timeout=60)
    if result.returncode != 0:
        raise StepFailed(f"crictl images in {CONTROL_PLANE} failed: {result.stderr.strip()[-500:]}")
    return {tag for image in json.loads(result.stdout)["images"] for tag in image.get("repoTags") or []}


def _read_cluster(engine: Engine) -> tuple[str, str, list[dict[str, Any]]]:
    """API server URL, version and Nodes, through the course kubeconfig, which must point at kind."""
    path = kubeconfig_path()
    if not path.exists():
        raise StepFailed("the kind cluster runs, but the course kubeconfig is missing: run cluster up")
    server = yaml.safe_load(path.read_text())["clusters"][0]["cluster"]["server"]
    if urllib.parse.urlsplit(server).port != engine.published_ports(CONTROL_PLANE).get(6443):
        raise StepFailed("the kind cluster runs, but the course kubeconfig points elsewhere: run cluster up")
    api = config.new_client_from_config(config_file=str(path))  # type: ignore[no-untyped-call]  # untyped upstream
    try:
        version = client.VersionApi(api).get_code(_request_timeout=5).git_version
        nodes = client.CoreV1Api(api).list_node(_request_timeout=5).items
    except Exception as problem:  # urllib3 and ApiException alike: the API server does not answer
        raise StepFailed(f"the kind cluster's API server does not answer: {problem}") from None
    finally:
        api.close()
    return server, str(version), [api.sanitize_for_serialization(node) for node in nodes]
