"""The route explainer: where a request for a URL would go, following the live objects, or why nowhere.

It follows what an Ingress controller and kube-proxy do with the objects in the namespace:

1. **Host**: an Ingress rule whose ``host`` equals the URL's host wins over a wildcard rule
   (``*.example.com`` matches exactly one more label: ``shop.example.com``, not ``example.com`` or
   ``a.b.example.com``), which wins over a rule without a host. Only the rules of the best kind are used.
2. **Path**: ``Exact`` matches the path as it is; ``Prefix`` matches whole path elements (``/app``
   matches ``/app`` and ``/app/x``, not ``/apple``; a trailing ``/`` does not matter). The longest
   matching path wins; at equal length ``Exact`` wins. ``ImplementationSpecific`` is read as ``Prefix``.
3. No path matches: the Ingress ``defaultBackend``, else the controller answers 404 itself.
4. **Service port**: the backend's port number or name must be a port of the Service.
5. **Endpoints**: the Service's EndpointSlices list the Ready Pods its selector matches, on the
   ``targetPort``; no endpoints means no Pod matches, none is Ready, or the named port is missing.

A URL of a Service's cluster DNS name (``http://web``, ``http://web.ns.svc.cluster.local:8080``)
starts at step 4.

>>> route = explain_route("http://shop.example.com/cart", "ada-00-setup")   # doctest: +SKIP
>>> route.service, route.pods                                              # doctest: +SKIP
('cart', ['cart-5d4f7c9b8-2xkqz'])
>>> route.problem                                                          # doctest: +SKIP
''
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from course.pictures._reading import list_objects, read_object
from course.pictures._status import Tone, pod_status
from course.pictures._svg import FILL, INK, MUTED, STROKE, Canvas, fit, html_block
from course.pictures._words import WORDS

HOP_WIDTH, HOP_HEIGHT, GAP, MARGIN = 230, 58, 40, 12


@dataclass(frozen=True)
class Hop:
    """One step of the route: what was matched, and how (``detail``)."""

    kind: str
    name: str
    detail: str
    tone: Tone = "ready"


@dataclass
class Route:
    """Where a request goes. ``problem`` is empty when it reaches at least one Ready Pod."""

    url: str
    host: str
    path: str
    hops: list[Hop] = field(default_factory=list)
    ingress: str = ""
    service: str = ""
    port: str = ""
    """The Service port the request arrives on."""
    target_port: str = ""
    """The Pods' port the EndpointSlices name for it."""
    pods: list[str] = field(default_factory=list)
    not_ready: list[str] = field(default_factory=list)
    problem: str = ""
    hint: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def reaches(self) -> bool:
        return bool(self.pods) and not self.problem

    def fail(self, problem: str, hint: str = "") -> Route:
        self.problem, self.hint = problem, hint
        return self

    def to_svg(self) -> str:
        return _draw(self)

    def _repr_html_(self) -> str:
        return html_block(self.to_svg(), "route")

    def __str__(self) -> str:
        lines = [WORDS["route.title"].format(method="GET", url=self.url)]
        lines += [f"  → {hop.kind} {hop.name}" + (f": {hop.detail}" if hop.detail else "") for hop in self.hops]
        if self.problem:
            lines.append(f"  ✗ {self.problem}")
            if self.hint:
                lines.append(f"    try: {self.hint}")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    __repr__ = __str__


# -- matching rules (pure functions: the Ingress semantics, testable without a cluster) -------------
def host_rank(rule_host: str, host: str) -> int | None:
    """0 for an exact host, 1 for a matching wildcard, 2 for a rule without host; None when it does not match.

    >>> host_rank("shop.example.com", "SHOP.example.com"), host_rank("*.example.com", "shop.example.com")
    (0, 1)
    >>> host_rank("*.example.com", "a.b.example.com") is None, host_rank("", "anything")
    (True, 2)
    """
    rule_host, host = rule_host.lower(), host.lower()
    if not rule_host:
        return 2
    if rule_host == host:
        return 0
    if rule_host.startswith("*."):
        label, _, rest = host.partition(".")
        return 1 if label and rest == rule_host[2:] else None
    return None


def path_matches(path_type: str, rule_path: str, path: str) -> bool:
    """Whether ``path`` matches an Ingress path of type ``Exact`` or ``Prefix`` (element-wise).

    >>> path_matches("Prefix", "/app", "/app/x"), path_matches("Prefix", "/app", "/apple")
    (True, False)
    >>> path_matches("Prefix", "/app/", "/app"), path_matches("Exact", "/app", "/app/")
    (True, False)
    """
    if path_type == "Exact":
        return path == rule_path
    wanted = [part for part in rule_path.split("/") if part]
    given = [part for part in path.split("/") if part]
    return given[: len(wanted)] == wanted


