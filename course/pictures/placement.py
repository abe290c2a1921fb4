"""The placement map: which Node each Pod runs on, and why the scheduler could not place the others.

Nodes are columns, headed by their role, taints and allocatable CPU and memory; the Pods the scheduler
bound to a Node stand in its column. Pods without a Node stand apart, each with the scheduler's own
words from its latest ``FailedScheduling`` event (for example ``0/4 nodes are available: 3 Insufficient
cpu``).

>>> placement = placement_map("ada-00-setup")             # doctest: +SKIP
>>> [pod.name for pod in placement.unscheduled]            # doctest: +SKIP
['huge']
>>> placement.unscheduled[0].reason                        # doctest: +SKIP
'0/4 nodes are available: 1 node(s) had untolerated taint ...'
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

from course._events import event_time
from course.pictures._quantity import cpu_millis, format_cpu, format_memory, memory_bytes
from course.pictures._reading import Snapshot, list_objects
from course.pictures._status import Status, pod_status, status_of
from course.pictures._svg import FILL, INK, MUTED, STROKE, Canvas, fit, html_block, message_picture
from course.pictures._words import LEGEND, WORDS

PODS_SHOWN = 40
"""Pods drawn in one column; the rest are counted in a ``+N`` box."""
COLUMN_WIDTH, GAP, POD_HEIGHT, POD_PITCH, MARGIN = 210, 16, 24, 28, 12
REASON_WIDTH = 300


@dataclass(frozen=True)
class PlacedPod:
    """A Pod in the picture: its state and what it asks of a Node."""

    name: str
    namespace: str
    status: Status
    cpu_millis: int
    memory_bytes: int
    reason: str = ""
    """For a Pod the scheduler has not placed: what it said last (FailedScheduling), else the condition."""


@dataclass(frozen=True)
class NodeColumn:
    """A Node as the scheduler sees it, with the Pods in the picture that it runs."""

    name: str
    role: str
    status: Status
    taints: tuple[str, ...]
    cpu_millis: int
    memory_bytes: int
    pods: tuple[PlacedPod, ...] = ()

    @property
    def requested_cpu(self) -> int:
        return sum(pod.cpu_millis for pod in self.pods)

    @property
    def requested_memory(self) -> int:
        return sum(pod.memory_bytes for pod in self.pods)


@dataclass
class PlacementMap:
    """Nodes with their Pods, and the Pods waiting for a Node."""

    scope: str
    nodes: list[NodeColumn] = field(default_factory=list)
    unscheduled: list[PlacedPod] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def node(self, name: str) -> NodeColumn | None:
        return next((node for node in self.nodes if node.name == name), None)

    def where(self, pod: str) -> str | None:
        """The Node running ``pod``, or None when it is unscheduled or not in the picture."""
        return next((node.name for node in self.nodes for placed in node.pods if placed.name == pod), None)

    @property
    def pod_count(self) -> int:
        return sum(len(node.pods) for node in self.nodes) + len(self.unscheduled)

    def to_svg(self) -> str:
        if not self.nodes and not self.unscheduled:
            return message_picture("placement", WORDS["placement.empty"].format(scope=self.scope), "")
        return _draw(self)

    def _repr_html_(self) -> str:
        return html_block(self.to_svg(), "placement")

    def __str__(self) -> str:
        lines = [WORDS["placement.title"].format(scope=self.scope)]
        for node in self.nodes:
            taints = f" taints: {', '.join(node.taints)}" if node.taints else ""
            lines.append(f"{node.name} ({node.role}, {node.status.label}){taints}")
            lines += [f"  {pod.name} [{pod.status.label}]" for pod in node.pods]
        if self.unscheduled:
            lines.append(WORDS["placement.unscheduled"])
            lines += [f"  {pod.name}: {pod.reason}" for pod in self.unscheduled]
        return "\n".join([*lines, *self.notes])

    __repr__ = __str__


def placement_map(namespace: str | None) -> PlacementMap:
    """The Pods of ``namespace`` (every namespace when None) on the cluster's Nodes."""
    snapshot = Snapshot(namespace or "")
    for kind in ("Node", "Pod"):
        listing = list_objects(kind, namespace)
        snapshot.objects[kind], snapshot.totals[kind] = listing.items, listing.total
    failed = list_objects("Event", namespace, field_selector="reason=FailedScheduling,involvedObject.kind=Pod")
    snapshot.objects["Event"], snapshot.totals["Event"] = failed.items, failed.total
    return build_placement_map(snapshot)


