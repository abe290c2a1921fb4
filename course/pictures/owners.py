"""The owner graph: which object made, uses or routes to which, drawn from live objects.

Controllers link objects in a few ways, and the graph shows each as an arrow from left to right:

* ``metadata.ownerReferences``: Deployment → ReplicaSet → Pod, CronJob → Job → Pod, StatefulSet → Pod,
  Service → EndpointSlice;
* an EndpointSlice's endpoints name their Pods (dashed while the Pod is not ready);
* a Pod mounts PersistentVolumeClaims, a claim is bound to a PersistentVolume, both name a StorageClass;
* an Ingress routes to Services.

>>> graph = owner_graph("ada-00-setup")                      # doctest: +SKIP
>>> [node.name for node in graph.children("Deployment/web")]  # doctest: +SKIP
['web-7d9f8c6b5d']

Many siblings are summarised (``+45 Pod``) so that a picture of thousands of objects stays readable.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from course.pictures._reading import Snapshot
from course.pictures._status import Status, Tone, status_of
from course.pictures._svg import FILL, INK, LINE, MUTED, STROKE, Canvas, fit, html_block, message_picture
from course.pictures._words import LEGEND, WORDS

COLUMNS: dict[str, int] = {
    "Ingress": 0,
    "CronJob": 0,
    "Deployment": 0,
    "StatefulSet": 0,
    "DaemonSet": 0,
    "Service": 1,
    "Job": 1,
    "ReplicaSet": 1,
    "EndpointSlice": 2,
    "Pod": 3,
    "PersistentVolumeClaim": 4,
    "PersistentVolume": 5,
    "StorageClass": 6,
}
"""Which column each kind is drawn in: owners left of what they own."""

NAMESPACED_KINDS = tuple(kind for kind in COLUMNS if kind not in ("PersistentVolume", "StorageClass"))
SIBLINGS_SHOWN = 8
"""Children of one kind drawn under one owner; the rest become one ``+N`` box."""
COLUMN_SHOWN = 60
"""Boxes drawn in one column; the rest become one ``+N`` box."""

# Worst first: problems stay visible when siblings are summarised.
_SEVERITY: dict[Tone, int] = {"failed": 0, "progress": 1, "ready": 2, "done": 3, "idle": 4, "info": 5}

BOX_WIDTH, BOX_HEIGHT, GAP_X, PITCH, MARGIN, HEADER = 210, 38, 56, 46, 12, 52


@dataclass(frozen=True)
class GraphNode:
    """One box: an object, a reference to a missing object, or a summary of ``hidden`` siblings."""

    key: str
    kind: str
    name: str
    status: Status
    hidden: tuple[str, ...] = ()

    @property
    def column(self) -> int:
        return COLUMNS[self.kind]

    @property
    def is_summary(self) -> bool:
        return bool(self.hidden)


@dataclass(frozen=True)
class GraphEdge:
    """An arrow ``source`` → ``target``; ``relation`` is owns, endpoint, mounts, bound, class or routes."""

    source: str
    target: str
    relation: str
    ready: bool = True


@dataclass
class OwnerGraph:
    """Objects and the links between them, ready to draw. Keys are ``Kind/name``."""

    scope: str
    nodes: dict[str, GraphNode] = field(default_factory=dict)
    edges: list[GraphEdge] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def node(self, kind: str, name: str) -> GraphNode | None:
        """The box of ``kind``/``name``, or None when it is not drawn."""
        return self.nodes.get(f"{kind}/{name}")

    def children(self, key: str) -> list[GraphNode]:
        """What ``key`` points at, in drawing order."""
        return [self.nodes[e.target] for e in self.edges if e.source == key]

    def parents(self, key: str) -> list[GraphNode]:
        """What points at ``key``."""
        return [self.nodes[e.source] for e in self.edges if e.target == key]

    def kinds(self) -> Counter[str]:
        """How many objects of each kind the graph stands for (summaries count what they hide)."""
        counts: Counter[str] = Counter()
        for node in self.nodes.values():
            counts[node.kind] += len(node.hidden) or 1
        return counts

    # -- showing ---------------------------------------------------------------------------------
    def to_svg(self) -> str:
        if not self.nodes:
            return message_picture("owners", WORDS["owners.empty"], self._why_empty())
        return _draw(self)

    def _why_empty(self) -> str:
        return self.notes[0] if self.notes else WORDS["owners.empty.detail"].format(scope=self.scope)

    def _repr_html_(self) -> str:
        return html_block(self.to_svg(), "owners")

    def __str__(self) -> str:
        if not self.nodes:
            return self._why_empty()
        lines = [WORDS["owners.title"].format(scope=self.scope, count=sum(self.kinds().values()))]
        shown: set[str] = set()
        targets = {e.target for e in self.edges}
        for root in (key for key in _ordered(self) if key not in targets):
            self._tree(root, 0, lines, shown)
        return "\n".join([*lines, *self.notes])

    def _tree(self, key: str, depth: int, lines: list[str], shown: set[str]) -> None:
        node = self.nodes[key]
        again = key in shown
        label = f" [{node.status.label}]" if node.status.label else ""
        lines.append(f"{'  ' * depth}{node.kind} {node.name}{label}" + (" (↑)" if again else ""))
        if again:
            return
        shown.add(key)
        for child in self.children(key):
            self._tree(child.key, depth + 1, lines, shown)

    __repr__ = __str__


# -- building ------------------------------------------------------------------------------------
def owner_graph(namespace: str, kind: str | None = None, name: str | None = None) -> OwnerGraph:
    """The owner graph of ``namespace``, or only of what is linked to ``kind``/``name`` when given."""
    snapshot = Snapshot.read(namespace, (*NAMESPACED_KINDS, "PersistentVolume", "StorageClass"))
    return build_owner_graph(snapshot, kind, name)


def build_owner_graph(snapshot: Snapshot, kind: str | None = None, name: str | None = None) -> OwnerGraph:
    """The owner graph of the objects in ``snapshot`` (see :func:`owner_graph`)."""
    scope = WORDS["scope.namespace"].format(namespace=snapshot.namespace)
    graph = OwnerGraph(scope if kind is None else f"{kind} {name!r}")
    nodes, edges = _link(snapshot)
    if kind is not None:
        focus = f"{kind}/{name}"
        if focus not in nodes:
            graph.scope = scope
            graph.notes.append(WORDS["owners.not_found"].format(kind=kind, name=name, namespace=snapshot.namespace))
            return graph
        keep = _component(focus, edges)
        nodes = {key: node for key, node in nodes.items() if key in keep}
        edges = [e for e in edges if e.source in keep]
    graph.nodes, graph.edges = _summarise(nodes, edges)
    for listed in COLUMNS:
        if snapshot.left_out(listed) > 0:
            total = snapshot.totals[listed]
            graph.notes.append(WORDS["owners.capped"].format(shown=len(snapshot.of(listed)), total=total, kind=listed))
    return graph


def _key(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def _link(snapshot: Snapshot) -> tuple[dict[str, GraphNode], list[GraphEdge]]:
    """Every namespaced object, the cluster-scoped ones they reach, and the arrows between them."""
    nodes: dict[str, GraphNode] = {}
    for kind in NAMESPACED_KINDS:
        for obj in snapshot.of(kind):
            nodes[_key(obj)] = GraphNode(_key(obj), kind, obj["metadata"]["name"], status_of(obj))
    edges: list[GraphEdge] = []
    by_uid = {obj["metadata"].get("uid"): _key(obj) for kind in NAMESPACED_KINDS for obj in snapshot.of(kind)}
    cluster_scoped = {_key(obj): obj for kind in ("PersistentVolume", "StorageClass") for obj in snapshot.of(kind)}

    def link(source: str, target_kind: str, target_name: str, relation: str, ready: bool = True) -> None:
        target = f"{target_kind}/{target_name}"
        if target not in nodes:
            if target in cluster_scoped:
                nodes[target] = GraphNode(target, target_kind, target_name, status_of(cluster_scoped[target]))
            else:
                nodes[target] = GraphNode(target, target_kind, target_name, Status("failed", WORDS["missing"]))
        edges.append(GraphEdge(source, target, relation, ready))

    for kind in NAMESPACED_KINDS:
        for obj in snapshot.of(kind):
            key = _key(obj)
            for ref in obj["metadata"].get("ownerReferences") or []:
                owner = by_uid.get(ref.get("uid")) or f"{ref['kind']}/{ref['name']}"
                if owner in nodes and ref["kind"] in COLUMNS:
                    edges.append(GraphEdge(owner, key, "owns"))
    for eps in snapshot.of("EndpointSlice"):
        service = (eps["metadata"].get("labels") or {}).get("kubernetes.io/service-name")
        if service and not any(e.target == _key(eps) for e in edges):
            link(f"Service/{service}", "EndpointSlice", eps["metadata"]["name"], "owns")
        for endpoint in eps.get("endpoints") or []:
            ref = endpoint.get("targetRef") or {}
            if ref.get("kind") == "Pod":
                ready = bool((endpoint.get("conditions") or {}).get("ready"))
                link(_key(eps), "Pod", ref["name"], "endpoint", ready)
    for pod in snapshot.of("Pod"):
        for volume in pod.get("spec", {}).get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                link(_key(pod), "PersistentVolumeClaim", claim, "mounts")
    for claim in snapshot.of("PersistentVolumeClaim"):
        spec = claim.get("spec") or {}
        if spec.get("volumeName"):
            link(_key(claim), "PersistentVolume", spec["volumeName"], "bound")
        elif spec.get("storageClassName"):
            link(_key(claim), "StorageClass", spec["storageClassName"], "class")
    for volume in [obj for key, obj in cluster_scoped.items() if key in nodes and obj["kind"] == "PersistentVolume"]:
        if (volume.get("spec") or {}).get("storageClassName"):
            link(_key(volume), "StorageClass", volume["spec"]["storageClassName"], "class")
    for ingress in snapshot.of("Ingress"):
        for service in sorted(_ingress_services(ingress)):
            link(_key(ingress), "Service", service, "routes")
    for service in snapshot.of("Service"):
        nodes[_key(service)] = replace(nodes[_key(service)], status=_service_status(service, snapshot))
    return nodes, _unique(edges)


def _ingress_services(ingress: dict[str, Any]) -> set[str]:
    spec = ingress.get("spec") or {}
    backends = [spec.get("defaultBackend") or {}]
    for rule in spec.get("rules") or []:
        backends += [path.get("backend") or {} for path in (rule.get("http") or {}).get("paths") or []]
    return {b["service"]["name"] for b in backends if (b.get("service") or {}).get("name")}


def _service_status(service: dict[str, Any], snapshot: Snapshot) -> Status:
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return Status("info", spec.get("externalName", "ExternalName"))
    name = service["metadata"]["name"]
    ready = sum(
        1
        for eps in snapshot.of("EndpointSlice")
        if (eps["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == name
        for endpoint in eps.get("endpoints") or []
        if (endpoint.get("conditions") or {}).get("ready")
    )
    if ready:
        return Status("ready", WORDS["endpoints"].format(count=ready))
    return Status("progress" if spec.get("selector") else "info", WORDS["no_endpoints"])


def _unique(edges: Iterable[GraphEdge]) -> list[GraphEdge]:
    """One edge per (source, target), sorted: the API server's listing order must not move a picture."""
    seen: dict[tuple[str, str], GraphEdge] = {}
    for edge in edges:
        seen.setdefault((edge.source, edge.target), edge)
    return [seen[key] for key in sorted(seen)]