@dataclass(frozen=True)
class _Candidate:
    ingress: str
    host: str
    path: str
    path_type: str
    backend: dict[str, Any]

    @property
    def priority(self) -> tuple[int, int]:
        return (len(self.path.rstrip("/")), self.path_type == "Exact")


def match_ingress(ingresses: list[dict[str, Any]], host: str, path: str) -> tuple[_Candidate | None, str]:
    """The path that serves ``host`` and ``path`` among ``ingresses``, or None and why not."""
    rules = []
    for ingress in sorted(ingresses, key=lambda i: i["metadata"]["name"]):
        for rule in (ingress.get("spec") or {}).get("rules") or []:
            rank = host_rank(rule.get("host", ""), host)
            if rank is not None:
                rules.append((rank, ingress["metadata"]["name"], rule))
    if not rules:
        hosts = sorted({r.get("host", "") for i in ingresses for r in (i.get("spec") or {}).get("rules") or []})
        return None, f"no rule has host {host!r} (hosts: {', '.join(hosts) or 'none'})"
    best = min(rank for rank, _, _ in rules)
    matches = []
    for rank, name, rule in rules:
        if rank != best:
            continue
        for entry in (rule.get("http") or {}).get("paths") or []:
            path_type = entry.get("pathType", "ImplementationSpecific")
            rule_path = entry.get("path", "/")
            if path_matches(path_type, rule_path, path):
                matches.append(_Candidate(name, rule.get("host", ""), rule_path, path_type, entry.get("backend") or {}))
    if matches:
        return max(matches, key=lambda c: c.priority), ""
    paths = sorted(
        {e.get("path", "/") for rank, _, r in rules if rank == best for e in (r.get("http") or {}).get("paths") or []}
    )
    return None, f"host matches, but no path matches {path!r} (paths: {', '.join(paths) or 'none'})"