def build_placement_map(snapshot: Snapshot) -> PlacementMap:
    """The placement map of the Nodes, Pods and FailedScheduling Events in ``snapshot``."""
    scope = WORDS["scope.everywhere"]
    if snapshot.namespace:
        scope = WORDS["scope.namespace"].format(namespace=snapshot.namespace)
    placement = PlacementMap(scope)
    reasons = _scheduler_reasons(snapshot.of("Event"))
    by_node: dict[str, list[PlacedPod]] = {}
    for pod in sorted(snapshot.of("Pod"), key=lambda p: (p["metadata"].get("namespace", ""), p["metadata"]["name"])):
        placed = _placed(pod, reasons)
        node_name = (pod.get("spec") or {}).get("nodeName")
        if node_name:
            by_node.setdefault(node_name, []).append(placed)
        elif placed.status.tone != "done":
            placement.unscheduled.append(placed)
    nodes = {node["metadata"]["name"]: node for node in snapshot.of("Node")}
    for name in sorted(nodes, key=lambda n: (_role(nodes[n]) != "control-plane", n)):
        placement.nodes.append(_column(nodes[name], tuple(by_node.pop(name, []))))
    for name, pods in sorted(by_node.items()):  # Pods bound to a Node that no longer exists
        placement.nodes.append(NodeColumn(name, "?", Status("failed", WORDS["missing"]), (), 0, 0, tuple(pods)))
    if snapshot.left_out("Pod") > 0:
        placement.notes.append(
            WORDS["owners.capped"].format(shown=len(snapshot.of("Pod")), total=snapshot.totals["Pod"], kind="Pod")
        )
    return placement


