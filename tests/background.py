"""Run a module's slow, independent pieces of work (grading a chapter, running its solved notebook) two at
a time in the background, while its tests assert on the results one by one.

Each piece works in a namespace of its own on the session's cluster (a kernel or an ``nbgrader`` process
does the work; a thread only waits for it), so two of them on 2 cores take little more than one.
:func:`in_lanes` groups pieces that share a costly start (one ``nbgrader`` process grades several
notebooks), the groups side by side.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Generic, Protocol, TypeVar

import pytest

Key = TypeVar("Key", bound=Hashable)
Result = TypeVar("Result")
Result_co = TypeVar("Result_co", covariant=True)
Key_contra = TypeVar("Key_contra", bound=Hashable, contravariant=True)


class Results(Protocol[Key_contra, Result_co]):
    """What a test asks background work for: a key's result, waiting for it (:class:`Ahead`, :class:`Lanes`)."""

    def result(self, key: Key_contra) -> Result_co: ...


class Ahead(Generic[Key, Result]):
    """``work(key)`` for every key, in order, at most ``workers`` at a time; a key's work starts when a test
    asks for a key at most ``ahead - 1`` places before it, so that no more than about ``ahead`` keys' objects
    are on the cluster at once (``ahead=None``: every key from the first request on)."""

    def __init__(
        self, pool: ThreadPoolExecutor, keys: list[Key], work: Callable[[Key], Result], ahead: int | None
    ) -> None:
        self._pool, self._keys, self._work = pool, keys, work
        self._ahead = len(keys) if ahead is None else ahead
        self._started: dict[Key, Future[Result]] = {}

    def start(self, index: int = 0) -> None:
        """Start the work of the key at ``index`` and of the keys after it that may run ahead (none waits)."""
        for upcoming in self._keys[: index + self._ahead]:
            if upcoming not in self._started:
                self._started[upcoming] = self._pool.submit(self._work, upcoming)

    def result(self, key: Key) -> Result:
        """What ``work(key)`` returned (its exception raised here), after starting the next keys' work."""
        self.start(self._keys.index(key))
        return self._started[key].result()

    def cancel(self) -> None:
        """Drop the work nobody asked for yet (after a test failed early)."""
        for future in self._started.values():
            future.cancel()


@contextmanager
def ahead(
    keys: list[Key], work: Callable[[Key], Result], ahead: int | None = 2, workers: int = 2
) -> Iterator[Ahead[Key, Result]]:
    """An :class:`Ahead` whose threads end (running work finished, waiting work dropped) with the block."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="background") as pool:
        results = Ahead(pool, keys, work, ahead)
        try:
            yield results
        finally:
            results.cancel()


class Relabelled(Mapping[Key, Result]):
    """``results`` under other keys (``labels[key]`` is the key in ``results``), each read only when asked:
    one key's exception (a submission nbgrader could not grade) is raised for that key alone."""

    def __init__(self, results: Mapping[Any, Result], labels: Mapping[Key, Hashable]) -> None:
        self._results, self._labels = results, labels

    def __getitem__(self, key: Key) -> Result:
        return self._results[self._labels[key]]

    def __iter__(self) -> Iterator[Key]:
        return iter(self._labels)

    def __len__(self) -> int:
        return len(self._labels)


class Lanes(Generic[Key, Result]):
    """Keys split into lanes, each lane's keys done by one call of ``work_all`` in the background, the lanes
    side by side; a key's result is there when its lane's call returns."""

    def __init__(self, lanes: Ahead[tuple[Key, ...], Mapping[Key, Result]], groups: list[tuple[Key, ...]]) -> None:
        self._lanes, self._groups = lanes, groups

    def result(self, key: Key) -> Result:
        """What ``work_all`` gave ``key`` (the lane's exception, or the key's own, raised here)."""
        [lane] = [group for group in self._groups if key in group]
        return self._lanes.result(lane)[key]


@contextmanager
def in_lanes(
    keys: list[Key], work_all: Callable[[tuple[Key, ...]], Mapping[Key, Result]], lanes: int = 2
) -> Iterator[Lanes[Key, Result]]:
    """``work_all`` on ``lanes`` groups of ``keys``, all started at once (``keys[0::lanes]``, ``keys[1::lanes]``,
    ...: order the keys so that neighbours cost about the same, and each lane gets a fair share)."""
    groups = [tuple(keys[lane::lanes]) for lane in range(lanes) if keys[lane::lanes]]
    with ahead(groups, work_all, ahead=None, workers=max(len(groups), 1)) as started:
        started.start()
        yield Lanes(started, groups)


def selected(request: pytest.FixtureRequest, argname: str) -> list[Any]:
    """The values of the parameter ``argname`` of the tests in ``request``'s module that ask for its fixture
    by name and that this session runs (after ``-k`` and the like), in order, once each: so that
    ``pytest -k 03-nodes`` does the work of that chapter only."""
    values: list[Any] = []
    for item in request.session.items:
        if not isinstance(item, pytest.Function) or item.module is not request.module:
            continue
        asks = request.fixturename in inspect.signature(item.function).parameters
        value = item.callspec.params.get(argname) if hasattr(item, "callspec") else None
        if asks and value is not None and value not in values:
            values.append(value)
    return values
