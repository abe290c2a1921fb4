"""The control-plane view: the components of the cluster and how healthy each one says it is.

Health comes from what the cluster itself reports, never from guessing:

* **kube-apiserver** answers ``/livez`` and ``/readyz?verbose``; **etcd** is one of the readyz checks;
* **kube-scheduler** and **kube-controller-manager** renew a leader Lease in ``kube-system`` every few
  seconds: a fresh Lease means a leader is working;
* on kind the components also run as Pods in ``kube-system`` (their readiness is shown too);
* every Node's **kubelet** renews a Lease in ``kube-node-lease`` and reports the Node's ``Ready`` condition;
  kube-proxy runs as a DaemonSet Pod, the container runtime is named in ``status.nodeInfo``.

On the sim backend kwok plays every kubelet and there is no kube-proxy or container runtime: the view
says "simulated by kwok" rather than pretending.

>>> view = control_plane()                                  # doctest: +SKIP
>>> view.component("etcd").state                            # doctest: +SKIP
'ok'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from course._client import dynamic_client
from course.pictures._reading import Snapshot, list_objects
from course.pictures._status import Tone, status_of
from course.pictures._svg import FILL, INK, LINE, MUTED, STROKE, Canvas, fit, html_block
from course.pictures._words import LEGEND, WORDS

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
CHIP_WIDTH, CHIP_HEIGHT, NODE_WIDTH, MARGIN = 200, 46, 190, 12


@dataclass(frozen=True)
class Component:
    """One component: where it runs, a tone, a few words of state and the evidence in ``detail``."""

    name: str
    where: str
    tone: Tone
    state: str
    detail: str = ""


@dataclass
class ControlPlane:
    """The control-plane components and, per Node, its agents."""

    backend: str
    components: list[Component] = field(default_factory=list)
    nodes: dict[str, list[Component]] = field(default_factory=dict)

    def component(self, name: str, node: str | None = None) -> Component | None:
        """The control-plane component ``name``, or the agent ``name`` of ``node``."""
        pool = self.nodes.get(node, []) if node else self.components
        return next((c for c in pool if c.name == name), None)

    def to_svg(self) -> str:
        return _draw(self)

    def _repr_html_(self) -> str:
        return html_block(self.to_svg(), "control-plane")

    def __str__(self) -> str:
        lines = [WORDS["control.title"].format(backend=self.backend)]
        lines += [f"  {c.name}: {c.state}" + (f" ({c.detail})" if c.detail else "") for c in self.components]
        for node, agents in self.nodes.items():
            lines.append(f"  node {node}: " + ", ".join(f"{a.name} {a.state}" for a in agents))
        return "\n".join(lines)

    __repr__ = __str__


def control_plane(now: datetime | None = None) -> ControlPlane:
    """Read the health of every component the cluster can report on (see the module docstring)."""
    snapshot = Snapshot("kube-system")
    for kind, namespace in (("Node", None), ("Pod", "kube-system"), ("Lease", "kube-system")):
        snapshot.objects[kind] = list_objects(kind, namespace).items
    snapshot.objects["NodeLease"] = list_objects("Lease", "kube-node-lease").items
    return build_control_plane(snapshot, _readyz(), now or datetime.now(UTC))


def build_control_plane(snapshot: Snapshot, checks: dict[str, bool] | None, now: datetime) -> ControlPlane:
    """The view from Nodes, ``kube-system`` Pods and Leases, node Leases (``NodeLease``) and readyz ``checks``."""
    nodes, system_pods = snapshot.of("Node"), snapshot.of("Pod")
    simulated = any(KWOK_ANNOTATION in (n["metadata"].get("annotations") or {}) for n in nodes)
    view = ControlPlane("sim" if simulated else "kind")
    view.components.append(_apiserver(checks, system_pods))
    view.components.append(_etcd(checks, system_pods))
    leases = {lease["metadata"]["name"]: lease for lease in snapshot.of("Lease")}
    for name in ("kube-scheduler", "kube-controller-manager"):
        view.components.append(_leader(name, leases.get(name), system_pods, now))
    node_leases = {lease["metadata"]["name"]: lease for lease in snapshot.of("NodeLease")}
    if simulated:
        view.components.append(_kwok(nodes, node_leases, now))
    else:
        view.components.append(_addon("CoreDNS", [p for p in system_pods if _labels(p).get("k8s-app") == "kube-dns"]))
    for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
        view.nodes[node["metadata"]["name"]] = _agents(
            node, node_leases.get(node["metadata"]["name"]), system_pods, now
        )
    return view


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return dict(obj["metadata"].get("labels") or {})


def _readyz() -> dict[str, bool] | None:
    """readyz's checks (``etcd``, ``ping``, ...) → passing; None when the API server may not be asked."""
    try:
        text = dynamic_client().request("get", "/readyz", query_params=[("verbose", "true")], _request_timeout=5)
    except ApiException as error:
        if error.status in (401, 403):
            return None
        text = str(error.body or "")  # 500: some checks fail, and the body lists them all
    checks = {}
    for line in str(text).splitlines():
        if line.startswith(("[+]", "[-]")):
            name = line[3:].split(" ", 1)[0]
            checks[name] = line.startswith("[+]")
    return checks