# -- following the live objects ---------------------------------------------------------------------
def explain_route(url: str, namespace: str) -> Route:
    """Follow ``url`` through the Ingresses, Services and EndpointSlices of ``namespace``."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host, path = (parts.hostname or "").lower(), parts.path or "/"
    route = Route(url, host, path)
    service_port: int | None = parts.port or (443 if parts.scheme == "https" else 80)
    service_namespace = _cluster_dns(host, namespace)
    if service_namespace is not None:
        name = host.split(".")[0]
        route.hops.append(Hop("DNS", host, f"Service {name!r} in {service_namespace!r}"))
        return _follow_service(route, name, service_namespace, service_port, None)
    ingresses = list_objects("Ingress", namespace).items
    if not ingresses:
        return route.fail(
            f"there is no Ingress in namespace {namespace!r}", "create an Ingress with a rule for this host"
        )
    candidate, why = match_ingress(ingresses, host, path)
    if candidate is not None:
        route.ingress = candidate.ingress
        where = f"{candidate.host or '*'} {candidate.path} ({candidate.path_type})"
        if candidate.path_type == "ImplementationSpecific":
            route.notes.append("pathType ImplementationSpecific depends on the controller; read here as Prefix")
        route.hops.append(Hop("Ingress", candidate.ingress, where))
        backend = candidate.backend
    else:
        with_default = [
            i
            for i in sorted(ingresses, key=lambda i: i["metadata"]["name"])
            if (i.get("spec") or {}).get("defaultBackend")
        ]
        if not with_default:
            return route.fail(
                f"{why}; no Ingress has a defaultBackend, so the controller answers 404",
                "add a rule (or a path) that matches this URL",
            )
        route.ingress = with_default[0]["metadata"]["name"]
        route.hops.append(Hop("Ingress", route.ingress, f"defaultBackend ({why})", "progress"))
        backend = with_default[0]["spec"]["defaultBackend"]
    if parts.scheme == "https":
        route.notes += _tls_note(ingresses, route.ingress, host)
    route.notes += _ingress_class_note(ingresses, route.ingress)
    service = backend.get("service") or {}
    if not service:
        return route.fail("the backend is a resource, not a Service: this explainer follows Services only")
    port = service.get("port") or {}
    return _follow_service(route, service["name"], namespace, port.get("number"), port.get("name"))


def _cluster_dns(host: str, namespace: str) -> str | None:
    """The namespace named by a cluster DNS name (``web``, ``web.ns``, ``web.ns.svc[.cluster.local]``)."""
    labels = host.split(".")
    if len(labels) == 1:
        return namespace
    if len(labels) == 2 and labels[1] == namespace:
        return namespace
    if len(labels) >= 3 and labels[2] == "svc" and ".".join(labels[3:]) in ("", "cluster.local"):
        return labels[1]
    return None


def _tls_note(ingresses: list[dict[str, Any]], name: str, host: str) -> list[str]:
    ingress = next(i for i in ingresses if i["metadata"]["name"] == name)
    hosts = [h for tls in (ingress.get("spec") or {}).get("tls") or [] for h in tls.get("hosts") or []]
    if any(host_rank(h, host) in (0, 1) for h in hosts):
        return []
    return [f"https, but Ingress {name!r} has no tls entry for {host!r}: the controller's default certificate"]


def _ingress_class_note(ingresses: list[dict[str, Any]], name: str) -> list[str]:
    ingress = next(i for i in ingresses if i["metadata"]["name"] == name)
    classes = {c["metadata"]["name"] for c in list_objects("IngressClass").items}
    wanted = (ingress.get("spec") or {}).get("ingressClassName")
    if not classes:
        return ["no IngressClass on this cluster, so no controller serves Ingresses: the route one would take"]
    if wanted and wanted not in classes:
        return [f"IngressClass {wanted!r} does not exist: no controller will serve Ingress {name!r}"]
    return []


def _follow_service(route: Route, name: str, namespace: str, number: int | None, port_name: str | None) -> Route:
    route.service = name
    service = read_object("Service", name, namespace)
    if service is None:
        route.hops.append(Hop("Service", name, WORDS["missing"], "failed"))
        return route.fail(f"Service {name!r} does not exist", "check the Service name in the Ingress backend")
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        route.hops.append(Hop("Service", name, f"ExternalName → {spec.get('externalName')}", "info"))
        route.notes.append("an ExternalName Service is a DNS alias: the request leaves the cluster's Pods")
        return route
    ports = spec.get("ports") or []
    port = next((p for p in ports if (port_name and p.get("name") == port_name) or p.get("port") == number), None)
    if port is None:
        asked = port_name or number
        have = ", ".join(f"{p['port']}" + (f" ({p['name']})" if p.get("name") else "") for p in ports) or "none"
        route.hops.append(Hop("Service", name, f"no port {asked}", "failed"))
        return route.fail(
            f"Service {name!r} has no port {asked} (it has: {have})",
            "use one of the Service's ports in the backend",
        )
    route.port = str(port["port"])
    target = port.get("targetPort", port["port"])
    route.hops.append(Hop("Service", name, f"port {port['port']} → targetPort {target}"))
    return _follow_endpoints(route, service, port, namespace)


def _follow_endpoints(route: Route, service: dict[str, Any], port: dict[str, Any], namespace: str) -> Route:
    name = service["metadata"]["name"]
    slices = list_objects("EndpointSlice", namespace, label_selector=f"kubernetes.io/service-name={name}").items
    for eps in slices:
        numbers = [p.get("port") for p in eps.get("ports") or [] if (p.get("name") or "") == (port.get("name") or "")]
        for endpoint in eps.get("endpoints") or []:
            pod = (endpoint.get("targetRef") or {}).get("name") or ",".join(endpoint.get("addresses") or [])
            ready = (endpoint.get("conditions") or {}).get("ready")
            (route.pods if ready and numbers else route.not_ready).append(pod)
            route.target_port = route.target_port or (str(numbers[0]) if numbers else "")
    route.pods.sort()
    route.not_ready.sort()
    if route.pods:
        detail = ", ".join(route.pods[:3]) + (f" +{len(route.pods) - 3}" if len(route.pods) > 3 else "")
        route.hops.append(Hop("Pods", f"{len(route.pods)} ready, port {route.target_port}", detail))
        if route.not_ready:
            route.notes.append(f"not Ready, so not sent traffic: {', '.join(route.not_ready)}")
        return route
    route.hops.append(Hop("Pods", WORDS["route.nowhere"], "", "failed"))
    return _why_no_endpoints(route, service, port, namespace)


def _names(names: set[str | None]) -> str:
    return ", ".join(sorted(n for n in names if n)) or "none named"


def _generated(label: str) -> bool:
    """Labels that controllers add (pod-template-hash, batch.kubernetes.io/...): no use in a selector hint."""
    generated = ("pod-template-hash", "controller-revision-hash", "controller-uid", "job-name")
    return label in generated or "kubernetes.io/" in label


def _why_no_endpoints(route: Route, service: dict[str, Any], port: dict[str, Any], namespace: str) -> Route:
    name = service["metadata"]["name"]
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        return route.fail(
            f"Service {name!r} has no selector and no endpoints",
            "give it a selector that matches your Pods' labels",
        )
    wanted = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    pods = list_objects("Pod", namespace, label_selector=wanted).items
    if not pods:
        labels = sorted(
            {
                f"{k}={v}"
                for p in list_objects("Pod", namespace, limit=50).items
                for k, v in (p["metadata"].get("labels") or {}).items()
                if not _generated(k)
            }
        )
        return route.fail(
            f"Service {name!r} selects {wanted}, and no Pod has these labels",
            f"Pod labels here: {', '.join(labels[:8]) or 'none'}; make the selector match them",
        )
    states = [(p["metadata"]["name"], pod_status(p)) for p in pods]
    ready = [pod for pod, status in states if status.tone == "ready"]
    if not ready:
        listed = ", ".join(f"{pod} ({status.label})" for pod, status in sorted(states)[:5])
        return route.fail(
            f"{len(pods)} Pods match {wanted}, but none is Ready: {listed}",
            "look at why: cluster.show_placement(), kubectl describe pod",
        )
    target = port.get("targetPort", port["port"])
    if isinstance(target, str):
        named = {
            p.get("name")
            for pod in pods
            for c in (pod.get("spec") or {}).get("containers") or []
            for p in c.get("ports") or []
        }
        if target not in named:
            return route.fail(
                f"targetPort {target!r} is not a named containerPort of the Pods ({_names(named)})",
                "name the containerPort, or use its number as targetPort",
            )
    return route.fail("Pods are Ready but the EndpointSlice does not list them yet", "run this again in a moment")


# -- drawing -------------------------------------------------------------------------------------------
def _draw(route: Route) -> str:
    hops = [Hop("GET", route.host or "?", route.path), *route.hops]
    problem_lines = [route.problem, *([f"try: {route.hint}"] if route.hint else [])] if route.problem else []
    wrapped = [textwrap.wrap(line, 120) or [""] for line in [*problem_lines, *route.notes]]
    lines = [part for parts in wrapped for part in parts]
    problem_count = sum(len(parts) for parts in wrapped[: len(problem_lines)])
    width = MARGIN * 2 + len(hops) * HOP_WIDTH + (len(hops) - 1) * GAP
    height = 44 + HOP_HEIGHT + 20 + 16 * len(lines)
    canvas = Canvas(max(width, 460), height)
    canvas.text(
        MARGIN,
        20,
        fit(WORDS["route.title"].format(method="GET", url=route.url), width, 13),
        size=13,
        weight="bold",
    )
    x, y = MARGIN, 34
    for index, hop in enumerate(hops):
        tone: Tone = "info" if index == 0 else hop.tone
        with canvas.group(kind=hop.kind, name=hop.name, tone=tone):
            canvas.rect(
                x,
                y,
                HOP_WIDTH,
                HOP_HEIGHT,
                FILL[tone],
                STROKE[tone],
                tooltip=f"{hop.kind} {hop.name}: {hop.detail}",
            )
            canvas.text(x + 8, y + 15, hop.kind, size=10, fill=MUTED)
            canvas.text(x + 8, y + 32, fit(hop.name, HOP_WIDTH - 16, 12), size=12, fill=INK, role="name")
            canvas.text(x + 8, y + 49, fit(hop.detail, HOP_WIDTH - 16, 10), size=10, fill=MUTED, role="detail")
        if index < len(hops) - 1:
            canvas.arrow(x + HOP_WIDTH, y + HOP_HEIGHT // 2, x + HOP_WIDTH + GAP, y + HOP_HEIGHT // 2)
        x += HOP_WIDTH + GAP
    for index, line in enumerate(lines):
        is_problem = index < problem_count
        mark = "✗ " if index == 0 and route.problem else ""
        canvas.text(
            MARGIN, y + HOP_HEIGHT + 22 + 16 * index, mark + line, size=11,
            fill=STROKE["failed"] if is_problem else MUTED, role="problem" if is_problem else "note",
        )  # fmt: skip
    return canvas.svg("route")