def _scheduler_reasons(events: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(namespace, pod) -> the message of its latest FailedScheduling event."""
    latest: dict[tuple[str, str], tuple[str, str]] = {}
    for event in events:
        if event.get("reason") != "FailedScheduling":
            continue
        involved = event.get("involvedObject") or {}
        key = (involved.get("namespace", ""), involved.get("name", ""))
        when = event_time(event)
        seen = (when, event.get("message", ""))
        if key not in latest or seen > latest[key]:
            latest[key] = seen
    return {key: message for key, (_, message) in latest.items()}


def _placed(pod: dict[str, Any], reasons: dict[tuple[str, str], str]) -> PlacedPod:
    meta, spec = pod["metadata"], pod.get("spec") or {}
    containers = spec.get("containers") or []
    requests = [((c.get("resources") or {}).get("requests") or {}) for c in containers]
    status = pod_status(pod)
    reason = ""
    if not spec.get("nodeName"):
        reason = reasons.get((meta.get("namespace", ""), meta["name"])) or status.detail
    return PlacedPod(
        meta["name"],
        meta.get("namespace", ""),
        status,
        sum(cpu_millis(r.get("cpu", "0")) for r in requests),
        sum(memory_bytes(r.get("memory", "0")) for r in requests),
        reason,
    )


def _role(node: dict[str, Any]) -> str:
    labels = node["metadata"].get("labels") or {}
    roles = sorted(key.split("/", 1)[1] for key in labels if key.startswith("node-role.kubernetes.io/"))
    return ",".join(r for r in roles if r) or "worker"


def _column(node: dict[str, Any], pods: tuple[PlacedPod, ...]) -> NodeColumn:
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    taints = tuple(
        f"{t['key']}{'=' + t['value'] if t.get('value') else ''}:{t['effect']}"
        for t in (node.get("spec") or {}).get("taints") or []
    )
    return NodeColumn(
        node["metadata"]["name"],
        _role(node),
        status_of(node),
        taints,
        cpu_millis(allocatable.get("cpu", "0")),
        memory_bytes(allocatable.get("memory", "0")),
        pods,
    )


# -- drawing -------------------------------------------------------------------------------------
def _draw(placement: PlacementMap) -> str:
    header = 70 + 14 * max((len(node.taints) for node in placement.nodes), default=0)
    top = 48
    tallest = max([min(len(node.pods), PODS_SHOWN) for node in placement.nodes] + [1])
    reason_lines = [_wrapped(pod.reason) for pod in placement.unscheduled[:PODS_SHOWN]]
    unscheduled_height = sum(POD_PITCH + 13 * len(lines) + 6 for lines in reason_lines)
    body = max(tallest * POD_PITCH + POD_PITCH, unscheduled_height + POD_PITCH)
    width = (
        MARGIN * 2 + len(placement.nodes) * (COLUMN_WIDTH + GAP) + (REASON_WIDTH + GAP if placement.unscheduled else 0)
    )
    height = top + header + body + 16 * len(placement.notes) + MARGIN
    canvas = Canvas(max(width, 460), height)
    canvas.text(MARGIN, 20, WORDS["placement.title"].format(scope=placement.scope), size=13, weight="bold")
    canvas.legend(MARGIN, 28, LEGEND)
    x = MARGIN
    for node in placement.nodes:
        _draw_node(canvas, node, x, top, header, body)
        x += COLUMN_WIDTH + GAP
    if placement.unscheduled:
        _draw_unscheduled(canvas, placement.unscheduled, reason_lines, x, top, header + body)
    for index, note in enumerate(placement.notes):
        canvas.text(MARGIN, top + header + body + 12 + 16 * index, note, size=11, fill=MUTED, role="note")
    return canvas.svg("placement")


def _wrapped(reason: str) -> list[str]:
    return textwrap.wrap(reason, width=REASON_WIDTH // 6 - 2, max_lines=5, placeholder=" …") or [""]


def _draw_node(canvas: Canvas, node: NodeColumn, x: int, top: int, header: int, body: int) -> None:
    with canvas.group(kind="Node", name=node.name, tone=node.status.tone):
        canvas.rect(x, top, COLUMN_WIDTH, header + body, "#ffffff", "#cbd2d9", rx=6)
        canvas.rect(x, top, COLUMN_WIDTH, header - 6, FILL[node.status.tone], STROKE[node.status.tone], rx=6)
        canvas.text(
            x + 8,
            top + 16,
            fit(node.name, COLUMN_WIDTH - 56, 12),
            size=12,
            weight="bold",
            tooltip=node.name,
            role="name",
        )
        canvas.text(
            x + COLUMN_WIDTH - 8,
            top + 16,
            node.status.label,
            size=10,
            anchor="end",
            fill=STROKE[node.status.tone],
        )
        canvas.text(x + 8, top + 30, node.role, size=10, fill=MUTED, role="role")
        cpu, memory = format_cpu(node.cpu_millis), format_memory(node.memory_bytes)
        canvas.text(
            x + 8,
            top + 44,
            WORDS["placement.allocatable"].format(cpu=cpu, memory=memory),
            size=10,
            fill=MUTED,
        )
        requested = WORDS["placement.requests"].format(
            cpu=format_cpu(node.requested_cpu), memory=format_memory(node.requested_memory)
        )
        canvas.text(x + 8, top + 58, requested, size=10, fill=MUTED, role="requests")
        for index, taint in enumerate(node.taints):
            canvas.text(
                x + 8,
                top + 72 + 14 * index,
                fit("⚠ " + taint, COLUMN_WIDTH - 16, 10),
                size=10,
                fill=STROKE["progress"],
                tooltip=taint,
                role="taint",
            )
    y = top + header
    if not node.pods:
        canvas.text(x + COLUMN_WIDTH // 2, y + 18, WORDS["placement.no_pods"], size=10, anchor="middle", fill=MUTED)
    for pod in node.pods[: PODS_SHOWN - 1] if len(node.pods) > PODS_SHOWN else node.pods:
        _draw_pod(canvas, pod, x + 8, y)
        y += POD_PITCH
    if len(node.pods) > PODS_SHOWN:
        rest = len(node.pods) - PODS_SHOWN + 1
        with canvas.group(kind="Pod", name=f"+{rest}", tone="info"):
            canvas.box(
                x + 8,
                y,
                COLUMN_WIDTH - 16,
                POD_HEIGHT,
                "info",
                WORDS["owners.more"].format(count=rest, kind="Pod"),
                dash="4 2",
            )


def _draw_pod(canvas: Canvas, pod: PlacedPod, x: int, y: int, width: int = COLUMN_WIDTH - 16) -> None:
    tooltip = f"Pod {pod.namespace}/{pod.name}: {pod.status.label}"
    if pod.cpu_millis or pod.memory_bytes:
        tooltip += f"\nrequests {format_cpu(pod.cpu_millis)} CPU, {format_memory(pod.memory_bytes)}"
    with canvas.group(kind="Pod", name=pod.name, tone=pod.status.tone):
        canvas.box(x, y, width, POD_HEIGHT, pod.status.tone, pod.name, tooltip=tooltip)


def _draw_unscheduled(
    canvas: Canvas, pods: list[PlacedPod], reasons: list[list[str]], x: int, top: int, height: int
) -> None:
    canvas.rect(x, top, REASON_WIDTH, height, "#fffdf7", STROKE["progress"], rx=6, dash="6 3")
    canvas.text(x + 8, top + 16, WORDS["placement.unscheduled"], size=12, weight="bold", fill=INK, role="name")
    y = top + 28
    for pod, lines in zip(pods, reasons, strict=False):
        _draw_pod(canvas, pod, x + 8, y, REASON_WIDTH - 16)
        y += POD_PITCH
        for line in lines:
            canvas.text(x + 12, y + 8, line, size=10, fill=MUTED, tooltip=pod.reason, role="reason")
            y += 13
        y += 6
    if len(pods) > len(reasons):
        canvas.text(
            x + 8,
            y + 10,
            WORDS["owners.more"].format(count=len(pods) - len(reasons), kind="Pod"),
            size=11,
            fill=MUTED,
        )