def _component(start: str, edges: list[GraphEdge]) -> set[str]:
    """Every key linked to ``start`` through edges in either direction."""
    neighbours: dict[str, set[str]] = defaultdict(set)
    for edge in edges:
        neighbours[edge.source].add(edge.target)
        neighbours[edge.target].add(edge.source)
    seen, todo = {start}, [start]
    while todo:
        for other in neighbours[todo.pop()] - seen:
            seen.add(other)
            todo.append(other)
    return seen


def _rank(node: GraphNode) -> tuple[int, str]:
    return (_SEVERITY[node.status.tone], node.name)


def _summarise(nodes: dict[str, GraphNode], edges: list[GraphEdge]) -> tuple[dict[str, GraphNode], list[GraphEdge]]:
    """Fold siblings beyond :data:`SIBLINGS_SHOWN` (columns beyond :data:`COLUMN_SHOWN`) into ``+N`` boxes.

    Columns are handled left to right, so an object all of whose parents were folded is folded too
    (the claims of folded StatefulSet Pods go with them).
    """
    folded: dict[str, str] = {}  # hidden key -> key of the summary box standing for it
    parents: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        parents[edge.target].append(edge.source)
    for column in sorted({node.column for node in nodes.values()}):
        here = sorted((n for n in nodes.values() if n.column == column), key=lambda n: n.key)
        for node in here:
            sources = parents.get(node.key, [])
            if sources and all(source in folded for source in sources):
                folded[node.key] = f"{folded[sources[0]]}/+{node.kind}"
        owned: dict[tuple[str, str], list[GraphNode]] = defaultdict(list)
        for edge in edges:
            target = nodes[edge.target]
            if edge.relation == "owns" and target.column == column and not {edge.source, edge.target} & folded.keys():
                owned[(edge.source, target.kind)].append(target)
        for (owner, kind), siblings in sorted(owned.items()):
            for node in sorted(siblings, key=_rank)[SIBLINGS_SHOWN - 1 :] if len(siblings) > SIBLINGS_SHOWN else ():
                folded[node.key] = f"{owner}/+{kind}"
        visible = sorted((n for n in here if n.key not in folded), key=_rank)
        for node in visible[COLUMN_SHOWN - 1 :] if len(visible) > COLUMN_SHOWN else ():
            folded[node.key] = f"column{column}/+{node.kind}"
    summaries: dict[str, list[GraphNode]] = defaultdict(list)
    for folded_key, summary in folded.items():
        summaries[summary].append(nodes[folded_key])
    result = {key: node for key, node in nodes.items() if key not in folded}
    for key, hidden in summaries.items():
        worst = min(hidden, key=_rank).status.tone
        counts = Counter(n.status.label or n.kind for n in hidden)
        detail = ", ".join(f"{count} {label}" for label, count in sorted(counts.items()))
        kind = hidden[0].kind
        name = WORDS["owners.more"].format(count=len(hidden), kind=kind)
        result[key] = GraphNode(key, kind, name, Status(worst, "", detail), tuple(sorted(n.key for n in hidden)))
    moved = _unique(
        GraphEdge(folded.get(e.source, e.source), folded.get(e.target, e.target), e.relation, e.ready) for e in edges
    )
    return result, [e for e in moved if e.source != e.target]


