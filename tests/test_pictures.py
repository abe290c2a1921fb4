"""The pictures' models, built from objects of the real sim cluster: what each picture says is so."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import course
from course.pictures import control_plane, explain_route, owner_graph, placement_map
from course.pictures._reading import Snapshot
from course.pictures.control import build_control_plane
from course.pictures.owners import NAMESPACED_KINDS, SIBLINGS_SHOWN, build_owner_graph
from course.pictures.placement import PODS_SHOWN
from course.pictures.routes import match_ingress
from tests import pictures_scenario


@pytest.fixture(scope="module")
def cluster(sim_cluster: Path) -> Iterator[course.Cluster]:
    with pictures_scenario.namespace(pictures_scenario.NAMESPACE) as scenario:
        pictures_scenario.build(scenario)
        yield scenario


def svg_texts(svg: str) -> set[str]:
    """Every label and tooltip of an SVG picture."""
    return set(re.findall(r">([^<>]+)<", svg))


def pod_names(cluster: course.Cluster, selector: str) -> list[str]:
    return sorted(
        p.metadata.name for p in cluster.core.list_namespaced_pod(cluster.namespace, label_selector=selector).items
    )


# -- owner graph ---------------------------------------------------------------------------------
class TestOwnerGraph:
    def test_deployment_owns_a_replicaset_that_owns_its_ready_pods(self, cluster: course.Cluster) -> None:
        graph = owner_graph(cluster.namespace)
        [replica_set] = graph.children("Deployment/web")
        assert replica_set.kind == "ReplicaSet"
        pods = graph.children(replica_set.key)
        assert sorted(p.name for p in pods) == pod_names(cluster, "app=web")
        assert {p.status.tone for p in pods} == {"ready"}

    def test_service_reaches_pods_through_its_endpointslice(self, cluster: course.Cluster) -> None:
        graph = owner_graph(cluster.namespace)
        [endpoints] = graph.children("Service/web")
        assert endpoints.kind == "EndpointSlice"
        assert sorted(p.name for p in graph.children(endpoints.key)) == pod_names(cluster, "app=web")
        assert graph.nodes["Service/web"].status.label == "3 endpoints"
        assert graph.nodes["Service/nobody"].status.label == "no endpoints"

    def test_statefulset_chain_goes_down_to_the_storage_class(self, cluster: course.Cluster) -> None:
        graph = owner_graph(cluster.namespace)
        [pod] = graph.children("StatefulSet/db")
        [claim] = graph.children(pod.key)
        [volume] = graph.children(claim.key)
        [storage_class] = graph.children(volume.key)
        assert (pod.name, claim.name, storage_class.name) == ("db-0", "data-db-0", "standard")
        assert volume.kind == "PersistentVolume" and volume.status.label == "Bound"

    def test_job_is_done_and_ingress_routes_to_services_even_missing_ones(self, cluster: course.Cluster) -> None:
        graph = owner_graph(cluster.namespace)
        assert graph.nodes["Job/once"].status.tone == "done"
        assert {n.name for n in graph.children("Ingress/shop")} == {"web", "nobody", "gone", "stuck", "wrongport"}
        assert graph.nodes["Service/gone"].status.tone == "failed"
        assert graph.nodes["Pod/huge"].status.label == "Unschedulable"

    def test_one_object_shows_only_what_is_linked_to_it(self, cluster: course.Cluster) -> None:
        graph = owner_graph(cluster.namespace, "StatefulSet", "db")
        assert {n.kind for n in graph.nodes.values()} == {
            "StatefulSet", "Pod", "PersistentVolumeClaim", "PersistentVolume", "StorageClass",
        }  # fmt: skip
        missing = owner_graph(cluster.namespace, "Deployment", "nope")
        assert not missing.nodes and "does not exist" in missing.notes[0]

    def test_every_object_is_drawn_with_its_name(self, cluster: course.Cluster) -> None:
        graph = owner_graph(cluster.namespace)
        texts = svg_texts(graph.to_svg())
        assert all(node.name in texts or any(node.name in t for t in texts) for node in graph.nodes.values())
        assert len(graph.nodes) >= 25
        text = str(graph)
        assert "Deployment web [3/3 ready]" in text and "Pod huge [Unschedulable]" in text

    def test_an_empty_namespace_says_so(self, sim_cluster: Path) -> None:
        with pictures_scenario.namespace("tester-empty") as empty:
            graph = owner_graph(empty.namespace)
            assert not graph.nodes
            assert "Nothing here yet" in graph.to_svg() and "tester-empty" in graph.to_svg()


# -- many objects --------------------------------------------------------------------------------
CROWD = 150
"""Enough Pods to force every cap; bench numbers for larger counts are in the closing notes, not tests."""

@pytest.fixture(scope="module")
def crowd(sim_cluster: Path) -> Iterator[course.Cluster]:
    """CROWD Pods of one Deployment: more than any picture shows one by one, so they must summarise."""
    with pictures_scenario.namespace("tester-crowd") as crowded:
        crowded.apply(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "many"},
                "spec": {
                    "replicas": CROWD,
                    "selector": {"matchLabels": {"app": "many"}},
                    "template": {
                        "metadata": {"labels": {"app": "many"}},
                        "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
                    },
                },
            }
        )
        crowded.wait_for("Deployment", "many", "Ready", timeout=180)
        yield crowded
        crowded.reset()


class TestManyObjects:
    def test_siblings_fold_into_one_box_that_counts_them(self, crowd: course.Cluster) -> None:
        graph = owner_graph(crowd.namespace)
        svg = graph.to_svg()
        [replica_set] = graph.children("Deployment/many")
        shown = graph.children(replica_set.key)
        assert len(shown) == SIBLINGS_SHOWN
        [summary] = [n for n in shown if n.is_summary]
        assert len(summary.hidden) == CROWD - (SIBLINGS_SHOWN - 1)
        assert graph.kinds()["Pod"] == CROWD
        assert f"+{CROWD - (SIBLINGS_SHOWN - 1)} Pod" in svg

    def test_a_read_limit_caps_the_listing_and_says_how_many_exist(self, crowd: course.Cluster) -> None:
        snapshot = Snapshot.read(crowd.namespace, NAMESPACED_KINDS, limit=50)
        assert len(snapshot.of("Pod")) == 50 and snapshot.totals["Pod"] == CROWD
        graph = build_owner_graph(snapshot)
        assert f"Read 50 of {CROWD} Pod objects" in " ".join(graph.notes)

    def test_placement_caps_each_node_column(self, crowd: course.Cluster) -> None:
        placement = placement_map(crowd.namespace)
        svg = placement.to_svg()
        assert placement.pod_count == CROWD
        busiest = max(placement.nodes, key=lambda n: len(n.pods))
        assert len(busiest.pods) > PODS_SHOWN
        assert f"+{len(busiest.pods) - (PODS_SHOWN - 1)} Pod" in svg


# -- placement -----------------------------------------------------------------------------------
class TestPlacement:
    def test_pods_stand_on_the_node_the_scheduler_chose(self, cluster: course.Cluster) -> None:
        placement = placement_map(cluster.namespace)
        for pod in cluster.core.list_namespaced_pod(cluster.namespace).items:
            if pod.spec.node_name:
                assert placement.where(pod.metadata.name) == pod.spec.node_name

    def test_an_unschedulable_pod_stands_apart_with_the_schedulers_reason(self, cluster: course.Cluster) -> None:
        placement = placement_map(cluster.namespace)
        reasons = {pod.name: pod.reason for pod in placement.unscheduled}
        assert set(reasons) >= {"huge"}
        assert "Insufficient cpu" in reasons["huge"] and reasons["huge"].startswith("0/4 nodes are available")
        assert "Insufficient cpu" in placement.to_svg()

    def test_nodes_show_role_taints_allocatable_and_requests(self, cluster: course.Cluster) -> None:
        placement = placement_map(cluster.namespace)
        control = placement.node("course-control-plane")
        assert control is not None and control.role == "control-plane"
        assert control.taints == ("node-role.kubernetes.io/control-plane:NoSchedule",)
        web_pods = [p for n in placement.nodes for p in n.pods if p.name.startswith("web-")]
        assert sum(p.cpu_millis for p in web_pods) == 300
        worker = placement.node("course-worker")
        assert worker is not None and worker.cpu_millis == 4000 and worker.memory_bytes == 8 * 2**30
        assert "allocatable 4 CPU, 8Gi" in placement.to_svg()


# -- route explainer -----------------------------------------------------------------------------
class TestRoutes:
    def test_a_matching_rule_reaches_the_ready_pods_on_the_target_port(self, cluster: course.Cluster) -> None:
        route = explain_route("http://shop.example.com/cart", cluster.namespace)
        assert route.reaches and route.ingress == "shop" and route.service == "web"
        assert (route.port, route.target_port) == ("80", "8080")
        assert route.pods == pod_names(cluster, "app=web")

    def test_longest_prefix_wins_and_exact_matches_exactly(self, cluster: course.Cluster) -> None:
        assert explain_route("http://shop.example.com/api/v1", cluster.namespace).service == "nobody"
        assert explain_route("http://shop.example.com/apiary", cluster.namespace).service == "web"
        assert explain_route("http://shop.example.com/old", cluster.namespace).service == "gone"
        assert explain_route("http://shop.example.com/old/x", cluster.namespace).service == "web"

    def test_a_wildcard_host_takes_one_label_and_other_hosts_get_the_default_backend(
        self, cluster: course.Cluster
    ) -> None:
        assert explain_route("http://blog.example.com/", cluster.namespace).service == "nobody"
        deep = explain_route("http://a.b.example.com/", cluster.namespace)
        assert deep.service == "web" and "defaultBackend" in deep.hops[0].detail and deep.reaches

    def test_why_a_request_reaches_no_pod(self, cluster: course.Cluster) -> None:
        ns = cluster.namespace
        assert "no Pod has these labels" in explain_route("http://shop.example.com/api", ns).problem
        assert "does not exist" in explain_route("http://shop.example.com/old", ns).problem
        stuck = explain_route("http://shop.example.com/stuck", ns)
        assert "2 Pods match app=stuck, but none is Ready" in stuck.problem
        assert "has no port 8080 (it has: 80 (http))" in explain_route("http://shop.example.com/port", ns).problem
        assert (
            "targetPort 'www' is not a named containerPort" in explain_route("http://shop.example.com/www", ns).problem
        )
        assert not any(explain_route(f"http://shop.example.com/{p}", ns).reaches for p in ("api", "stuck", "www"))

    def test_a_cluster_dns_name_starts_at_the_service(self, cluster: course.Cluster) -> None:
        route = explain_route(f"http://web.{cluster.namespace}.svc.cluster.local/", cluster.namespace)
        assert route.reaches and route.hops[0].kind == "DNS" and route.ingress == ""

    def test_the_picture_names_every_hop_and_the_problem(self, cluster: course.Cluster) -> None:
        svg = explain_route("http://shop.example.com/api", cluster.namespace).to_svg()
        texts = svg_texts(svg)
        assert {"shop", "nobody", "reaches no Pod"} <= texts
        assert any("no Pod has these labels" in t for t in texts)


# -- control plane -------------------------------------------------------------------------------
class TestControlPlane:
    def test_sim_reports_real_health_and_says_what_kwok_simulates(self, sim_cluster: Path) -> None:
        view = control_plane()
        assert view.backend == "sim"
        for name in ("kube-apiserver", "etcd", "kube-scheduler", "kube-controller-manager", "kwok"):
            component = view.component(name)
            assert component is not None and component.tone == "ready", component
        kubelet = view.component("kubelet", node="course-worker")
        proxy = view.component("kube-proxy", node="course-worker")
        assert kubelet is not None and kubelet.state == "simulated by kwok" and kubelet.tone == "ready"
        assert proxy is not None and proxy.state == "simulated by kwok" and proxy.tone == "idle"
        assert "simulated by kwok" in view.to_svg() and "kube-controller-manager" in view.to_svg()

    def test_a_lease_that_is_not_renewed_means_the_leader_is_lost(self, sim_cluster: Path) -> None:
        later = control_plane(now=datetime.now(UTC) + timedelta(minutes=5))
        scheduler = later.component("kube-scheduler")
        assert scheduler is not None and (scheduler.tone, scheduler.state) == ("failed", "leader lost")
        kubelet = later.component("kubelet", node="course-worker")
        assert kubelet is not None and "Lease stale" in kubelet.detail


# -- Ingress semantics, case by case as the Kubernetes documentation lists them --------------------------
def ingress(*paths: tuple[str, str], host: str = "") -> dict[str, Any]:
    backend = {"service": {"name": "svc", "port": {"number": 80}}}
    entries = [
        {"path": path, "pathType": kind, "backend": {"service": {"name": f"{kind}:{path}", "port": {"number": 80}}}}
        for kind, path in paths
    ]
    return {
        "metadata": {"name": "i"},
        "spec": {"defaultBackend": backend, "rules": [{"host": host, "http": {"paths": entries}}]},
    }


@pytest.mark.parametrize(
    ("paths", "request_path", "chosen"),
    [
        ([("Prefix", "/")], "/anything/at/all", "Prefix:/"),
        ([("Exact", "/foo")], "/foo", "Exact:/foo"),
        ([("Exact", "/foo")], "/bar", None),
        ([("Exact", "/foo")], "/foo/", None),
        ([("Exact", "/foo/")], "/foo", None),
        ([("Prefix", "/foo")], "/foo/", "Prefix:/foo"),
        ([("Prefix", "/foo/")], "/foo", "Prefix:/foo/"),
        ([("Prefix", "/aaa/bb")], "/aaa/bbb", None),
        ([("Prefix", "/aaa/bbb/")], "/aaa/bbb", "Prefix:/aaa/bbb/"),
        ([("Prefix", "/aaa/bbb")], "/aaa/bbb/ccc", "Prefix:/aaa/bbb"),
        ([("Prefix", "/aaa/bbb")], "/aaa/bbbxyz", None),
        ([("Prefix", "/"), ("Prefix", "/aaa")], "/aaa/ccc", "Prefix:/aaa"),
        ([("Prefix", "/"), ("Prefix", "/aaa"), ("Prefix", "/aaa/bbb")], "/aaa/bbb", "Prefix:/aaa/bbb"),
        ([("Prefix", "/"), ("Prefix", "/aaa"), ("Prefix", "/aaa/bbb")], "/ccc", "Prefix:/"),
        ([("Prefix", "/aaa")], "/ccc", None),
        ([("Prefix", "/foo"), ("Exact", "/foo")], "/foo", "Exact:/foo"),
    ],
)
def test_paths_match_as_the_kubernetes_docs_say(
    paths: list[tuple[str, str]], request_path: str, chosen: str | None
) -> None:
    candidate, why = match_ingress([ingress(*paths)], "example.com", request_path)
    assert (candidate.backend["service"]["name"] if candidate else None) == chosen
    assert bool(why) == (chosen is None)


@pytest.mark.parametrize(
    ("rule_hosts", "host", "chosen"),
    [
        (["*.foo.com"], "bar.foo.com", "*.foo.com"),
        (["*.foo.com"], "baz.bar.foo.com", None),
        (["*.foo.com"], "foo.com", None),
        (["*.foo.com", "bar.foo.com"], "bar.foo.com", "bar.foo.com"),
        (["", "*.foo.com"], "bar.foo.com", "*.foo.com"),
        (["", "foo.com"], "other.com", ""),
    ],
)
def test_exact_hosts_beat_wildcards_which_beat_rules_without_host(
    rule_hosts: list[str], host: str, chosen: str | None
) -> None:
    ingresses = [
        {**ingress(("Prefix", "/"), host=rule_host), "metadata": {"name": f"i{n}"}}
        for n, rule_host in enumerate(rule_hosts)
    ]
    candidate, _ = match_ingress(ingresses, host, "/")
    assert (candidate.host if candidate else None) == chosen


def test_show_prints_the_text_form_outside_a_notebook(
    cluster: course.Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.show_owners("Deployment", "web")
    cluster.show_route("http://shop.example.com/api")
    printed = capsys.readouterr().out
    assert "Deployment web [3/3 ready]" in printed and "✗ Service 'nobody' selects app=nobody" in printed


def test_on_kind_the_view_reads_component_pods_and_real_node_agents() -> None:
    """kind runs no kwok: the same builder reads static Pods, kube-proxy and the runtime (objects shaped as kind's)."""
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    fresh, stale = "2026-01-01T11:59:58Z", "2026-01-01T11:50:00Z"

    def pod(name: str, labels: dict[str, str], ready: bool, node: str = "course-control-plane") -> dict[str, Any]:
        condition = {"type": "Ready", "status": "True" if ready else "False"}
        waiting = [] if ready else [{"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]
        return {"kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": {"nodeName": node},
                "status": {"phase": "Running", "conditions": [condition], "containerStatuses": waiting}}  # fmt: skip

    def node(name: str, ready: bool) -> dict[str, Any]:
        info = {"kubeletVersion": "v1.37.2", "containerRuntimeVersion": "containerd://2.1.3"}
        condition = {"type": "Ready", "status": "True" if ready else "False"}
        return {"kind": "Node", "metadata": {"name": name}, "status": {"nodeInfo": info, "conditions": [condition]}}

    def lease(name: str, renewed: str) -> dict[str, Any]:
        return {
            "metadata": {"name": name},
            "spec": {"renewTime": renewed, "leaseDurationSeconds": 15, "holderIdentity": "x"},
        }

    snapshot = Snapshot("kube-system")
    snapshot.objects["Node"] = [node("course-control-plane", True), node("course-worker", False)]
    snapshot.objects["Pod"] = [
        pod("kube-apiserver-course-control-plane", {"component": "kube-apiserver"}, True),
        pod("kube-scheduler-course-control-plane", {"component": "kube-scheduler"}, True),
        pod("kube-controller-manager-course-control-plane", {"component": "kube-controller-manager"}, False),
        pod("kube-proxy-abcde", {"k8s-app": "kube-proxy"}, True, node="course-worker"),
        pod("coredns-1", {"k8s-app": "kube-dns"}, True),
    ]
    snapshot.objects["Lease"] = [lease("kube-scheduler", fresh), lease("kube-controller-manager", fresh)]
    snapshot.objects["NodeLease"] = [lease("course-control-plane", fresh), lease("course-worker", stale)]
    view = build_control_plane(snapshot, {"etcd": True, "ping": True}, now)
    assert view.backend == "kind"
    assert view.component("kube-scheduler").tone == "ready"  # type: ignore[union-attr]
    manager = view.component("kube-controller-manager")
    assert manager is not None and manager.tone == "failed" and "CrashLoopBackOff" in manager.detail
    assert view.component("CoreDNS").state == "1/1 ready"  # type: ignore[union-attr]
    kubelet, proxy, runtime = view.nodes["course-worker"]
    assert (kubelet.tone, kubelet.state, kubelet.detail) == ("failed", "v1.37.2", "NotReady, Lease stale")
    assert (proxy.tone, proxy.detail) == ("ready", "kube-proxy-abcde")
    assert runtime.state == "containerd://2.1.3"
    assert view.nodes["course-control-plane"][1].state == "not running"
    assert "simulated by kwok" not in view.to_svg()
