"""The operator room in headless Chromium: layers and markers, live updates, acknowledging, the stale banner.

Each test starts the Dash server on a free port over a store it prepares, drives Debian's Chromium
with Playwright, and saves screenshots under test-artifacts/dashboard/ for a human to look at.
"""

from __future__ import annotations

import re
import threading
import time

import pytest

from streams.store import BatchWrite

pytestmark = pytest.mark.browser


def _fault_badges(page) -> int:
    return sum(int(x) for x in page.locator(".vigie-cluster b").all_inner_texts() if x.strip().isdigit())


def _seed(kit, inventory, n_faults: int = 40) -> dict:
    """A night with some faulty lamps, a degraded crossroads, an offline camera, frost, and a few alerts."""
    all_lights = inventory.of_kind("light")
    cam = inventory.of_kind("camera").iloc[10]
    nearest = ((all_lights.lat - cam.lat) ** 2 + (all_lights.lon - cam.lon) ** 2).idxmin()
    others = all_lights.drop(index=nearest).sample(399, random_state=7)
    lights = all_lights.loc[[nearest, *others.index]]  # the first faulty lamp stands near a camera
    rows = [(a, "light", "on", ["lamp_failure"]) for a in lights.asset_id[:n_faults]]
    rows += [(a, "light", "on", []) for a in lights.asset_id[n_faults:]]
    signals = inventory.of_kind("signal").asset_id.tolist()
    rows += [(signals[0], "signal", "flashing", ["crossroads_degraded"])]
    rows += [(s, "signal", "normal", []) for s in signals[1:]]
    cameras = inventory.of_kind("camera").asset_id.tolist()
    rows += [(cameras[0], "camera", "offline", ["camera_fault"])] + [(c, "camera", "online", []) for c in cameras[1:]]
    stations = inventory.of_kind("weather").asset_id.tolist()
    weather = {w: {"temperature_c": -1.5 + i * 0.5, "road_temperature_c": -2.0 + i * 0.5, "gust_ms": 8.0,
                   "precipitation_mm_h": 0.0} for i, w in enumerate(stations)}
    rows += [(w, "weather", "ok", ["road_frost"] if weather[w]["road_temperature_c"] < 0 else []) for w in stations]
    kit.states(rows, weather)
    faulty = lights.iloc[:6]
    specs = []
    for i, lamp in enumerate(faulty.itertuples()):
        specs.append({"asset_id": lamp.asset_id, "severity": ("critical", "major", "minor")[i % 3],
                      "title": f"Panne lampe {lamp.name}", "lat": lamp.lat, "lon": lamp.lon,
                      "commune_code": lamp.commune_code, "due_in_s": (900, 5400, -120, 20000, 3000, 600)[i]})
    alert_ids = kit.alerts(specs)
    child = lights.iloc[6]  # absorbed by the first critical alert (topology): not a row of its own
    kit.alerts([{"asset_id": child.asset_id, "parent_id": alert_ids[0], "lat": child.lat, "lon": child.lon}])
    now = int(time.time() * 1000)
    first = faulty.iloc[0].asset_id
    kit.store.apply_batch(BatchWrite(group_id="test", intervals=[
        {"asset_id": first, "start_ts": now - 20 * 3600_000, "end_ts": now - 9 * 3600_000, "state": "off"},
        {"asset_id": first, "start_ts": now - 9 * 3600_000, "end_ts": now - 3 * 3600_000, "state": "on"},
        {"asset_id": first, "start_ts": now - 3 * 3600_000, "end_ts": now - 2 * 3600_000, "state": "offline"}],
        asset_rows=[{"asset_id": first, "kind": "light", "state": "fault", "attributes": {}, "faults": ["lamp_failure"],
                     "last_changed": now - 2 * 3600_000, "last_updated": now, "last_seen": now}]))  # in fault since
    report_at = lights.iloc[7]
    kit.store.apply_batch(BatchWrite(group_id="test", reports=[{
        "report_id": "OD-2026-0001", "category": "street_light_out", "source": "app", "status": "open",
        "lat": report_at.lat + 0.0002, "lon": report_at.lon, "description": "Rue sombre depuis hier soir",
        "address": "12 rue de la Liberté", "requested_ts": now - 1800_000, "updated_ts": now, "alert_id": None,
        "asset_ref": report_at.asset_id, "fused": False}]))
    kit.heartbeat()
    kit.heartbeat("live.traffic.status", 2.0)
    return {"lights": lights, "alert_ids": alert_ids, "faulty": faulty}


def _open(page, server, role="operator", name=None):
    server.sign_in(page, role, name)
    page.goto(server.url)
    page.wait_for_selector(".vigie-cluster", timeout=30_000)
    page.wait_for_selector(".ag-row", timeout=15_000)


