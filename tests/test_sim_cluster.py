"""The sim cluster behaves as a real cluster: real controllers, real scheduler, real API server."""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import course
from course._toolchain import load_toolchain

from . import pictures_scenario
from .processes import listening_addresses

pytestmark = pytest.mark.usefixtures("sim_cluster")


@pytest.fixture(scope="module")
def cluster() -> Iterator[course.Cluster]:
    with pictures_scenario.namespace("tester-sim-cluster") as own:  # no other module resets it
        yield own


def kubectl(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(load_toolchain().bin_dir / "kubectl"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def pods_of(cluster: course.Cluster, selector: str) -> list[Any]:
    return list(cluster.core.list_namespaced_pod(cluster.namespace, label_selector=selector).items)


def test_nodes_have_roles_and_the_control_plane_taint(cluster: course.Cluster) -> None:
    nodes = {n.metadata.name: n for n in cluster.core.list_node().items}
    assert sorted(nodes) == ["course-control-plane", "course-worker", "course-worker2", "course-worker3"]
    control = nodes["course-control-plane"]
    assert "node-role.kubernetes.io/control-plane" in control.metadata.labels
    assert [(t.key, t.effect) for t in control.spec.taints] == [("node-role.kubernetes.io/control-plane", "NoSchedule")]
    assert all(not nodes[name].spec.taints for name in nodes if name != "course-control-plane")


def test_server_reports_the_pinned_version(cluster: course.Cluster) -> None:
    version = json.loads(kubectl("version", "-o", "json"))
    assert version["serverVersion"]["gitVersion"] == load_toolchain().pins.kubernetes
    assert version["clientVersion"]["gitVersion"] == load_toolchain().pins.kubernetes


def test_every_component_listens_on_loopback_only(sim_cluster: Path) -> None:
    """No port of the cluster answers on another address of this machine."""
    from course.backends.sim import SimBackend

    ours = listening_addresses(SimBackend().cluster_dir / "bin")
    assert {program for program, _ in ours} >= {"etcd", "kube-apiserver"}, ours
    assert all(address == "127.0.0.1" for _, address in ours), ours
    # And a connection to the API server's port on a non-loopback address is refused.
    port = int(Path(sim_cluster).read_text().split("https://127.0.0.1:")[1].split()[0])
    other = socket.gethostbyname(socket.gethostname())
    if not other.startswith("127."):
        with pytest.raises(OSError), socket.create_connection((other, port), timeout=2):
            pass


def one_pod_per_worker(name: str) -> str:
    """A Deployment of three nginx Pods, one on each worker (a topology spread constraint)."""
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      topologySpreadConstraints:
      - {{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule,
         labelSelector: {{matchLabels: {{app: {name}}}}}}}
      containers: [{{name: web, image: "nginx:1.27"}}]
"""


def test_deployment_makes_a_replicaset_and_ready_pods_spread_over_workers(cluster: course.Cluster) -> None:
    cluster.apply(one_pod_per_worker("spread"))
    cluster.wait_for("Deployment", "spread", "Available", timeout=30)
    owners = {ref.kind for pod in pods_of(cluster, "app=spread") for ref in pod.metadata.owner_references}
    assert owners == {"ReplicaSet"}
    replica_sets = cluster.apps.list_namespaced_replica_set(cluster.namespace, label_selector="app=spread").items
    assert len(replica_sets) == 1
    assert replica_sets[0].metadata.owner_references[0].name == "spread"
    nodes = {pod.spec.node_name for pod in pods_of(cluster, "app=spread")}
    assert nodes == {"course-worker", "course-worker2", "course-worker3"}


SERVICE_SUBNET = ipaddress.ip_network("10.96.0.0/16")
POD_SUBNET = ipaddress.ip_network("10.244.0.0/16")
"""kind's defaults (v1alpha4 Cluster ``networking.serviceSubnet``/``podSubnet``; a /24 per node), which
the chapters' diagrams use: the sim cluster gives out the same addresses."""


def test_services_and_pods_take_addresses_from_kinds_ranges(cluster: course.Cluster) -> None:
    nodes = cluster.core.list_node().items
    pod_cidrs = {node.metadata.name: node.spec.pod_cidr for node in nodes}
    assert all(pod_cidrs.values()), f"Nodes without a podCIDR: {pod_cidrs}"
    networks = {name: ipaddress.ip_network(cidr) for name, cidr in pod_cidrs.items()}
    assert all(net.prefixlen == 24 and net.subnet_of(POD_SUBNET) for net in networks.values()), pod_cidrs
    assert len(set(networks.values())) == len(nodes), f"Nodes share a podCIDR: {pod_cidrs}"

    service = "apiVersion: v1\nkind: Service\nmetadata: {name: addresses}\n"
    service += "spec: {selector: {app: addresses}, ports: [{port: 80}]}\n"
    cluster.apply(one_pod_per_worker("addresses") + "---\n" + service)
    cluster.wait_for("Deployment", "addresses", "Available", timeout=30)
    service = cluster.core.read_namespaced_service("addresses", cluster.namespace)
    assert ipaddress.ip_address(service.spec.cluster_ip) in SERVICE_SUBNET, service.spec.cluster_ip
    kubernetes = cluster.core.read_namespaced_service("kubernetes", "default")
    assert kubernetes.spec.cluster_ip == "10.96.0.1"
    pods = pods_of(cluster, "app=addresses")
    assert len({pod.spec.node_name for pod in pods}) == 3
    for pod in pods:
        assert ipaddress.ip_address(pod.status.pod_ip) in networks[pod.spec.node_name], (
            f"{pod.metadata.name} on {pod.spec.node_name} ({pod_cidrs[pod.spec.node_name]}) has {pod.status.pod_ip}"
        )


def test_deleted_pod_is_replaced(cluster: course.Cluster) -> None:
    cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "heal"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "heal"}},
                "template": {
                    "metadata": {"labels": {"app": "heal"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                },
            },
        }
    )
    cluster.wait_for("Deployment", "heal", "Available", timeout=30)
    victim = pods_of(cluster, "app=heal")[0].metadata.name
    cluster.core.delete_namespaced_pod(victim, cluster.namespace)
    cluster.wait_for("Pod", victim, "deleted", timeout=30)
    cluster.wait_for(
        "Deployment", "heal", lambda d: d.get("status", {}).get("readyReplicas") == 2, timeout=30
    )
    names = {pod.metadata.name for pod in pods_of(cluster, "app=heal")}
    assert victim not in names and len(names) == 2


