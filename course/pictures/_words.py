"""Every word the pictures show, in one place: English here, in the chosen language when read.

Labels are short on purpose: a picture is read, not studied. Templates use ``str.format`` fields.
Reading a word gives it in the language of ``K8S_COURSE_LANG`` (``course/_i18n.py``; the Korean ones
are in ``course/locale/ko/LC_MESSAGES/course.po``).

>>> WORDS["owners.title"].format(scope="namespace 'demo'", count=3)
"Owners in namespace 'demo' (3 objects)"
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TypeVar

from course._i18n import tr
from course.pictures._status import Tone

Key = TypeVar("Key", bound=str)


class Translated(Mapping[Key, str]):
    """English words by key; reading one gives it in the chosen language, at the moment it is drawn."""

    def __init__(self, english: dict[Key, str]) -> None:
        self.english = english

    def __getitem__(self, key: Key) -> str:
        return tr(self.english[key])

    def __iter__(self) -> Iterator[Key]:
        return iter(self.english)

    def __len__(self) -> int:
        return len(self.english)


WORDS: Translated[str] = Translated({
    "owners.title": "Owners in {scope} ({count} objects)",
    "owners.empty": "Nothing here yet",
    "owners.empty.detail": "{scope} has no workloads, Services, Ingresses or claims.",
    "owners.not_found": "{kind} {name!r} does not exist in namespace {namespace!r}.",
    "owners.more": "+{count} {kind}",
    "owners.capped": "Read {shown} of {total} {kind} objects; the rest are not drawn.",
    "missing": "not found",
    "no_endpoints": "no endpoints",
    "endpoints": "{count} endpoints",
    "placement.title": "Placement of Pods in {scope}",
    "placement.unscheduled": "Not scheduled",
    "placement.requests": "requests {cpu} CPU, {memory}",
    "placement.allocatable": "allocatable {cpu} CPU, {memory}",
    "placement.no_pods": "no Pods",
    "placement.empty": "No Pods in {scope}",
    "timeline.title": "What happened in {scope} ({seconds:.1f}s)",
    "timeline.empty": "Nothing changed",
    "timeline.empty.detail": "No object in {scope} changed during the recording.",
    "timeline.lost": "events lost",
    "timeline.capped": "Recording stopped after {count} changes.",
    "timeline.more_rows": "+{count} more objects not drawn",
    "route.title": "{method} {url}",
    "route.nowhere": "reaches no Pod",
    "control.title": "Control plane and nodes ({backend})",
    "control.simulated": "simulated by kwok",
    "control.plane": "control plane",
    "scope.namespace": "namespace {namespace!r}",
    "scope.everywhere": "every namespace",
})

LEGEND: Translated[Tone] = Translated({
    "ready": "ready",
    "progress": "on its way",
    "failed": "failed",
    "done": "done",
    "idle": "idle",
    "info": "no state",
})
