"""The trainer page: a trainer starts a session, pauses it, jumps back, exports the debrief and stops it.

The browser test runs the dashboard over a temporary data folder on the embedded broker, with
the cabinet-outage scenario pre-rendered over one hour (about a second of work). Screenshots
go to test-artifacts/trainer/.
"""

from __future__ import annotations

import csv
import json
import time
import types
from pathlib import Path

import pytest

from dashboard.i18n import t
from dashboard.training import DEBRIEF_PREFIX, TrainingDesk, parse_speed, room_url
from layouts.components.training_views import (
    catalog_cards, catalog_options, clock, debrief_view, recording_line, session_rows, session_status,
)
from streams.config import Settings
from streams.debrief import build_debrief
from streams.training_state import pid_alive

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "trainer"
T0 = 1_764_000_000_000


def _debrief():
    """A small debrief: one alert acknowledged on time, one missed."""
    alerts = [
        {"id": 1, "rule": "lamp_failure", "asset_id": "LP-1", "title": "Lamp failure", "severity": "major",
         "priority": "P2", "opened_ts": T0, "state": "acknowledged", "parent_id": None},
        {"id": 2, "rule": "cabinet_supply_loss", "asset_id": "CAB-1", "title": "Cabinet supply loss",
         "severity": "critical", "priority": "P1", "opened_ts": T0 + 1000, "state": "open", "parent_id": None},
    ]
    transitions = [{"id": 1, "alert_id": 1, "ts": T0 + 120_000, "action": "acknowledge", "actor": "alice"}]
    return build_debrief("drill", alerts, transitions, delays_s={"P1": 7200.0, "P2": 14400.0},
                         now_ms=T0 + 3_600_000)


def test_clock_and_speed():
    assert clock(3725.4) == "1:02:05" and clock(None) == "—" and clock(-3) == "0:00:00"
    assert parse_speed("max") is None and parse_speed("10") == 10.0 and parse_speed(None) is None
    assert room_url("drill") == "/salle/drill/"


def test_debrief_view_shows_scores_targets_and_exports(texts):
    d = _debrief()
    view = debrief_view(d.to_dict(), "fr")
    text = " ".join(texts(view))
    assert f"{d.score}/100" in text
    assert "alice" in text and t("tr.outcome.missed", "fr") in text and t("tr.outcome.handled", "fr") in text
    assert "2 min / 15 min" in text  # acknowledged in 2 min against a 15 min target
    links = [c for c in view[0].children[-1].children if getattr(c, "href", None)]
    assert [a.href for a in links] == [f"{DEBRIEF_PREFIX}/drill/{f}"
                                       for f in ("debrief.json", "alerts.csv", "trainees.csv")]
    # the missed alert is listed first: it is what the debrief is about
    table = view[4]
    first = table.children[1].children[0]
    assert first.className == "tr-row-missed"
    english = " ".join(texts(debrief_view(d.to_dict(), "en")))
    assert "Room score" in english and "missed" in english


def test_session_rows_status_and_catalog(texts):
    sessions = [{"name": "drill", "status": "paused", "position_s": 900.0, "duration_s": 3600.0, "fraction": 0.25,
                 "speed": 10.0, "loop": True, "title": "Panne d'armoires", "error": None}]
    rows = session_rows(sessions, "drill", "fr")
    assert rows[0].className == "tr-session selected"
    assert "0:15:00 / 1:00:00" in " ".join(texts(rows))
    status = " ".join(texts(session_status(sessions[0], "en")))
    assert "Paused" in status and "speed 10×" in status and "looping" in status
    assert t("tr.no_sessions", "en") in texts(session_rows([], None, "en"))
    catalog = [{"kind": "scenario", "name": "storm-night", "title": "Nuit de tempête / Storm night",
                "brief_fr": "Coupez…", "brief_en": "Cut…", "folder": None}]
    assert catalog_options(catalog, "en") == [{"label": "Scenario · Nuit de tempête / Storm night",
                                               "value": "scenario:storm-night"}]
    assert "Cut…" in texts(catalog_cards(catalog, None, "en"))
    assert "Coupez…" in texts(catalog_cards(catalog, None, "fr"))
    line = recording_line({"state": "recording", "elapsed_s": 65, "events": 12345, "bytes": 2_500_000,
                           "folder": "20261125-190000", "error": None}, "en")
    assert line == "Recording · 20261125-190000 · 0:01:05 · 12\u202f345 events · 2.5 MB"


