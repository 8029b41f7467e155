"""The processor end to end on the embedded broker: store, alerts topic, dead letters, resuming from the store."""

from __future__ import annotations

import base64
import itertools
import logging

import orjson
import pytest
from kafka import TopicPartition

from streams.bench import synthetic_stream
from streams.config import Settings
from streams.kafka import ensure_topics, make_consumer, make_producer
from streams.processor import Processor, group_id_for
from streams.schemas import CameraHealth, LampTelemetry, Validator, encode
from streams.store import Store
from streams.store.inventory import load_inventory_into

pytestmark = pytest.mark.kafka
_names = itertools.count(1)


def namespace(broker, label):
    ns = f"train-{label}-{next(_names)}"
    ensure_topics(broker.bootstrap, ns)
    return ns


def produce(bootstrap, ns, records):
    producer = make_producer(bootstrap)
    for feed, key, value in records:
        producer.send(f"{ns}.{feed}", value=value, key=key)
    producer.flush()
    producer.close()


def read_topic(bootstrap, topic, expect, timeout_s=20):
    consumer = make_consumer(bootstrap)
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    got = []
    for _ in range(int(timeout_s * 2)):
        for recs in consumer.poll(timeout_ms=500).values():
            got.extend(recs)
        if len(got) >= expect:
            break
    consumer.close()
    return got


def run_processor(broker, ns, store, tmp_path, **kw):
    settings = Settings(kafka_bootstrap=broker.bootstrap, data_dir=tmp_path, namespace=ns)
    proc = Processor(settings, store=store, **kw)
    try:
        return proc.run(once=True, max_seconds=90)
    finally:
        proc.close()


def test_stream_to_store_alerts_topic_and_resume(embedded_broker, store, small_inventory, start_ms, tmp_path):
    """On SQLite and on PostgreSQL."""
    ns = namespace(embedded_broker, "e2e")
    records = synthetic_stream(small_inventory, start_ms=start_ms, duration_s=3600, invalid_every=100)
    produce(embedded_broker.bootstrap, ns, records)
    bad = sum(1 for _, _, v in records if not v.endswith(b"}"))
    load_inventory_into(store, small_inventory)

    stats = run_processor(embedded_broker, ns, store, tmp_path, batch_size=300)
    assert stats.events == len(records) and stats.dead_letters == bad

    summary = store.status_summary()
    assert summary["events_processed"] == len(records) - bad
    assert summary["dead_letters"] == bad
    assert summary["assets_with_state"] == len(small_inventory.assets)
    alerts = store.alerts()
    by_rule = {}
    for a in alerts:
        by_rule.setdefault(a["rule"], []).append(a)
    [cabinet] = by_rule["cabinet_supply_loss"]
    children = store.children(cabinet["id"])
    assert "lamp_supply_loss" in {c["rule"] for c in children}
    assert {c["rule"] for c in children} <= {"lamp_supply_loss", "lamp_failure", "lamp_defect", "comm_loss"}
    assert cabinet["details"]["absorbed"] == len(children)
    assert cabinet["escalated"]  # 20 minutes without acknowledgement
    assert by_rule["camera_fault"][0]["state"] == "open"
    assert by_rule["crossroads_degraded"][0]["state"] == "resolved"
    assert by_rule["wind_gusts"][0]["state"] == "resolved"
    fused = [r for r in store.reports() if r["fused"]]
    assert fused and all(store.alert(r["alert_id"])["rule"] == "lamp_defect" for r in fused)
    assert [a["asset_id"] for a in by_rule["citizen_report"]] == ["RPT-2-pothole"]
    energy = store.energy_totals()
    assert energy["kwh"] > 0 and energy["lamp_kwh"] > 0

    transitions = store.transitions_since(0)
    published = read_topic(embedded_broker.bootstrap, f"{ns}.alerts.events", len(transitions))
    decoded = [Validator().decode(m.value) for m in published]
    assert {(e.alert_id, e.state) for e in decoded} >= {(str(t["alert_id"]), t["to_state"]) for t in transitions}

    # A restart resumes from the offsets in the store: nothing is read twice.
    again = run_processor(embedded_broker, ns, store, tmp_path)
    assert again.events == 0
    assert store.status_summary()["events_processed"] == len(records) - bad