def test_job_completes(cluster: course.Cluster) -> None:
    cluster.apply(
        """
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  completions: 2
  backoffLimit: 3
  template:
    spec:
      restartPolicy: Never
      containers: [{name: hello, image: "busybox:1.36", command: [echo, hello]}]
"""
    )
    job = cluster.wait_for("Job", "once", "Complete", timeout=30)
    assert job is not None and job["status"]["succeeded"] == 2


def test_claim_binds_through_the_default_storage_class(cluster: course.Cluster) -> None:
    cluster.apply(
        """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: writer}
spec:
  containers: [{name: app, image: "busybox:1.36", volumeMounts: [{name: data, mountPath: /data}]}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
"""
    )
    claim = cluster.wait_for("PersistentVolumeClaim", "data", "Bound", timeout=30)
    assert claim is not None and claim["spec"]["storageClassName"] == "standard"
    volume = cluster.core.read_persistent_volume(claim["spec"]["volumeName"])
    assert volume.spec.claim_ref.name == "data"
    cluster.wait_for("Pod", "writer", "Ready", timeout=30)


def test_kubectl_apply_get_and_rollout_undo(cluster: course.Cluster) -> None:
    namespace = cluster.namespace
    manifest = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: roll}
spec:
  replicas: 2
  selector: {matchLabels: {app: roll}}
  template:
    metadata: {labels: {app: roll}}
    spec: {containers: [{name: web, image: "nginx:IMAGE"}]}
"""
    kubectl("apply", "-n", namespace, "-f", "-", stdin=manifest.replace("IMAGE", "1.26"))
    kubectl("rollout", "status", "-n", namespace, "deployment/roll", "--timeout=30s")
    kubectl("apply", "-n", namespace, "-f", "-", stdin=manifest.replace("IMAGE", "1.27"))
    kubectl("rollout", "status", "-n", namespace, "deployment/roll", "--timeout=30s")
    assert "nginx:1.27" in kubectl("get", "deployment", "roll", "-n", namespace, "-o", "jsonpath={..image}")
    kubectl("rollout", "undo", "-n", namespace, "deployment/roll")
    kubectl("rollout", "status", "-n", namespace, "deployment/roll", "--timeout=30s")
    assert kubectl("get", "deployment", "roll", "-n", namespace, "-o", "jsonpath={..image}") == "nginx:1.26"
    history = kubectl("rollout", "history", "-n", namespace, "deployment/roll")
    assert "2" in history and "3" in history


def test_reset_empties_the_namespace(cluster: course.Cluster) -> None:
    cluster.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "scratch"}, "data": {"a": "1"}})
    cluster.reset()
    assert cluster.get("ConfigMap", "scratch") is None
    assert not pods_of(cluster, "")
    assert cluster.core.read_namespaced_service_account("default", cluster.namespace)


def test_a_process_that_connected_exits_without_walking_the_clients_objects() -> None:
    """A kernel that had connected took half a second (2 s on a busy machine) to exit, in its last garbage
    collection, and nbgrader waits for every graded notebook's kernel: connect() has them frozen at exit."""
    import sys

    program = (
        "import atexit, gc, course\n"
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))  # runs after connect's\n"
        "course.connect('00-setup', quiet=True)\n"
        "course.connect('00-setup', quiet=True)\n"
        "print('frozen before exit:', gc.get_freeze_count() > 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["frozen before exit: False", "frozen at exit: True"], done.stdout
