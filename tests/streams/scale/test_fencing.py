"""Offsets are compare-and-set: a processor that lost a partition cannot write it (nor the batch with it)."""

from __future__ import annotations

import time

import pytest

from streams.config import Settings
from streams.processor import Processor, group_id_for
from streams.schemas import CameraHealth, encode
from streams.store import BatchWrite, OffsetConflict

T = ("live.lighting.telemetry", 1)


def _state(asset_id: str) -> dict:
    now = int(time.time() * 1000)
    return {"asset_id": asset_id, "kind": "light", "state": "on", "attributes": {}, "faults": [],
            "last_changed": now, "last_updated": now, "last_seen": now}


def test_a_zombie_batch_rolls_back_whole(store):
    store.apply_batch(BatchWrite(group_id="g", offsets={T: 10}, expected_offsets={T: None}))
    # The new owner read 10 and moved on to 15.
    store.apply_batch(BatchWrite(group_id="g", offsets={T: 15}, expected_offsets={T: 10}, asset_rows=[_state("A")]))
    # The former owner still believes 10 is stored: its batch, state included, is refused.
    with pytest.raises(OffsetConflict):
        store.apply_batch(BatchWrite(group_id="g", offsets={T: 12}, expected_offsets={T: 10},
                                     asset_rows=[_state("B")]))
    assert store.load_offsets("g") == {T: 15}
    assert store.asset_state("B") is None and store.asset_state("A") is not None
    # A second first writer of a partition is refused too.
    with pytest.raises(OffsetConflict):
        store.apply_batch(BatchWrite(group_id="g", offsets={T: 3}, expected_offsets={T: None}))
    # Without expectations (a single writer, tools) the offset is simply written.
    store.apply_batch(BatchWrite(group_id="g", offsets={T: 20}))
    assert store.load_offsets("g") == {T: 20}


def test_health_increments_add_up_across_processors(store):
    row = {"topic": "live.lighting.telemetry", "rate": 1.0, "lag": 0, "last_event_ts": 1}
    store.apply_batch(BatchWrite(group_id="g", health_deltas=True, health=[{**row, "events": 5, "dead_letters": 1}]))
    store.apply_batch(BatchWrite(group_id="g", health_deltas=True, health=[{**row, "events": 7, "dead_letters": 0}]))
    [health] = store.stream_health()
    assert (health["events"], health["dead_letters"]) == (12, 1)


class _Source:
    """A stand-in for the consumer group: the partitions owned, records handed over by the test."""

    def __init__(self, owned: dict[tuple[str, int], int | None]) -> None:
        self.high = {key: 1000 for key in owned}
        self.announce = dict(owned)
        self.verified = True

    def take_announcements(self) -> dict:
        out, self.announce = self.announce, {}
        return out

    def highwaters(self) -> dict:
        return self.high

    def close(self) -> None:
        pass


def test_a_processor_that_lost_its_partition_is_fenced_off(sqlite_store, tmp_path):
    ns = "train-fence"
    topic = f"{ns}.cameras.health"
    key = (topic, 0)
    group = group_id_for(ns)
    settings = Settings(data_dir=tmp_path, namespace=ns)
    proc = Processor(settings, store=sqlite_store)
    proc.source = _Source({key: None})
    proc._reassigned(proc.source.take_announcements())
    ts = int(time.time() * 1000) - 3_600_000

    def records(start: int, n: int) -> list[tuple]:
        return _camera_records(topic, start, n, ts)

    proc.process(records(0, 5))
    proc._drain_buffer(force=True)
    assert sqlite_store.load_offsets(group) == {key: 5}
    # The group gave the partition to another processor, which read on and committed 8.
    sqlite_store.apply_batch(BatchWrite(group_id=group, offsets={key: 8}, expected_offsets={key: 5}))
    seen = sqlite_store.asset_state("CAM-1")["last_seen"]
    with pytest.raises(OffsetConflict):
        proc.process(records(5, 5))
        proc._drain_buffer(force=True)
    assert sqlite_store.load_offsets(group) == {key: 8}
    assert sqlite_store.asset_state("CAM-1")["last_seen"] == seen  # nothing of the zombie's batch landed


def _camera_records(topic: str, start: int, n: int, ts: int) -> list[tuple]:
    return [(topic, 0, o, b"CAM-1", encode(CameraHealth(asset_id="CAM-1", ts=ts + o * 1000, state="online")),
             ts + o * 1000) for o in range(start, start + n)]


def _behind(store, tmp_path, ns: str, commit_interval_s: float) -> tuple[Processor, str, tuple, str, int]:
    """A processor owning one partition whose log holds 1000 records: it is behind the log."""
    topic = f"{ns}.cameras.health"
    key = (topic, 0)
    proc = Processor(Settings(data_dir=tmp_path, namespace=ns, commit_interval_s=commit_interval_s), store=store)
    proc.source = _Source({key: None})
    proc._reassigned(proc.source.take_announcements())
    return proc, topic, key, group_id_for(ns), int(time.time() * 1000) - 3_600_000


def test_behind_the_logs_steps_are_committed_together_then_at_once_when_caught_up(sqlite_store, tmp_path):
    proc, topic, key, group, ts = _behind(sqlite_store, tmp_path, "train-cadence", 3600)
    proc.process(_camera_records(topic, 0, 5, ts))
    proc.process(_camera_records(topic, 5, 5, ts))
    assert sqlite_store.load_offsets(group) == {}  # applied, not yet committed: the interval has not passed
    assert sqlite_store.asset_state("CAM-1") is None
    proc.source.high = {key: 12}
    proc.process(_camera_records(topic, 10, 2, ts))  # the end of the log: caught up, committed at once
    assert sqlite_store.load_offsets(group) == {key: 12}
    assert sqlite_store.asset_state("CAM-1")["last_seen"] == ts + 11_000
    assert sqlite_store.status_summary()["events_processed"] == 12


def test_behind_the_logs_the_commit_interval_runs_from_the_oldest_change_not_committed(sqlite_store, tmp_path):
    proc, topic, key, group, ts = _behind(sqlite_store, tmp_path, "train-interval", 0.5)
    time.sleep(0.6)  # joining the group took longer than the interval: no reason to commit the first step alone
    proc.process(_camera_records(topic, 0, 5, ts))
    assert proc._in_flight is None and proc._uncommitted == 5
    time.sleep(0.6)
    proc.process(_camera_records(topic, 5, 5, ts))  # the first step waited the interval: both go together
    proc._settle()
    assert sqlite_store.load_offsets(group) == {key: 10} and proc._uncommitted == 0
    proc.close()


def test_a_write_behind_that_was_fenced_off_raises_and_lands_nothing(sqlite_store, tmp_path):
    proc, topic, key, group, ts = _behind(sqlite_store, tmp_path, "train-behind", 0)
    proc.process(_camera_records(topic, 0, 5, ts))  # behind the logs: written by the writer thread
    assert proc._in_flight is not None
    proc._settle()
    assert sqlite_store.load_offsets(group) == {key: 5}
    sqlite_store.apply_batch(BatchWrite(group_id=group, offsets={key: 8}, expected_offsets={key: 5}))
    seen = sqlite_store.asset_state("CAM-1")["last_seen"]
    proc.process(_camera_records(topic, 5, 5, ts))
    with pytest.raises(OffsetConflict):
        proc._settle()
    assert sqlite_store.load_offsets(group) == {key: 8}
    assert sqlite_store.asset_state("CAM-1")["last_seen"] == seen
    proc.close()
