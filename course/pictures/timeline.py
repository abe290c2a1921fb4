"""The event timeline: what every controller did while a block of code ran, on a time axis.

``with timeline(namespace):`` lists the watched kinds, then follows their watch streams (and the
namespace's Events) in the background until the block ends. Every change of an object's state
becomes a mark on that object's row, every Event a diamond with its reason, so that a rollout, a
scale-down, a Job or a deleted Pod being replaced can be *seen*:

>>> with timeline("ada-00-setup") as recorded:              # doctest: +SKIP
...     cluster.core.delete_namespaced_pod("web-7d9f8c6b5d-x2x4k", "ada-00-setup")
>>> [(c.kind, c.change, c.status.label) for c in recorded.changes][:2]   # doctest: +SKIP
[('Pod', 'modified', 'Terminating'), ('Pod', 'added', 'Pending')]
>>> recorded.table()                                       # doctest: +SKIP

A watch that breaks is resumed from the last resourceVersion it delivered, so nothing is missed; when
the API server no longer has that version (410 Gone), the kind is listed again, the difference is
recorded, and the picture marks the moment with "events lost".
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from types import TracebackType
from typing import Any

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from course._client import kubeconfig
from course._errors import explain_api_error
from course.pictures._reading import KINDS
from course.pictures._status import Status, Tone, status_of
from course.pictures._svg import (
    FILL,
    INK,
    MUTED,
    STROKE,
    Canvas,
    fit,
    html_block,
    message_picture,
    text_width,
)
from course.pictures._words import LEGEND, WORDS

DEFAULT_KINDS = (
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "CronJob",
    "Job",
    "ReplicaSet",
    "Pod",
    "PersistentVolumeClaim",
)
"""What a timeline watches unless told otherwise; the namespace's Events are always added."""
MAX_CHANGES = 5000
"""A recording stops growing here (and says so): a runaway loop must not exhaust the kernel's memory."""
ROWS_SHOWN = 40
WATCH_SECONDS = 5
"""Server-side length of one watch request; a stopped timeline ends its threads within this time."""

LABEL_WIDTH, PLOT_WIDTH, ROW_HEIGHT, MARGIN, TOP = 230, 640, 30, 12, 64


@dataclass(frozen=True)
class Change:
    """One thing that happened, ``at`` seconds after the recording started.

    ``change`` is ``added``, ``modified``, ``deleted``, ``event`` (an Event about the object, its
    reason in ``status.label``) or ``lost`` (the watch of ``kind`` lost events; ``name`` is empty).
    """

    at: float
    kind: str
    name: str
    change: str
    status: Status
    detail: str = ""


@dataclass
class Recording:
    """A finished (or running) recording: the changes, and the state each object started in."""

    scope: str
    changes: list[Change] = field(default_factory=list)
    initial: dict[str, Status] = field(default_factory=dict)
    duration: float = 0.0
    capped: bool = False

    def rows(self) -> list[tuple[str, str]]:
        """(kind, name) of every object that changed, owners first, then by first change."""
        first: dict[tuple[str, str], float] = {}
        for change in self.changes:
            if change.change != "lost":
                first.setdefault((change.kind, change.name), change.at)
        order = {kind: index for index, kind in enumerate(DEFAULT_KINDS)}
        return sorted(first, key=lambda row: (order.get(row[0], len(order)), first[row], row[1]))

    def of(self, kind: str, name: str) -> list[Change]:
        """The changes of one object, in order."""
        return [c for c in self.changes if c.kind == kind and c.name == name]

    def table(self) -> ChangeTable:
        """The same recording as a table: one line per change."""
        return ChangeTable(self)

    def to_svg(self) -> str:
        if not self.changes:
            return message_picture(
                "timeline", WORDS["timeline.empty"], WORDS["timeline.empty.detail"].format(scope=self.scope)
            )
        return _draw(self)

    def _repr_html_(self) -> str:
        return html_block(self.to_svg(), "timeline")

    def __str__(self) -> str:
        return str(self.table())

    __repr__ = __str__

    def save(self, path: Path) -> None:
        """Write the recording as JSON (tests keep recordings of a real cluster this way)."""
        data = {"scope": self.scope, "duration": self.duration, "capped": self.capped,
                "initial": {key: asdict(status) for key, status in self.initial.items()},
                "changes": [asdict(change) for change in self.changes]}  # fmt: skip
        path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> Recording:
        data = json.loads(path.read_text())
        changes = [Change(**{**c, "status": Status(**c["status"])}) for c in data["changes"]]
        initial = {key: Status(**status) for key, status in data["initial"].items()}
        return cls(data["scope"], changes, initial, data["duration"], data["capped"])


