"""Event-time timers, earliest first, for hundreds of thousands of assets.

The alert engine keeps one communication-loss timer per watched asset. Most timers never fire:
the asset reports before its deadline, and when the timer comes up it moves on to the asset's
new deadline, tens of minutes ahead. In one heap of every timer, each such move sifts through
the whole heap, tuples scattered in memory: at Dijon scale that was the engine's largest cost.

Here only the timers of the earliest minutes are in a heap. The others wait in buckets of
`bucket_ms` (a list appended to), and a bucket is heapified when the near heap runs empty. A
timer moved on goes to its bucket in constant time, and the heap stays small and warm in the
cache. Timers come out in exactly the order one heap would give.
"""

from __future__ import annotations

import heapq
import math
from typing import Iterable, Iterator

__all__ = ["TimerQueue"]


class TimerQueue:
    """A priority queue of `(deadline, key)` items: `first()`, `pop()`, `replace()`, `push()`."""

    __slots__ = ("_bucket_ms", "_near", "_edge", "_far", "_far_keys", "_len")

    def __init__(self, items: Iterable[tuple[int, str]] = (), *, bucket_ms: int = 60_000) -> None:
        if bucket_ms <= 0:
            raise ValueError("bucket_ms must be positive")
        self._bucket_ms = bucket_ms
        self._near: list[tuple[int, str]] = []  # a heap of the items of buckets up to _edge
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
        near = self._near
        if not near:
            if not self._far_keys:
                return None
            near = self._advance()
        return near[0]

    def pop(self) -> tuple[int, str]:
        """Remove and return the earliest item (IndexError: empty)."""
        if not self._near and self._far_keys:
            self._advance()
        item = heapq.heappop(self._near)
        self._len -= 1
        return item

    def replace(self, item: tuple[int, str]) -> None:
        """Remove the earliest item and add `item`: a timer moved on (the queue must not be empty)."""
        if not self._near:
            self._advance()
        if item[0] // self._bucket_ms <= self._edge:
            heapq.heapreplace(self._near, item)
        else:
            heapq.heappop(self._near)
            self._len -= 1
            self.push(item)

    def _advance(self) -> list[tuple[int, str]]:
        """Make the earliest bucket the near heap (called when the near heap is empty)."""
        bucket = heapq.heappop(self._far_keys)
        near = self._far.pop(bucket)
        heapq.heapify(near)
        self._near, self._edge = near, bucket
        return near