def test_page_loads_with_its_layers_and_live_markers(store_kit, serve, page, inventory, artifacts, wait):
    seeded = _seed(store_kit, inventory)
    with serve(store_kit, stale_after_s=3600) as server:
        started = time.monotonic()
        _open(page, server)
        first_render = time.monotonic() - started
        # faults arrive through the hideout: clusters turn red and carry a fault count
        assert wait(lambda: page.locator(".vigie-cluster-2").count() > 0), "no cluster coloured by a fault"
        assert wait(lambda: _fault_badges(page) >= 30), _fault_badges(page)
        page.locator(".leaflet-control-layers").hover()
        for label in ("Communes", "Points lumineux", "Lampes en défaut", "Armoires", "Carrefours à feux", "Caméras",
                      "Stations météo", "Bornes d'accès", "Signalements citoyens", "Alertes"):
            assert page.locator(".leaflet-control-layers-overlays label", has_text=label).count() >= 1, label
        page.mouse.move(300, 900)
        assert page.locator(".vigie-map .vigie-signal").count() == 113
        assert page.locator(".vigie-map .vigie-camera").count() == 269
        assert page.locator(".vigie-map .vigie-signal.vigie-s1").count() == 1
        assert page.locator(".vigie-map .vigie-camera.vigie-s2").count() == 1
        assert wait(lambda: "°" in page.locator(".vigie-weather .wx-air").first.inner_text()
                    and "–" not in page.locator(".vigie-weather .wx-air").first.inner_text())
        assert page.locator(".vigie-map .vigie-alert").count() == len(seeded["alert_ids"])
        assert page.locator(".vigie-map .vigie-report").count() == 1
        assert page.locator(".ag-center-cols-container .ag-row").count() == len(seeded["alert_ids"])
        first_row = page.locator(".ag-center-cols-container .ag-row[row-index='0']")
        assert "Critique" in first_row.inner_text() and "· +1" in first_row.inner_text()
        assert page.locator(".due-overdue").count() >= 1
        assert page.locator("#stale-banner").get_attribute("class") == "banner banner-hidden"
        page.screenshot(path=str(artifacts / "01-overview.png"))

        # a new wave of faults shows within a couple of seconds, without reloading the layer
        before = _fault_badges(page)
        store_kit.states([(a, "light", "on", ["lamp_failure"]) for a in seeded["lights"].asset_id[100:160]])
        assert wait(lambda: _fault_badges(page) > before + 30, timeout=6), (before, _fault_badges(page))
        assert page.errors == []
        print(f"first_render_s={first_render:.2f}")


def test_an_alert_acknowledged_in_the_ui_is_acknowledged_in_the_store(store_kit, serve, page, inventory, artifacts,
                                                                       wait):
    seeded = _seed(store_kit, inventory)
    critical = seeded["alert_ids"][0]
    with serve(store_kit, stale_after_s=3600) as server:
        _open(page, server, name="anne")
        row = page.locator(f".ag-center-cols-container .ag-row[row-id='{critical}']")
        assert "Ouverte" in row.inner_text()
        page.locator(f".ag-pinned-left-cols-container .ag-row[row-id='{critical}'] input, "
                     f".ag-center-cols-container .ag-row[row-id='{critical}'] input").first.check()
        page.click("#action-ack")
        assert wait(lambda: store_kit.store.alert(critical)["state"] == "acknowledged", timeout=8)
        assert store_kit.store.alert(critical)["acknowledged_by"] == "anne"  # the signed-in operator, not a seat
        assert wait(lambda: "Acquittée" in row.inner_text(), timeout=6)
        assert "1 alerte" in page.locator("#action-feedback").inner_text()
        page.screenshot(path=str(artifacts / "02-acknowledged.png"))
        # resolving needs a comment: the UI says so and the store does not change
        page.click("#action-resolve")
        assert wait(lambda: "commentaire" in page.locator("#action-feedback").inner_text().lower())
        assert store_kit.store.alert(critical)["state"] == "acknowledged"
        # bulk: tick every row and acknowledge; the one already acknowledged is refused, the others change
        page.locator(".ag-header-cell input[type='checkbox']").first.check()
        page.click("#action-ack")
        assert wait(lambda: all(store_kit.store.alert(i)["state"] == "acknowledged" for i in seeded["alert_ids"]),
                    timeout=8)
        assert wait(lambda: "1 refusée(s): #" in page.locator("#action-feedback").inner_text(), timeout=5)
        assert "alerte acquittée" in page.locator("#action-feedback").inner_text()
        # the filter narrows the queue
        page.locator("#filter-severity").click()
        page.get_by_role("option", name="Majeure").click()
        assert wait(lambda: page.locator(".ag-center-cols-container .ag-row").count() == 2, timeout=6)
        page.screenshot(path=str(artifacts / "02b-bulk-and-filter.png"))