def test_desk_refuses_bad_starts(tmp_path):
    desk = TrainingDesk(Settings(data_dir=tmp_path))
    with pytest.raises(RuntimeError):
        desk.start("nothing")
    with pytest.raises(RuntimeError):
        desk.start("recording:../../elsewhere")
    with pytest.raises(ValueError):
        desk.start("scenario:storm-night", name="Bad Name!")
    assert {c["name"] for c in desk.catalog()} >= {"storm-night", "cabinet-outage"}


def test_session_rooms_are_routed(tmp_path, inventory, signed):
    from dashboard.app import create_app

    app = create_app(Settings(data_dir=tmp_path), inventory=inventory)
    client = signed(app, "trainer")
    assert client.get("/salle/ghost/").status_code == 404
    assert client.get("/salle/Bad%20Name/").status_code == 404
    r = client.get("/?session=drill")
    assert r.status_code == 302 and r.headers["Location"].endswith("/salle/drill/")
    assert client.get(f"{DEBRIEF_PREFIX}/ghost/debrief.json").status_code == 404
    assert client.get(f"{DEBRIEF_PREFIX}/Bad%20Name/debrief.json").status_code == 404
    assert client.get(f"{DEBRIEF_PREFIX}/ghost/state.json").status_code == 404


@pytest.fixture()
def trainer_settings(embedded_broker, tmp_path, inventory):
    """Settings on the embedded broker with the cabinet-outage scenario pre-rendered over one hour."""
    from streams.scenarios_record import render_scenario

    settings = Settings(kafka_bootstrap=embedded_broker.bootstrap, data_dir=tmp_path / "data", database_url=None)
    render_scenario("cabinet-outage", settings.data_dir / "recordings" / "cabinet-outage", inventory=inventory,
                    hours=1.0)
    return settings


def _position(page) -> float:
    return float(page.locator(".tr-status .tr-position").get_attribute("data-position"))


def _wait_status(page, status: str, timeout: float = 60_000) -> None:
    page.wait_for_selector(f".tr-status .tr-badge[data-status='{status}']", timeout=timeout)


