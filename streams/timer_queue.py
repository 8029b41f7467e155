"""Event-time timers, earliest first, for hundreds of thousands of assets.

The alert engine keeps one communication-loss timer per watched asset. Most timers never fire:
the asset reports before its deadline, and when the timer comes up it moves on to the asset's
new deadline, tens of minutes ahead. In one heap of every timer, each such move sifts through
the whole heap, tuples scattered in memory: at Dijon scale that was the engine's largest cost.

Here only the timers of the earliest minute are ordered. The others wait in buckets of
`bucket_ms` (a list appended to). When the near timers run out, the earliest bucket is sorted
once, latest first, and its timers are taken from the end of that list; a timer added within
the near minute (rare: deadlines are tens of minutes ahead) goes to a small heap beside it. A
timer moved on goes to its bucket in constant time. Sorting a bucket costs fewer comparisons
than a heap's pops, which matters when thousands of never-seen assets share one deadline (the
start of a watch) and every comparison falls through to their ids. Timers come out in exactly
the order one heap would give.
"""

from __future__ import annotations

import heapq
import math
from typing import Iterable, Iterator

__all__ = ["TimerQueue"]


class TimerQueue:
    """A priority queue of `(deadline, key)` items: `first()`, `pop()`, `replace()`, `push()`."""

    __slots__ = ("_bucket_ms", "_run", "_near", "_edge", "_far", "_far_keys", "_len")

    def __init__(self, items: Iterable[tuple[int, str]] = (), *, bucket_ms: int = 60_000) -> None:
        if bucket_ms <= 0:
            raise ValueError("bucket_ms must be positive")
        self._bucket_ms = bucket_ms
        self._run: list[tuple[int, str]] = []  # the earliest bucket's items, sorted latest first
        self._near: list[tuple[int, str]] = []  # a heap of the items added up to _edge since it was sorted
        self._edge: float = -math.inf
        self._far: dict[int, list[tuple[int, str]]] = {}  # bucket -> its items, unordered (all above _edge)
        self._far_keys: list[int] = []  # a heap of the buckets in _far
        self._len = 0
        for item in items:
            self.push(item)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[tuple[int, str]]:
        """Every item, in no particular order."""
        yield from self._run
        yield from self._near
        for items in self._far.values():
            yield from items

    def push(self, item: tuple[int, str]) -> None:
        bucket = item[0] // self._bucket_ms
        if bucket <= self._edge:
            heapq.heappush(self._near, item)
        else:
            items = self._far.get(bucket)
            if items is None:
                self._far[bucket] = [item]
                heapq.heappush(self._far_keys, bucket)
            else:
                items.append(item)
        self._len += 1

    def first(self) -> tuple[int, str] | None:
        """The earliest item, left in place (None: empty)."""
        run, near = self._run, self._near
        if near:
            return near[0] if not run or near[0] < run[-1] else run[-1]
        if run:
            return run[-1]
        if not self._far_keys:
            return None
        return self._advance()[-1]

    def pop(self) -> tuple[int, str]:
        """Remove and return the earliest item (IndexError: empty)."""
        run, near = self._run, self._near
        if not run and not near:
            if not self._far_keys:
                raise IndexError("pop from an empty timer queue")
            run = self._advance()
        self._len -= 1
        if near and (not run or near[0] < run[-1]):
            return heapq.heappop(near)
        return run.pop()

    def replace(self, item: tuple[int, str]) -> None:
        """Remove the earliest item and add `item`: a timer moved on (the queue must not be empty)."""
        run, near = self._run, self._near
        if not run and not near:
            run = self._advance()
        if near and (not run or near[0] < run[-1]):
            if item[0] // self._bucket_ms <= self._edge:
                heapq.heapreplace(near, item)
                return
            heapq.heappop(near)
        else:
            run.pop()
        self._len -= 1
        self.push(item)

    def _advance(self) -> list[tuple[int, str]]:
        """Make the earliest bucket the sorted run (called when the near items ran out)."""
        bucket = heapq.heappop(self._far_keys)
        run = self._far.pop(bucket)
        run.sort(reverse=True)
        self._run, self._edge = run, bucket
        return run