def _pod_note(pods: list[dict[str, Any]], component: str) -> tuple[Tone | None, str]:
    """On kind the component runs as a static Pod labelled ``component=<name>``."""
    mine = [p for p in pods if _labels(p).get("component") == component]
    if not mine:
        return None, ""
    status = status_of(mine[0])
    return status.tone, f"Pod {mine[0]['metadata']['name']}: {status.label}"


def _apiserver(checks: dict[str, bool] | None, pods: list[dict[str, Any]]) -> Component:
    _, pod = _pod_note(pods, "kube-apiserver")
    if checks is None:
        return Component("kube-apiserver", "control-plane", "info", "answers", "readyz: not allowed to ask")
    failing = sorted(name for name, ok in checks.items() if not ok)
    if failing:
        return Component("kube-apiserver", "control-plane", "failed", "not ready", "failing: " + ", ".join(failing))
    detail = f"readyz: {len(checks)} checks pass" + (f"; {pod}" if pod else "")
    return Component("kube-apiserver", "control-plane", "ready", "ok", detail)


def _etcd(checks: dict[str, bool] | None, pods: list[dict[str, Any]]) -> Component:
    tone, pod = _pod_note(pods, "etcd")
    if checks is None or "etcd" not in checks:
        return Component("etcd", "control-plane", tone or "info", "unknown", pod or "readyz: not allowed to ask")
    if not checks["etcd"]:
        return Component("etcd", "control-plane", "failed", "failing", "readyz check etcd fails")
    return Component("etcd", "control-plane", "ready", "ok", "readyz check etcd passes" + (f"; {pod}" if pod else ""))


def _age(stamp: str | None, now: datetime) -> float | None:
    if not stamp:
        return None
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return max(0.0, (now - when).total_seconds())


def _leader(name: str, lease: dict[str, Any] | None, pods: list[dict[str, Any]], now: datetime) -> Component:
    pod_tone, pod = _pod_note(pods, name)
    if lease is None:
        return Component(
            name,
            "control-plane",
            "failed",
            "no leader",
            "no Lease in kube-system" + (f"; {pod}" if pod else ""),
        )
    spec = lease.get("spec") or {}
    age = _age(spec.get("renewTime"), now)
    duration = spec.get("leaseDurationSeconds", 15)
    holder = spec.get("holderIdentity", "?")
    detail = f"Lease held by {holder}" + (f"; {pod}" if pod else "")
    if age is None or age > duration:
        return Component(name, "control-plane", "failed", "leader lost", detail)
    return Component(name, "control-plane", pod_tone if pod_tone == "failed" else "ready", "leader active", detail)


def _kwok(nodes: list[dict[str, Any]], leases: dict[str, dict[str, Any]], now: datetime) -> Component:
    names = [n["metadata"]["name"] for n in nodes if KWOK_ANNOTATION in (n["metadata"].get("annotations") or {})]
    stale = [n for n in names if not _fresh(leases.get(n), now)]
    tone: Tone = "failed" if stale else "ready"
    detail = f"renews the Leases of {len(names)} nodes" + (f"; stale: {', '.join(stale)}" if stale else "")
    return Component("kwok", "control-plane", tone, f"plays {len(names)} kubelets", detail)


def _addon(name: str, pods: list[dict[str, Any]]) -> Component:
    if not pods:
        return Component(name, "control-plane", "idle", "not running")
    ready = sum(1 for p in pods if status_of(p).tone == "ready")
    return Component(name, "control-plane", "ready" if ready else "failed", f"{ready}/{len(pods)} ready")


def _fresh(lease: dict[str, Any] | None, now: datetime) -> bool:
    if lease is None:
        return False
    spec = lease.get("spec") or {}
    age = _age(spec.get("renewTime"), now)
    return age is not None and age <= spec.get("leaseDurationSeconds", 40)


def _agents(
    node: dict[str, Any], lease: dict[str, Any] | None, pods: list[dict[str, Any]], now: datetime
) -> list[Component]:
    name = node["metadata"]["name"]
    info = (node.get("status") or {}).get("nodeInfo") or {}
    ready = status_of(node)
    heartbeat = "Lease fresh" if _fresh(lease, now) else "Lease stale"
    if KWOK_ANNOTATION in (node["metadata"].get("annotations") or {}):
        simulated = WORDS["control.simulated"]
        return [
            Component("kubelet", name, ready.tone, simulated, f"{ready.label}, {heartbeat}"),
            Component("kube-proxy", name, "idle", simulated, "no traffic is routed on sim"),
            Component("runtime", name, "idle", simulated, "no containers run on sim"),
        ]
    proxies = [
        p for p in pods if _labels(p).get("k8s-app") == "kube-proxy" and (p.get("spec") or {}).get("nodeName") == name
    ]
    proxy = status_of(proxies[0]) if proxies else None
    return [
        Component("kubelet", name, ready.tone, info.get("kubeletVersion", "?"), f"{ready.label}, {heartbeat}"),
        Component(
            "kube-proxy",
            name,
            proxy.tone if proxy else "idle",
            proxy.label if proxy else "not running",
            proxies[0]["metadata"]["name"] if proxies else "",
        ),
        Component("runtime", name, ready.tone, info.get("containerRuntimeVersion", "?")),
    ]