def test_selecting_an_alert_flies_to_it_and_shows_the_asset_and_cameras(store_kit, serve, page, inventory, artifacts,
                                                                         wait):
    seeded = _seed(store_kit, inventory)
    target = seeded["alert_ids"][0]
    lamp = seeded["faulty"].iloc[0]
    with serve(store_kit, stale_after_s=3600) as server:
        _open(page, server)
        page.locator(f".ag-center-cols-container .ag-row[row-id='{target}'] [col-id='title']").click()
        panel = page.locator("#asset-panel")
        assert wait(lambda: lamp["name"] in panel.inner_text(), timeout=8)
        text = panel.inner_text()
        assert "Dijon" in text or inventory.communes.set_index("code").loc[lamp.commune_code, "name"] in text
        assert "caméras à moins de 300 m" in text.lower()
        assert "alertes actives" in text.lower()
        assert "aucune caméra" not in text.lower()
        page.wait_for_selector("#asset-panel .history .main-svg", timeout=15_000)  # the 24 h state timeline
        time.sleep(2.5)  # the fly-to animation
        page.screenshot(path=str(artifacts / "03-asset-panel.png"))
        # the map zoomed in on the lamp: individual points, no longer a handful of clusters
        assert page.locator(".vigie-cluster").count() < 40
        # a citizen report on the map opens its own panel with the cameras around it
        page.locator(".vigie-map .vigie-report").first.dispatch_event("click")
        assert wait(lambda: "Rue sombre depuis hier soir" in panel.inner_text(), timeout=8)
        assert "caméras à moins de 300 m" in panel.inner_text().lower()
        page.screenshot(path=str(artifacts / "03b-citizen-report.png"))
        # clicking an alert marker on the map selects it too
        page.locator(".vigie-map .vigie-alert").first.dispatch_event("click")
        assert wait(lambda: "Point lumineux" in panel.inner_text(), timeout=8)
        page.click("text=Santé des flux")
        assert wait(lambda: "live.lighting.telemetry" in page.locator("#health-panel").inner_text(), timeout=8)
        page.screenshot(path=str(artifacts / "04-stream-health.png"))


def test_stale_banner_appears_when_data_stops(store_kit, serve, page, inventory, artifacts):
    _seed(store_kit, inventory)
    alive = threading.Event()
    alive.set()

    def processor():
        while alive.is_set():
            store_kit.heartbeat()
            time.sleep(0.5)

    beat = threading.Thread(target=processor, daemon=True)
    beat.start()
    try:
        with serve(store_kit, stale_after_s=3) as server:
            _open(page, server)
            time.sleep(2)
            assert page.locator("#stale-banner").get_attribute("class") == "banner banner-hidden"
            alive.clear()
            beat.join(2)
            page.wait_for_selector("#stale-banner.banner-stale", timeout=10_000)
            assert "DONNÉES FIGÉES" in page.locator("#stale-banner").inner_text()
            assert re.search(r"\d+ s", page.locator("#stale-banner").inner_text())
            page.screenshot(path=str(artifacts / "05-stale.png"))
            store_kit.heartbeat()  # the processor is back: the banner goes away
            page.wait_for_selector("#stale-banner.banner-hidden", state="attached", timeout=6_000)
        # the dashboard server itself is gone: the browser says so on its own
        page.wait_for_selector("#connection-banner.banner-connection", timeout=12_000)
        page.screenshot(path=str(artifacts / "05b-connection-lost.png"))
    finally:
        alive.clear()


def test_a_new_critical_alert_flashes_and_english_switch(store_kit, serve, page, inventory, artifacts):
    seeded = _seed(store_kit, inventory)
    with serve(store_kit, stale_after_s=3600) as server:
        _open(page, server)
        time.sleep(1.5)
        assert "vigie-flash" not in (page.locator("body").get_attribute("class") or "")
        lamp = seeded["lights"].iloc[200]
        store_kit.alerts([{"asset_id": lamp.asset_id, "severity": "critical", "title": "Armoire hors tension",
                           "lat": lamp.lat, "lon": lamp.lon, "due_in_s": 7000}])
        page.wait_for_function("() => document.body.classList.contains('vigie-flash')", timeout=6_000)
        page.screenshot(path=str(artifacts / "06-new-critical.png"))
        assert page.evaluate("window.vigie.sounds") == 1
        # muted: the next critical alert flashes but stays silent
        page.click("#mute-button")
        page.wait_for_selector("#mute-button.btn-muted")
        store_kit.alerts([{"asset_id": lamp.asset_id, "severity": "critical", "title": "Conflit de feux",
                           "lat": lamp.lat, "lon": lamp.lon, "due_in_s": 7000}])
        page.wait_for_function("window.vigie.alarms === 2", timeout=6_000)
        assert page.evaluate("window.vigie.sounds") == 1
        page.locator(".lang-switch label", has_text="EN").click()
        page.wait_for_selector("text=Alert queue", timeout=15_000)
        page.wait_for_selector(".ag-row", timeout=15_000)
        assert "critical" in page.locator(".sev-counts").inner_text().lower()
        page.screenshot(path=str(artifacts / "07-english.png"))
