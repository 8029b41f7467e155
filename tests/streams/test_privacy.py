"""Citizens' contact details: validated, kept apart, scrubbed from recordings, deleted after the retention period."""

from __future__ import annotations

import argparse

import msgspec
import orjson
import pytest

from connectors.open311.mapping import to_report
from streams import privacy
from streams.config import Settings
from streams.schemas import IncidentReport, InvalidEvent, Validator
from streams.store import open_store

NOW = 1_790_000_000_000
DAY = 86_400_000


def report(**contact) -> IncidentReport:
    return IncidentReport(asset_id="RPT-1", ts=NOW, category="street_light_out", lat=47.32, lon=5.04, source="app",
                          **contact)


def test_a_contact_is_optional_and_checked():
    assert report().contact is None
    full = report(contact_name="Jeanne Martin", contact_email="jeanne@example.org", contact_phone="+33 3 80 12 34 56")
    assert full.contact == {"name": "Jeanne Martin", "email": "jeanne@example.org", "phone": "+33 3 80 12 34 56"}
    validator = Validator(max_future_s=10**9)
    assert validator.decode(msgspec.json.encode(full)).contact == full.contact
    for bad in ({"contact_email": "not-an-email"}, {"contact_phone": "call me"}, {"contact_name": "x" * 201}):
        body = orjson.loads(msgspec.json.encode(report()))
        body.update(bad)
        with pytest.raises(InvalidEvent):
            validator.decode(orjson.dumps(body))


def test_open311_contact_fields_are_mapped_and_a_malformed_one_dropped():
    request = {"service_request_id": "42", "service_code": "001", "service_name": "Streetlight out",
               "lat": 47.322, "long": 5.041, "requested_datetime": "2026-09-20T10:00:00+02:00", "status": "open",
               "first_name": "Jeanne", "last_name": "Martin", "email": "jeanne@example.org", "phone": "03 80 12 34 56"}
    event = to_report(request, now_ms=NOW)
    assert event.contact == {"name": "Jeanne Martin", "email": "jeanne@example.org", "phone": "03 80 12 34 56"}
    event = to_report({**request, "email": "jeanne at home", "phone": "ask the neighbour"}, now_ms=NOW)
    assert event.contact == {"name": "Jeanne Martin", "email": None, "phone": None}


def test_contacts_are_stored_apart_replaced_and_purged_with_an_audit_row(tmp_path):
    store = open_store(Settings(data_dir=tmp_path))
    old = report(contact_email="old@example.org")
    rows = privacy.contact_rows([old, report(), msgspec.structs.replace(report(contact_phone="0380123456"),
                                                                        asset_id="RPT-2", ts=NOW - 100 * DAY)])
    assert [r["report_id"] for r in rows] == ["RPT-1", "RPT-2"]
    with store.engine.begin() as conn:
        privacy.write_contacts(conn, rows)
    with store.engine.begin() as conn:  # a newer contact for the same report replaces the older one
        privacy.write_contacts(conn, privacy.contact_rows([report(contact_email="new@example.org")]))
    assert privacy.contact_of(store.engine, "RPT-1")["email"] == "new@example.org"
    assert privacy.purge_contacts(store.engine, 90, now_ms=NOW) == 1
    assert privacy.contact_of(store.engine, "RPT-2") is None and privacy.contact_of(store.engine, "RPT-1")
    [row] = store.audit(actor="system")
    assert row["action"] == "privacy.purge" and row["detail"] == {"deleted": 1, "retention_days": 90}
    assert privacy.purge_contacts(store.engine, 90, now_ms=NOW) == 0  # nothing left: no audit row either
    assert len(store.audit(actor="system")) == 1


def test_vigie_privacy_purge(tmp_path, capsys):
    settings = Settings(data_dir=tmp_path, contact_retention_days=30)
    store = open_store(settings)
    with store.engine.begin() as conn:
        privacy.write_contacts(conn, [{"report_id": "RPT-9", "name": "A", "email": None, "phone": None,
                                       "received_ts": 1}])
    parser = argparse.ArgumentParser()
    privacy.add_arguments(parser)
    assert privacy.run(parser.parse_args(["purge"]), settings) == 0
    assert "1 contact(s) older than 30 days deleted" in capsys.readouterr().out
    assert store.audit(actor="cli")[0]["action"] == "privacy.purge"


def test_recordings_keep_no_contact():
    plain = msgspec.json.encode(report())
    assert privacy.scrub_contact(plain) is plain  # untouched, byte for byte
    with_contact = msgspec.json.encode(report(contact_name="Jeanne", contact_email="j@example.org"))
    scrubbed = orjson.loads(privacy.scrub_contact(with_contact))
    assert not any(k.startswith("contact_") for k in scrubbed)
    assert scrubbed == {k: v for k, v in orjson.loads(with_contact).items() if not k.startswith("contact_")}
    assert privacy.scrub_contact(b'{"contact_": [') == b'{"contact_": ['  # garbage stays for the validator


def test_the_simulator_leaves_made_up_contacts_on_some_citizen_reports():
    from datetime import date, time

    from connectors.dijon.inventory import build_inventory
    from connectors.dijon.sim_base import local_ms
    from connectors.dijon.simulator import Simulator

    sim = Simulator(build_inventory(42), seed=5, start_ms=local_ms(date(2025, 6, 3), time(8, 0)))
    start = local_ms(date(2025, 6, 3), time(8, 0))
    reports = [e for e in sim.advance(start + 12 * 3600 * 1000) if isinstance(e, IncidentReport)]
    assert reports
    with_contact = [r for r in reports if r.contact]
    assert all(r.source in ("citizen", "app") and r.contact_email.endswith("@example.org") for r in with_contact)
    assert 0.2 <= len(with_contact) / len(reports) <= 0.8