# -- drawing -------------------------------------------------------------------------------------
def _chip(canvas: Canvas, component: Component, x: int, y: int, width: int = CHIP_WIDTH, small: bool = False) -> None:
    """One component as a coloured box: its name, and its state below. ``small`` for node agents."""
    pad, name_size, state_size = (6, 10, 9) if small else (8, 12, 10)
    height, name_y, state_y = (CHIP_HEIGHT - 12, 14, 27) if small else (CHIP_HEIGHT, 18, 35)
    tooltip = f"{component.name}: {component.state}" + (f"\n{component.detail}" if component.detail else "")
    with canvas.group(kind="Component", name=component.name, where=component.where, tone=component.tone):
        canvas.rect(x, y, width, height, FILL[component.tone], STROKE[component.tone], tooltip=tooltip)
        canvas.text(x + pad, y + name_y, component.name, size=name_size, weight="bold", fill=INK, role="name")
        canvas.text(
            x + pad,
            y + state_y,
            fit(component.state, width - 2 * pad, state_size),
            size=state_size,
            fill=STROKE[component.tone],
            role="state",
        )


def _draw(view: ControlPlane) -> str:
    by_name = {c.name: c for c in view.components}
    top_row = [c for c in view.components if c.name not in ("kube-apiserver", "etcd")]
    plane_width = max(3, len(top_row)) * (CHIP_WIDTH + 16) + 16
    node_count = len(view.nodes)
    width = max(plane_width, node_count * (NODE_WIDTH + 12)) + 2 * MARGIN
    plane_top, node_top = 48, 48 + 250
    height = node_top + 24 + 3 * (CHIP_HEIGHT - 8) + 24 + MARGIN
    canvas = Canvas(width, height)
    canvas.text(MARGIN, 20, WORDS["control.title"].format(backend=view.backend), size=13, weight="bold")
    canvas.legend(MARGIN, 28, {k: v for k, v in LEGEND.items() if k in ("ready", "failed", "idle", "info")})
    api_x = MARGIN + (plane_width - CHIP_WIDTH) // 2
    api_y, etcd_y = plane_top + 100, plane_top + 164
    for index in range(node_count):  # kubelets talk to the API server; drawn first, behind the boxes
        x = MARGIN + index * (NODE_WIDTH + 12)
        canvas.line(
            x + NODE_WIDTH // 2,
            node_top,
            api_x + CHIP_WIDTH,
            api_y + CHIP_HEIGHT // 2,
            stroke="#d5dae0",
            dash="3 3",
        )
    canvas.rect(MARGIN, plane_top, plane_width, 220, "#fbfcfd", "#cbd2d9", rx=8)
    canvas.text(MARGIN + 10, plane_top + 16, WORDS["control.plane"], size=11, fill=MUTED)
    for index, component in enumerate(top_row):
        x = MARGIN + 16 + index * (CHIP_WIDTH + 16)
        canvas.arrow(
            x + CHIP_WIDTH // 2,
            plane_top + 24 + CHIP_HEIGHT,
            api_x + CHIP_WIDTH // 2,
            api_y,
            tooltip="watches and writes through the API",
        )
        _chip(canvas, component, x, plane_top + 24)
    canvas.line(
        api_x + CHIP_WIDTH // 2,
        api_y + CHIP_HEIGHT,
        api_x + CHIP_WIDTH // 2,
        etcd_y,
        stroke=LINE,
        width=2,
    )
    _chip(canvas, by_name["kube-apiserver"], api_x, api_y)
    _chip(canvas, by_name["etcd"], api_x, etcd_y)
    for index, (node, agents) in enumerate(view.nodes.items()):
        x = MARGIN + index * (NODE_WIDTH + 12)
        with canvas.group(kind="Node", name=node):
            canvas.rect(x, node_top, NODE_WIDTH, 24 + 3 * (CHIP_HEIGHT - 8) + 12, "#ffffff", "#cbd2d9", rx=6)
            canvas.text(x + 8, node_top + 16, fit(node, NODE_WIDTH - 16, 11), size=11, weight="bold", role="name")
        for row, agent in enumerate(agents):
            _chip(canvas, agent, x + 6, node_top + 24 + row * (CHIP_HEIGHT - 8), NODE_WIDTH - 12, small=True)
    return canvas.svg("control-plane")
