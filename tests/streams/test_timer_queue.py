"""The engine's timer queue gives timers in exactly the order one heap of them would."""

from __future__ import annotations

import heapq
import random

import pytest

from streams.timer_queue import TimerQueue


@pytest.mark.parametrize("seed", range(5))
def test_timer_queue_matches_a_heap_through_random_operations(seed):
    rng = random.Random(seed)
    queue, heap = TimerQueue(bucket_ms=1_000), []
    now = 0
    for step in range(20_000):
        roll = rng.random()
        if roll < 0.4 or not heap:
            # a new timer: mostly minutes ahead, sometimes within the current bucket or already due
            item = (now + rng.choice((rng.randrange(0, 900), rng.randrange(0, 120_000), -rng.randrange(0, 50))),
                    f"A-{step}")
            queue.push(item)
            heapq.heappush(heap, item)
        elif roll < 0.7:
            assert queue.pop() == heapq.heappop(heap)
        else:  # the earliest timer moves on, near or far
            item = (heap[0][0] + rng.choice((rng.randrange(0, 500), rng.randrange(0, 90_000))), heap[0][1])
            queue.replace(item)
            heapq.heapreplace(heap, item)
        now += rng.randrange(0, 40)
        assert queue.first() == (heap[0] if heap else None)
        assert len(queue) == len(heap)
    assert sorted(queue) == sorted(heap)
    assert [queue.pop() for _ in range(len(queue))] == [heapq.heappop(heap) for _ in range(len(heap))]
    assert queue.first() is None and len(queue) == 0
    with pytest.raises(IndexError):
        queue.pop()


def test_timer_queue_starts_from_items_and_refuses_a_bad_bucket():
    items = [(5_000, "b"), (61_000, "c"), (5_000, "a"), (-3, "z")]
    queue = TimerQueue(items)
    assert [queue.pop() for _ in items] == sorted(items)
    with pytest.raises(ValueError, match="bucket_ms"):
        TimerQueue(bucket_ms=0)