@pytest.mark.browser
def test_trainer_drives_a_session_from_the_browser(trainer_settings, serve, page, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    kit = types.SimpleNamespace(settings=trainer_settings)
    server = serve(kit, stale_after_s=3600)
    desk = server.app.server.config["VIGIE_ROOM"].training
    try:
        with server:
            server.sign_in(page, "trainer")
            page.goto(server.url + "/formation")
            page.wait_for_selector(".tr-card[data-source='scenario:cabinet-outage']", timeout=30_000)
            assert page.locator(".trainer").is_visible() and not page.locator(".map-pane").is_visible()
            page.click(".tr-card[data-source='scenario:cabinet-outage'] .tr-pick")
            page.wait_for_selector(".tr-card.selected[data-source='scenario:cabinet-outage']", timeout=10_000)
            page.fill("#tr-name", "drill")
            page.locator("#tr-speed label", has_text="10×").click()
            page.screenshot(path=str(ARTIFACTS / "01-library.png"))
            page.click("#tr-start")
            page.wait_for_selector(".tr-session[data-session='drill']", timeout=10_000)
            _wait_status(page, "playing", 60_000)
            assert "10×" in page.locator(".tr-status .tr-status-facts").inner_text()
            page.wait_for_function("parseFloat(document.querySelector('.tr-status .tr-position')"
                                   ".dataset.position) > 5", timeout=20_000)
            page.screenshot(path=str(ARTIFACTS / "02-playing.png"))

            page.click("#tr-fwd")  # ten minutes on, so that ten back is a real jump
            page.wait_for_function("parseFloat(document.querySelector('.tr-status .tr-position')"
                                   ".dataset.position) > 600", timeout=15_000)
            page.click("#tr-pause")
            _wait_status(page, "paused", 15_000)
            page.wait_for_timeout(1200)
            paused_at = _position(page)
            page.wait_for_timeout(2000)
            assert _position(page) == pytest.approx(paused_at, abs=0.5)  # the position stopped
            assert paused_at > 600
            page.screenshot(path=str(ARTIFACTS / "03-paused.png"))

            page.click("#tr-back")
            page.wait_for_function(f"parseFloat(document.querySelector('.tr-status .tr-position')"
                                   f".dataset.position) < {paused_at - 500}", timeout=15_000)
            assert _position(page) == pytest.approx(paused_at - 600, abs=5)
            _wait_status(page, "paused", 5_000)

            page.click("#tr-debrief")
            page.wait_for_selector(".tr-debrief-head", timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "04-debrief.png"), full_page=True)
            with page.expect_download() as download:
                page.click(".tr-dl-json")
            data = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
            assert data["session"] == "drill" and "score" in data and "alerts" in data
            assert download.value.suggested_filename == "debrief-drill-debrief.json"
            with page.expect_download() as download:
                page.click(".tr-dl-alerts")
            with open(download.value.path(), newline="", encoding="utf-8") as f:
                header = next(csv.reader(f))
            assert {"alert_id", "outcome", "ack_s", "contract_delay_s"} <= set(header)

            # the session's room, served by the same server, says loudly it is a training room
            assert page.get_attribute("#tr-view-room", "href") == "/salle/drill/"
            room = browser.new_page(viewport={"width": 1920, "height": 1080}, bypass_csp=True)
            room_errors = []
            room.on("pageerror", lambda exc: room_errors.append(str(exc)))
            server.sign_in(room, "trainee")
            room.goto(server.url + "/")  # a trainee's live room is the list of the sessions running
            room.wait_for_selector(".no-access-body a.training-link", timeout=30_000)
            assert room.locator(".vigie-map").count() == 0
            room.click(".no-access-body a.training-link")
            room.wait_for_selector(".training-banner", timeout=30_000)
            assert room.url == server.url + "/salle/drill/"
            assert "FORMATION — session drill" in room.locator(".training-banner").inner_text()
            assert "header-training" in room.get_attribute(".header", "class")
            room.wait_for_selector(".vigie-map", timeout=30_000)
            room.wait_for_timeout(1500)
            room.screenshot(path=str(ARTIFACTS / "05-session-room.png"))
            assert room_errors == []
            room.close()

            # record the live room for a moment: a new recording folder with its manifest
            page.click("#tr-rec-start")
            page.wait_for_function("document.querySelector('#tr-rec-status').innerText.includes('Enregistrement')",
                                   timeout=15_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ARTIFACTS / "06-recording.png"))
            page.click("#tr-rec-stop")
            page.wait_for_function("document.querySelector('#tr-rec-status').innerText.includes('Terminé')",
                                   timeout=30_000)
            recordings = [d for d in (trainer_settings.data_dir / "recordings").iterdir() if d.name[:2] == "20"]
            assert len(recordings) == 1 and (recordings[0] / "manifest.json").exists()

            processor = desk.session("drill")["processor_pid"]
            assert pid_alive(processor)
            page.click("#tr-stop")
            _wait_status(page, "stopped", 30_000)
            page.screenshot(path=str(ARTIFACTS / "07-stopped.png"))
            deadline = time.monotonic() + 10
            while pid_alive(processor) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not pid_alive(processor)  # no child process left
            assert page.errors == []

            english = browser.new_context(viewport={"width": 1920, "height": 1080}, bypass_csp=True)
            english.add_cookies([{"name": "vigie_lang", "value": "en", "url": server.url}])
            en = english.new_page()
            server.sign_in(en, "trainer")
            en.goto(server.url + "/formation")
            en.wait_for_selector(".tr-session[data-session='drill'] .tr-badge[data-status='stopped']",
                                 timeout=30_000)
            assert "Stopped" in en.locator(".tr-session[data-session='drill']").inner_text()
            en.wait_for_timeout(500)
            en.screenshot(path=str(ARTIFACTS / "08-english.png"))
            english.close()
    finally:
        desk.stop_all()