def test_nothing_on_a_topic_crashes_it_and_bad_events_are_dead_lettered(embedded_broker, small_inventory, start_ms,
                                                                         tmp_path):
    ns = namespace(embedded_broker, "dlq")
    good = CameraHealth(asset_id="CAM-001", ts=start_ms, state="online")
    lamp = LampTelemetry(asset_id="LP-1", ts=start_ms, power_state="on", level=1.0, power_w=1.0, energy_wh=1.0)
    future = CameraHealth(asset_id="CAM-002", ts=start_ms + 5 * 86_400_000, state="online")
    bad = [
        ("cameras.health", b"CAM-9", b"\x00\xffnot json", "malformed JSON"),
        ("cameras.health", b"CAM-9", None, "empty message"),
        ("cameras.health", b"LP-1", encode(lamp), "does not belong on topic"),
        ("cameras.health", b"X", b'{"kind": "unicorn.sighting", "asset_id": "X", "ts": 1}', "unknown event kind"),
        ("cameras.health", b"CAM-002", encode(future), "in the future"),
        ("cameras.health", b"CAM-9", b'{"kind": "camera.health", "asset_id": "CAM-9", "ts": 1750000000000, '
                                     b'"state": "exploded"}', "Invalid enum value"),
    ]
    producer = make_producer(embedded_broker.bootstrap)
    for feed, key, value, _ in bad:
        producer.send(f"{ns}.{feed}", value=value, key=key)
    producer.send(f"{ns}.cameras.health", value=encode(good), key=b"CAM-001")
    producer.flush()
    producer.close()
    store = Store.from_url(f"sqlite:///{tmp_path / 'vigie.db'}")
    load_inventory_into(store, small_inventory)
    stats = run_processor(embedded_broker, ns, store, tmp_path)
    assert stats.events == len(bad) + 1 and stats.dead_letters == len(bad)
    assert store.asset_state("CAM-001")["state"] == "online"
    # the inventory is watched from the first valid event's time, never from a dead letter's place in the merge
    assert store.status_summary()["open_alerts"] == 0
    letters = read_topic(embedded_broker.bootstrap, f"{ns}.deadletter.events", len(bad))
    assert len(letters) == len(bad)
    wrapped = sorted((orjson.loads(m.value) for m in letters), key=lambda w: w["offset"])
    originals = {base64.b64decode(w["value_b64"]) if w["value_b64"] else None for w in wrapped}
    assert originals == {value for _, _, value, _ in bad}
    for w, m in zip(wrapped, sorted(letters, key=lambda m: orjson.loads(m.value)["offset"])):
        assert w["topic"] == f"{ns}.cameras.health" and w["reason"]
        assert dict(m.headers)["reason"].decode() == w["reason"][:500]
    reasons = " | ".join(w["reason"] for w in wrapped)
    for *_, expected in bad:
        assert expected in reasons
    assert store.status_summary()["dead_letters"] == len(bad)


def test_an_event_the_engine_fails_on_is_dead_lettered_and_the_others_are_applied(embedded_broker, start_ms,
                                                                                   tmp_path, engine_bug_on_cam_002,
                                                                                   caplog):
    ns = namespace(embedded_broker, "bug")
    events = [CameraHealth(asset_id=a, ts=start_ms + i, state="online")
              for i, a in enumerate(("CAM-001", "CAM-002", "CAM-003"))]
    produce(embedded_broker.bootstrap, ns, [("cameras.health", e.asset_id.encode(), encode(e)) for e in events])
    store = Store.from_url(f"sqlite:///{tmp_path / 'vigie.db'}")
    with caplog.at_level(logging.ERROR, logger="streams.processor"):
        stats = run_processor(embedded_broker, ns, store, tmp_path)
    assert stats.events == 3 and stats.dead_letters == 1
    assert engine_bug_on_cam_002 in caplog.text
    assert store.asset_state("CAM-001")["state"] == store.asset_state("CAM-003")["state"] == "online"
    assert store.asset_state("CAM-002") is None
    health = {h["topic"]: h for h in store.stream_health()}[f"{ns}.cameras.health"]
    assert health["events"] == 2 and health["dead_letters"] == 1
    (letter,) = read_topic(embedded_broker.bootstrap, f"{ns}.deadletter.events", 1)
    wrapped = orjson.loads(letter.value)
    assert wrapped["reason"].startswith(f"processing error: RuntimeError('{engine_bug_on_cam_002}')")
    assert Validator().decode(base64.b64decode(wrapped["value_b64"])) == events[1]