# -- drawing -------------------------------------------------------------------------------------
def _ordered(graph: OwnerGraph) -> list[str]:
    """Keys in drawing order: by column, then next to their parents, then worst first, then by name."""
    row: dict[str, float] = {}
    order: list[str] = []
    parents: dict[str, list[str]] = defaultdict(list)
    for edge in graph.edges:
        parents[edge.target].append(edge.source)
    for column in sorted({n.column for n in graph.nodes.values()}):
        here = [n for n in graph.nodes.values() if n.column == column]

        def place(node: GraphNode) -> tuple[float, int, int, str]:
            rows = [row[p] for p in parents.get(node.key, []) if p in row]
            return (
                sum(rows) / len(rows) if rows else float("inf"),
                node.is_summary,
                _SEVERITY[node.status.tone],
                node.key,
            )

        for index, node in enumerate(sorted(here, key=place)):
            row[node.key] = index
            order.append(node.key)
    return order


def _components(graph: OwnerGraph) -> list[list[str]]:
    """Groups of linked keys, in drawing order; each is drawn as one horizontal band."""
    order = _ordered(graph)
    bands: list[list[str]] = []
    seen: set[str] = set()
    for key in order:
        if key in seen:
            continue
        members = _component(key, graph.edges)
        seen |= members
        bands.append([k for k in order if k in members])
    return bands