class ChangeTable:
    """A recording as a table (``+seconds``, object, change, state, detail): HTML or text."""

    HEADER = ("time", "object", "change", "state", "detail")

    def __init__(self, recording: Recording) -> None:
        self.recording = recording

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        return [
            (f"+{c.at:.2f}s", f"{c.kind} {c.name}".strip(), c.change, c.status.label, c.detail)
            for c in self.recording.changes
        ]

    def __str__(self) -> str:
        rows = [self.HEADER, *self.rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        return "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=False)) + "  " + row[4]
            for row in rows
        )

    __repr__ = __str__

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{escape(h)}</th>" for h in self.HEADER)
        body = []
        for change, row in zip(self.recording.changes, self.rows(), strict=True):
            colour = STROKE[change.status.tone]
            cells = [escape(cell) for cell in row]
            cells[3] = f"<span style='color:{colour}'>{cells[3]}</span>"
            body.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
        return (
            "<table class='course-timeline-table' data-course-picture='timeline-table'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )


# -- recording -----------------------------------------------------------------------------------
class Timeline:
    """Records a namespace's changes for the duration of a ``with`` block (see the module docstring)."""

    def __init__(
        self,
        namespace: str,
        kinds: tuple[str, ...] = DEFAULT_KINDS,
        settle: float = 1.0,
        show: bool = True,
        watch_seconds: int = WATCH_SECONDS,
    ) -> None:
        unknown = [kind for kind in kinds if kind not in KINDS]
        if unknown:
            raise ValueError(f"A timeline cannot watch {', '.join(unknown)}; it can watch {', '.join(KINDS)}.")
        self.namespace = namespace
        self.kinds = (*kinds, "Event")
        self.settle = settle
        self.show = show
        self.watch_seconds = watch_seconds
        self.recording = Recording(WORDS["scope.namespace"].format(namespace=namespace))
        self.reconnects = 0
        """How many times a watch stream ended or broke and was resumed (for the curious and for tests)."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._client: Any = None
        self._started = 0.0
        self._states: dict[tuple[str, str], Status] = {}
        self._event_counts: dict[str, int] = {}

    # The recording's view, so that ``recorded.changes`` and ``recorded.table()`` work on the timeline.
    @property
    def changes(self) -> list[Change]:
        return self.recording.changes

    def table(self) -> ChangeTable:
        return self.recording.table()

    def of(self, kind: str, name: str) -> list[Change]:
        return self.recording.of(kind, name)

    def _repr_html_(self) -> str:
        return self.recording._repr_html_()

    def __str__(self) -> str:
        return str(self.recording)

    __repr__ = __str__

    def __enter__(self) -> Timeline:
        # Watches hold their connection for seconds: a client of their own keeps the learner's free.
        self._client = _watch_client(len(self.kinds) + 2)
        self._started = time.monotonic()
        versions = {kind: self._baseline(kind) for kind in self.kinds}
        for kind in self.kinds:
            thread = threading.Thread(target=self._follow, args=(kind, versions[kind]), daemon=True)
            thread.name = f"course-timeline-{kind}"
            thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is None:
            time.sleep(self.settle)  # controllers react within a moment; let the last reactions arrive
        with self._lock:
            self._stop.set()
            self.recording.duration = round(time.monotonic() - self._started, 3)
        if self.show and kind is None:
            _display(self.recording)

    def _now(self) -> float:
        return round(time.monotonic() - self._started, 3)

    def _resource(self, kind: str) -> Any:
        return self._client.resources.get(api_version=KINDS[kind][0], kind=kind)

    def _list(self, kind: str) -> dict[str, Any]:
        listed: dict[str, Any] = self._resource(kind).get(namespace=self.namespace, serializer=lambda _client, raw: raw)
        return listed

    def _baseline(self, kind: str) -> str:
        """List ``kind`` once: the state every object starts in, and the resourceVersion to watch from."""
        try:
            data = self._list(kind)
        except ApiException as error:
            raise explain_api_error(error, f"Listing {kind} objects to record a timeline") from None
        for item in data.get("items") or []:
            obj = {"kind": kind, **item}
            if kind == "Event":
                self._event_counts[obj["metadata"]["name"]] = obj.get("count") or 1
            else:
                self._states[(kind, obj["metadata"]["name"])] = status_of(obj)
                self.recording.initial[f"{kind}/{obj['metadata']['name']}"] = status_of(obj)
        return str(data["metadata"]["resourceVersion"])

    def _stream(self, kind: str, resource_version: str) -> Iterator[dict[str, Any]]:
        """One watch request from ``resource_version``; it ends after :attr:`watch_seconds` or breaks."""
        watcher = watch.Watch()  # type: ignore[no-untyped-call]  # kubernetes.watch has no annotations
        yield from watcher.stream(  # type: ignore[no-untyped-call]
            self._resource(kind).get,
            namespace=self.namespace,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=self.watch_seconds,
            serialize=False,
            _request_timeout=self.watch_seconds + 10,
        )

    def _follow(self, kind: str, resource_version: str) -> None:
        while not self._stop.is_set():
            try:
                for event in self._stream(kind, resource_version):
                    obj = event["raw_object"]
                    resource_version = obj["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        self._record(kind, event["type"], {"kind": kind, **obj})
                    if self._stop.is_set():
                        return
            except ApiException:
                # 410 Gone (the version is too old) or a failing API server: only a fresh list tells
                # what happened meanwhile.
                try:
                    resource_version = self._relist(kind)
                except (ApiException, urllib3.exceptions.HTTPError, OSError):
                    time.sleep(1.0)
            except (urllib3.exceptions.HTTPError, OSError, ValueError):
                time.sleep(0.2)  # the connection broke: resume from the last resourceVersion delivered
            self.reconnects += 1

    def _relist(self, kind: str) -> str:
        """After 410 Gone: mark the gap, list again and record what changed meanwhile."""
        self._add(Change(self._now(), kind, "", "lost", Status("failed", WORDS["timeline.lost"])))
        data = self._list(kind)
        present = set()
        for item in data.get("items") or []:
            obj = {"kind": kind, **item}
            present.add(obj["metadata"]["name"])
            self._record(kind, "MODIFIED", obj)
        for known_kind, name in list(self._states):
            if known_kind == kind and name not in present:
                self._record(kind, "DELETED", {"kind": kind, "metadata": {"name": name}})
        return str(data["metadata"]["resourceVersion"])

    def _record(self, kind: str, event_type: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if kind == "Event":
            count = obj.get("count") or 1
            if event_type == "DELETED" or self._event_counts.get(name) == count:
                return
            self._event_counts[name] = count
            involved = obj.get("involvedObject") or {}
            tone: Tone = "failed" if obj.get("type") == "Warning" else "info"
            status = Status(tone, obj.get("reason", ""))
            self._add(
                Change(
                    self._now(),
                    involved.get("kind", ""),
                    involved.get("name", ""),
                    "event",
                    status,
                    obj.get("message", ""),
                )
            )
            return
        if event_type == "DELETED":
            self._states.pop((kind, name), None)
            self._add(Change(self._now(), kind, name, "deleted", Status("idle", "deleted")))
            return
        status = status_of(obj)
        before = self._states.get((kind, name))
        self._states[(kind, name)] = status
        if before is None:
            self._add(Change(self._now(), kind, name, "added", status, status.detail))
        elif before != status:
            self._add(Change(self._now(), kind, name, "modified", status, status.detail))

    def _add(self, change: Change) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            if len(self.recording.changes) >= MAX_CHANGES:
                self.recording.capped = True
                return
            self.recording.changes.append(change)


def timeline(namespace: str, kinds: tuple[str, ...] = DEFAULT_KINDS, show: bool = True) -> Timeline:
    """Record what happens in ``namespace`` during a ``with`` block; the picture shows when it ends."""
    return Timeline(namespace, kinds, show=show)


def _watch_client(pool_size: int) -> Any:
    """A DynamicClient on its own connection pool, big enough for one watch per kind."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig()), client_configuration=configuration)  # type: ignore[no-untyped-call]
    configuration.connection_pool_maxsize = pool_size
    return DynamicClient(client.ApiClient(configuration))  # type: ignore[no-untyped-call]


def _display(recording: Recording) -> None:
    from course._notebook_output import show

    show(recording)


# -- drawing -------------------------------------------------------------------------------------
def _step(duration: float) -> float:
    """A tick spacing that gives 4 to 10 ticks."""
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if duration / step <= 10:
            return step
    return 1200.0


def _draw(recording: Recording) -> str:
    rows = recording.rows()
    shown, hidden = rows[:ROWS_SHOWN], len(rows) - ROWS_SHOWN
    lost = [c for c in recording.changes if c.change == "lost"]
    duration = max([recording.duration, *(c.at for c in recording.changes)]) or 1.0
    scale = PLOT_WIDTH / duration
    left = MARGIN + LABEL_WIDTH
    notes = ([WORDS["timeline.more_rows"].format(count=hidden)] if hidden > 0 else []) + (
        [WORDS["timeline.capped"].format(count=len(recording.changes))] if recording.capped else []
    )
    height = TOP + len(shown) * ROW_HEIGHT + 28 + 16 * len(notes)
    canvas = Canvas(left + PLOT_WIDTH + 90, height)
    canvas.text(
        MARGIN,
        20,
        WORDS["timeline.title"].format(scope=recording.scope, seconds=duration),
        size=13,
        weight="bold",
    )
    canvas.legend(MARGIN, 28, LEGEND)
    bottom = TOP + len(shown) * ROW_HEIGHT
    step = _step(duration)
    tick = 0.0
    while tick <= duration + 1e-9:
        x = left + int(tick * scale)
        canvas.line(x, TOP - 6, x, bottom, stroke="#e4e7eb")
        canvas.text(x, bottom + 14, f"{tick:g}s", size=10, anchor="middle", fill=MUTED)
        tick = round(tick + step, 3)
    for index, (kind, name) in enumerate(shown):
        _draw_row(canvas, recording, kind, name, TOP + index * ROW_HEIGHT, left, scale, duration)
    for change in lost:
        x = left + int(change.at * scale)
        with canvas.group(kind=change.kind, name="", tone="failed", change="lost"):
            canvas.line(x, TOP - 10, x, bottom, stroke=STROKE["failed"], width=2, dash="3 3")
            canvas.text(x + 3, TOP - 12, f"{WORDS['timeline.lost']} ({change.kind})", size=10, fill=STROKE["failed"])
    for index, note in enumerate(notes):
        canvas.text(MARGIN, bottom + 32 + 16 * index, note, size=11, fill=MUTED, role="note")
    return canvas.svg("timeline")


def _draw_row(
    canvas: Canvas,
    recording: Recording,
    kind: str,
    name: str,
    y: int,
    left: int,
    scale: float,
    duration: float,
) -> None:
    changes = recording.of(kind, name)
    middle = y + ROW_HEIGHT // 2
    with canvas.group(kind=kind, name=name):
        canvas.text(MARGIN, middle - 2, kind, size=9, fill=MUTED)
        canvas.text(
            MARGIN,
            middle + 9,
            fit(name, LABEL_WIDTH - 8, 11),
            size=11,
            fill=INK,
            tooltip=f"{kind} {name}",
            role="name",
        )
        canvas.line(left, y + ROW_HEIGHT - 1, left + PLOT_WIDTH, y + ROW_HEIGHT - 1, stroke="#f0f2f4")
        states = [c for c in changes if c.change != "event"]
        current = recording.initial.get(f"{kind}/{name}")
        start = 0.0
        label_end = event_label_end = float(left)  # state labels go above the bar, Event reasons below
        for change in [*states, None]:
            end = change.at if change is not None else duration
            if current is not None and current.label != "deleted":
                x1, x2 = left + int(start * scale), left + max(int(end * scale), int(start * scale) + 2)
                canvas.rect(
                    x1,
                    middle - 5,
                    x2 - x1,
                    10,
                    FILL[current.tone],
                    STROKE[current.tone],
                    rx=2,
                    tooltip=current.label,
                )
            if change is None:
                break
            x = left + int(change.at * scale)
            if change.change == "deleted":
                canvas.text(
                    x,
                    middle + 4,
                    "✕",
                    size=11,
                    anchor="middle",
                    fill=STROKE["failed"],
                    tooltip=f"+{change.at:.2f}s deleted",
                )
            if x >= label_end and change.status.label:
                canvas.text(
                    x + 2,
                    middle - 7,
                    change.status.label,
                    size=9,
                    fill=STROKE[change.status.tone],
                    role="state",
                )
                label_end = x + 4 + text_width(change.status.label, 9)
            current, start = change.status, change.at
        for event in (c for c in changes if c.change == "event"):
            x = left + int(event.at * scale)
            tip = f"+{event.at:.2f}s {event.status.label}: {event.detail}"
            canvas.diamond(x, middle + 6, 4, STROKE[event.status.tone], tooltip=tip)
            if x >= event_label_end:
                canvas.text(x + 6, middle + 11, event.status.label, size=9, fill=MUTED, role="event")
                event_label_end = x + 8 + text_width(event.status.label, 9)