def test_the_fetcher_process_gives_the_same_store(embedded_broker, small_inventory, start_ms, tmp_path):
    ns = namespace(embedded_broker, "fetch")
    records = synthetic_stream(small_inventory, start_ms=start_ms, duration_s=3600, invalid_every=50)
    produce(embedded_broker.bootstrap, ns, records)
    stores = []
    for mode in (False, True):
        store = Store.from_url(f"sqlite:///{tmp_path / f'vigie-{mode}.db'}")
        load_inventory_into(store, small_inventory)
        stats = run_processor(embedded_broker, ns, store, tmp_path, fetch_process=mode,
                              group_id=f"{group_id_for(ns)}-{mode}")
        assert stats.events == len(records)
        assert stats.busy_cpu_s > 0  # CPU from the first records on, for the benchmark's cpu_* figures
        assert (stats.fetcher_cpu_s is not None) == mode
        stores.append(store)
    inline, child = stores
    assert inline.status_summary()["events_processed"] == child.status_summary()["events_processed"]
    assert inline.energy_totals() == child.energy_totals()
    key = lambda a: (a["rule"], a["asset_id"], a["state"], a["count"])  # noqa: E731
    assert sorted(map(key, inline.alerts())) == sorted(map(key, child.alerts()))


def test_a_stored_offset_beyond_the_log_is_reset_with_a_warning(embedded_broker, start_ms, tmp_path, caplog):
    ns = namespace(embedded_broker, "reset")
    produce(embedded_broker.bootstrap, ns, [
        ("cameras.health", b"CAM-001", encode(CameraHealth(asset_id="CAM-001", ts=start_ms, state="online")))])
    store = Store.from_url(f"sqlite:///{tmp_path / 'vigie.db'}")
    from streams.store import BatchWrite

    # As if the store had read far more than this (restarted, in-memory) broker now holds.
    store.apply_batch(BatchWrite(group_id=group_id_for(ns), offsets={
        (f"{ns}.cameras.health", p): 1000 for p in range(3)}))
    with caplog.at_level(logging.WARNING, logger="streams.processor"):
        stats = run_processor(embedded_broker, ns, store, tmp_path)
    assert stats.events == 1
    assert "beyond the end of the log" in caplog.text
    assert store.asset_state("CAM-001") is not None


def test_silence_is_detected_by_the_wall_clock_when_nothing_arrives(embedded_broker, tmp_path):
    import copy

    import yaml

    from streams.rules import DEFAULT_RULES, parse_rules
    from streams.schemas import now_ms

    data = copy.deepcopy(yaml.safe_load(DEFAULT_RULES.read_text()))
    data["feed_down"]["silent_after_s"] = {"cameras.health": 2}
    rules = parse_rules(data, "test rules")
    ns = namespace(embedded_broker, "idle")
    produce(embedded_broker.bootstrap, ns, [
        ("cameras.health", b"CAM-001", encode(CameraHealth(asset_id="CAM-001", ts=now_ms(), state="online")))])
    store = Store.from_url(f"sqlite:///{tmp_path / 'vigie.db'}")
    settings = Settings(kafka_bootstrap=embedded_broker.bootstrap, data_dir=tmp_path, namespace=ns)
    proc = Processor(settings, store=store, rules=rules, idle_tick_s=0.5)
    try:
        proc.run(max_seconds=12, should_stop=lambda: bool(store.open_alerts(rule="feed_down")))
    finally:
        proc.close()
    [down] = store.open_alerts(rule="feed_down")
    assert down["asset_id"] == f"{ns}.cameras.health" and down["severity"] == "critical"


def test_a_reporters_contact_is_stored_apart_from_the_report(embedded_broker, start_ms, tmp_path):
    from streams.privacy import contact_of
    from streams.schemas import IncidentReport

    ns = namespace(embedded_broker, "contact")
    with_contact = IncidentReport(asset_id="RPT-1", ts=start_ms, category="street_light_out", lat=47.32, lon=5.04,
                                  source="app", description="Rue sombre", contact_name="Jeanne Martin",
                                  contact_email="jeanne@example.org", contact_phone="03 80 12 34 56")
    without = IncidentReport(asset_id="RPT-2", ts=start_ms, category="pothole", lat=47.33, lon=5.05, source="agent")
    produce(embedded_broker.bootstrap, ns, [("incidents.reports", b"RPT-1", encode(with_contact)),
                                            ("incidents.reports", b"RPT-2", encode(without))])
    store = Store.from_url(f"sqlite:///{tmp_path / 'vigie.db'}")
    run_processor(embedded_broker, ns, store, tmp_path)
    reports = {r["report_id"]: r for r in store.reports()}
    assert set(reports) == {"RPT-1", "RPT-2"}
    text = str(reports) + str(store.audit())
    assert "jeanne" not in text.lower() and "80 12 34" not in text  # not on the report, not in the audit log
    contact = contact_of(store.engine, "RPT-1")
    assert (contact["name"], contact["email"], contact["phone"]) == ("Jeanne Martin", "jeanne@example.org",
                                                                     "03 80 12 34 56")
    assert contact_of(store.engine, "RPT-2") is None