def _draw(graph: OwnerGraph) -> str:
    columns = sorted({n.column for n in graph.nodes.values()})
    x_of = {column: MARGIN + i * (BOX_WIDTH + GAP_X) for i, column in enumerate(columns)}
    y_of: dict[str, int] = {}
    top = HEADER
    for band in _components(graph):
        per_column: dict[int, list[str]] = defaultdict(list)
        for key in band:
            per_column[graph.nodes[key].column].append(key)
        rows = max(len(keys) for keys in per_column.values())
        for keys in per_column.values():
            offset = (rows - len(keys)) * PITCH // 2
            for index, key in enumerate(keys):
                y_of[key] = top + offset + index * PITCH
        top += rows * PITCH + PITCH // 3
    width = MARGIN * 2 + len(columns) * BOX_WIDTH + (len(columns) - 1) * GAP_X
    height = top + MARGIN + 16 * len(graph.notes)
    canvas = Canvas(max(width, 460), height)
    title = WORDS["owners.title"].format(scope=graph.scope, count=sum(graph.kinds().values()))
    canvas.text(MARGIN, 20, title, size=13, weight="bold")
    canvas.legend(MARGIN, 30, LEGEND)
    for edge in graph.edges:
        source, target = graph.nodes[edge.source], graph.nodes[edge.target]
        canvas.arrow(
            x_of[source.column] + BOX_WIDTH, y_of[edge.source] + BOX_HEIGHT // 2,
            x_of[target.column], y_of[edge.target] + BOX_HEIGHT // 2,
            stroke=STROKE["failed"] if target.status.label == WORDS["missing"] else LINE,
            dash=None if edge.ready else "4 3", tooltip=edge.relation,
        )  # fmt: skip
    for key in _ordered(graph):
        _draw_node(canvas, graph.nodes[key], x_of[graph.nodes[key].column], y_of[key])
    for index, note in enumerate(graph.notes):
        canvas.text(MARGIN, top + 12 + 16 * index, note, size=11, fill=MUTED, role="note")
    return canvas.svg("owners")


def _draw_node(canvas: Canvas, node: GraphNode, x: int, y: int) -> None:
    tooltip = f"{node.kind} {node.name}" + (f": {node.status.label}" if node.status.label else "")
    if node.status.detail:
        tooltip += f"\n{node.status.detail}"
    with canvas.group(kind=node.kind, name=node.name, tone=node.status.tone):
        tone = node.status.tone
        canvas.rect(
            x,
            y,
            BOX_WIDTH,
            BOX_HEIGHT,
            FILL[tone],
            STROKE[tone],
            dash="4 2" if node.is_summary else None,
            tooltip=tooltip,
        )
        canvas.text(x + 8, y + 14, node.kind, size=10, fill=MUTED, tooltip=tooltip)
        if node.status.label:
            label = fit(node.status.label, 90, 10)
            canvas.text(
                x + BOX_WIDTH - 8,
                y + 14,
                label,
                size=10,
                anchor="end",
                fill=STROKE[node.status.tone],
                role="status",
            )
        canvas.text(x + 8, y + 30, fit(node.name, BOX_WIDTH - 16, 12), size=12, fill=INK, tooltip=tooltip, role="name")
