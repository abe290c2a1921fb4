"""Events in the order they happened: the one rule for when an Event took place.

An Event carries its time in one of several fields, depending on the API that wrote it and on how
often it repeated: ``lastTimestamp`` (core/v1 events), ``eventTime`` (events.k8s.io), the last
observation of its ``series``, or, failing all of them, when the object was created.

>>> event_time({"eventTime": "2026-11-30T01:02:03.000004Z", "metadata": {"creationTimestamp": "2026-11-30T01:02:03Z"}})
'2026-11-30T01:02:03.000004Z'
>>> [e["reason"] for e in in_order([{"reason": "b", "lastTimestamp": "2026-01-02T00:00:00Z"},
...                                 {"reason": "a", "lastTimestamp": "2026-01-01T00:00:00Z"}])]
['a', 'b']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

Event = TypeVar("Event", bound=Mapping[str, Any])


def event_time(event: Mapping[str, Any]) -> str:
    """When ``event`` last happened, as an RFC 3339 string (these sort in time order); "" when unknown."""
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("series") or {}).get("lastObservedTime")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )


def in_order(events: Iterable[Event]) -> list[Event]:
    """``events`` oldest first."""
    return sorted(events, key=event_time)
