"""The manager page: its numbers are the KPI engine's, its figures are pure, its export gives a PDF and CSVs.

A store is filled once by `streams.backfill` for a small part of the Dijon inventory (30 lighting
cabinets and their lamps, every crossroads and camera) over a hundred days, with the clock
pinned at the end of that history. Screenshots go to test-artifacts/manager/.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import types
from pathlib import Path

import pandas as pd
import pytest

from dashboard.data import DataSource
from dashboard.i18n import t
from layouts.components.kpi_cards import format_value, kpi_cards
from layouts.components.kpi_figures import (
    STATUS_COLOURS, commune_figure, communes_geojson, family_rows, penalties_figure, trend_figure, trend_series,
)
from layouts.manager import PERIODS
from streams.backfill import energy_chunks, generate_history
from streams.backfill_store import write_history
from streams.config import Settings
from streams.contract import load_contract
from streams.kpi import compute_kpis
from streams.kpi_periods import period
from streams.kpi_store import read_frames
from streams.store import BatchWrite, Store

END = pd.Timestamp("2026-03-15 00:00", tz="UTC")
START = END - pd.Timedelta(days=100)
MONTH = "2026-03"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "manager"


@pytest.fixture(scope="module")
def inventory(inventory):
    """The Dijon inventory cut down to 30 cabinets and their lamps (every other asset kept)."""
    assets = inventory.assets
    cabinets = assets[assets["kind"] == "cabinet"]["asset_id"].iloc[::28][:30]
    keep = (~assets["kind"].isin(["cabinet", "light"])) | assets["asset_id"].isin(cabinets) \
        | assets["cabinet_id"].isin(cabinets)
    return dataclasses.replace(inventory, assets=assets[keep].reset_index(drop=True))


@pytest.fixture(scope="module")
def contract():
    """The bundled contract."""
    return load_contract()


@pytest.fixture(scope="module")
def filled(tmp_path_factory, inventory, contract):
    """Settings of a store holding a hundred days of generated history up to END."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("kpi-store"))
    store = Store.from_url(settings.store_url)
    history = generate_history(inventory.assets, contract, START, END, seed=11)
    write_history(store, history, energy_chunks(inventory.assets, contract, START, END, seed=11))
    now = int(time.time() * 1000)
    store.apply_batch(BatchWrite(group_id="test", health=[
        {"topic": "live.lighting.telemetry", "events": 10, "rate": 1.0, "lag": 0, "last_event_ts": now,
         "dead_letters": 0}]))
    return settings


@pytest.fixture(scope="module")
def source(filled):
    """The dashboard's data source over the filled store, its clock at END."""
    return DataSource(filled.store_url, clock=lambda: END)


def _engine(settings, contract, inventory, kind: str):
    """The engine's KPIs of a period, read the way `vigie kpi`/`vigie report` read them (from the period's start)."""
    p = period(contract, kind, dt.date(2026, 3, 1))
    frames = read_frames(Store.from_url(settings.store_url), contract, inventory.assets, as_of=END, since=p.start)
    return {r.key: r for r in compute_kpis(frames, contract, p)}


@pytest.mark.parametrize("kind", PERIODS)
def test_page_numbers_equal_the_engine(kind, source, filled, contract, inventory, texts):
    page = source.kpi_page(kind, MONTH, inventory.assets)
    engine = _engine(filled, contract, inventory, kind)
    assert [r.key for r in page.results] == list(engine)
    for r in page.results:
        e = engine[r.key]
        assert r.status == e.status, r.key
        assert r.target == e.target, r.key
        assert r.penalty_eur == pytest.approx(e.penalty_eur, abs=1e-6), r.key
        if e.value is None:
            assert r.value is None, r.key
        else:
            assert r.value == pytest.approx(e.value, rel=1e-9), r.key
    # and the cards print those numbers, with the status in words
    text = " ".join(texts(kpi_cards(page, "energy_saving", "fr")))
    for r in page.results:
        assert format_value(r.value, r.unit, "fr") in text
        assert t(f"kpistatus.{r.status}", "fr") in text


def test_month_list_and_headline_come_from_the_same_numbers(source, inventory):
    assert source.kpi_months(inventory.assets) == ["2026-03", "2026-02", "2026-01", "2025-12"]
    page = source.kpi_page("month", None, inventory.assets)
    headline = {k.key: k.value for k in source.kpi_headline(inventory.assets)}
    assert headline["energy_saving"] == page.result("energy_saving").value


def test_trend_series_and_figure(source, inventory, contract):
    page = source.kpi_page("month", MONTH, inventory.assets)
    series = trend_series(page, "interventions_on_time")
    assert series.months == ["2025-12", "2026-01", "2026-02", "2026-03"]
    assert series.values == pytest.approx(list(page.history["interventions_on_time"]))
    assert set(series.targets) == {contract.interventions.compliance_target_pct}
    # the forecast runs from April to December at the mean of the last three complete months
    assert list(series.forecast) == [f"2026-{m:02d}" for m in range(4, 13)]
    assert list(series.forecast.values()) == pytest.approx([sum(series.values[:3]) / 3] * 9)
    fig = trend_figure(series, "fr")
    target, measured, forecast = fig.data
    assert forecast.line.dash == "dash" and len(forecast.x) == 1 + 9
    assert list(measured.marker.color) == [STATUS_COLOURS[s] for s in series.statuses]
    assert target.x[-1] == "déc. 2026"
    assert trend_series(page, "mttr") is None  # no monthly history: the page says so instead


def test_energy_trend_follows_the_trajectory(source, inventory, contract):
    page = source.kpi_page("year", MONTH, inventory.assets)
    series = trend_series(page, "energy_saving")
    assert series.targets == [contract.energy.target_for_year(int(m[:4])) for m in series.months]
    assert series.forecast_kind == "seasonal"


def test_commune_map_and_families(source, inventory):
    page = source.kpi_page("quarter", MONTH, inventory.assets)
    geojson = communes_geojson(inventory.communes)
    assert len(geojson["features"]) == 23
    from shapely.geometry import shape

    for feature in geojson["features"]:  # clockwise outer rings: plotly's geo maps fill the inside
        geom = shape(feature["geometry"])
        for poly in getattr(geom, "geoms", [geom]):
            assert not poly.exterior.is_ccw
    result = page.result("availability_cameras")
    fig = commune_figure(geojson, dict(result.by_commune), {"21231": "Dijon"}, target=result.target,
                         unit="%", label="cameras", lang="fr", margin=0.7)
    maps = [d for d in fig.data if d.type == "choropleth"]
    choropleth = maps[-1]
    missing = list(maps[0].locations) if len(maps) > 1 else []
    assert sorted(list(choropleth.locations) + missing) == sorted(f["properties"]["code"] for f in geojson["features"])
    assert choropleth.z[list(choropleth.locations).index("21231")] == pytest.approx(result.by_commune["21231"])
    assert fig.layout.geo.visible is False  # no base map, nothing fetched
    rows = family_rows(page, "availability_cameras", "en")
    assert [r[0] for r in rows] == ["Street lighting", "Traffic signals", "Video cameras"]
    assert rows[2][1] == pytest.approx(result.value) and rows[2][3] == result.status


def test_penalties_figure_stacks_each_month(source, inventory, contract):
    page = source.kpi_page("month", MONTH, inventory.assets)
    fig = penalties_figure(page.history, {}, contract.monthly_cap_eur, "fr")
    bars = [d for d in fig.data if d.type == "bar"]
    totals = [sum(b.y[i] for b in bars) for i in range(len(page.history))]
    assert totals == pytest.approx(list(page.history["penalties_raw"]))
    assert fig.data[-1].y[0] == contract.monthly_cap_eur


def test_export_job_writes_the_report(source, inventory, tmp_path):
    from dashboard.exports import ExportJobs

    jobs = ExportJobs(tmp_path, build=lambda m: source.kpi_page("month", m, inventory.assets),
                      communes=lambda: inventory.communes)
    assert jobs.status("../etc")["state"] == "unknown"
    job = jobs.start(MONTH)
    deadline = time.monotonic() + 60
    while jobs.status(job)["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    status = jobs.status(job)
    assert status["state"] == "done" and status["progress"] == 1.0, status
    assert jobs.path(job, status["files"]["pdf"]).read_bytes().startswith(b"%PDF")
    assert jobs.path(job, "status.json") is None  # only the report's files are served


def _cards(page) -> dict[str, dict]:
    out = {}
    for card in page.locator(".kpi-card").all():
        out[card.get_attribute("data-key")] = {"status": card.get_attribute("data-status"),
                                               "value": card.locator(".card-value").inner_text(),
                                               "badge": card.locator(".status-badge").inner_text()}
    return out


def _assert_cards_equal_engine(page, engine, lang="fr"):
    cards = _cards(page)
    assert list(cards) == list(engine)
    for key, r in engine.items():
        assert cards[key]["value"] == format_value(r.value, r.unit, lang), key
        assert cards[key]["status"] == r.status, key
        assert t(f"kpistatus.{r.status}", lang) in cards[key]["badge"], key


@pytest.mark.browser
def test_manager_page_in_the_browser(filled, serve, page, inventory, contract, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    kit = types.SimpleNamespace(settings=filled)
    month_engine = _engine(filled, contract, inventory, "month")
    quarter_engine = _engine(filled, contract, inventory, "quarter")
    with serve(kit, stale_after_s=3600, clock=lambda: END) as server:
        server.sign_in(page, "manager")
        page.goto(server.url)
        page.wait_for_selector(".vigie-map .vigie-signal", timeout=30_000)
        page.evaluate("window.__map = document.querySelector('.vigie-map')")
        page.click(".nav-manager")
        page.wait_for_selector(".kpi-card", timeout=30_000)
        assert not page.locator(".map-pane").is_visible() and page.locator(".manager").is_visible()
        assert page.url.endswith("/contrat")
        _assert_cards_equal_engine(page, month_engine)
        page.wait_for_selector("#mgr-map .choroplethlocation", state="attached", timeout=15_000)
        page.wait_for_selector("#mgr-trend .scatterlayer .trace", state="attached", timeout=15_000)
        assert "mars 2026" in page.locator("#mgr-asof").inner_text()
        page.screenshot(path=str(ARTIFACTS / "01-month.png"))

        page.locator(".period-switch label", has_text="Trimestre").click()
        page.wait_for_function("document.querySelector('#mgr-asof').innerText.includes('2026-Q1')", timeout=20_000)
        page.wait_for_timeout(300)
        _assert_cards_equal_engine(page, quarter_engine)
        page.click(".kpi-card[data-key='availability_cameras']")
        page.wait_for_selector(".kpi-card.selected[data-key='availability_cameras']", timeout=10_000)
        page.wait_for_function("document.querySelector('#mgr-drill-title').textContent.includes('Vidéo')",
                               timeout=10_000)
        page.wait_for_timeout(800)
        page.screenshot(path=str(ARTIFACTS / "02-quarter-cameras.png"))

        page.click("#mgr-export")
        page.wait_for_selector(".export-status .progress, .export-status .dl-pdf", timeout=30_000)
        progress_seen = page.locator(".export-status .progress").count() > 0
        if progress_seen:
            page.screenshot(path=str(ARTIFACTS / "03-export-progress.png"))
        page.wait_for_selector(".dl-pdf", timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "04-export-ready.png"))
        with page.expect_download() as pdf:
            page.click(".dl-pdf")
        assert Path(pdf.value.path()).read_bytes().startswith(b"%PDF")
        assert pdf.value.suggested_filename == f"vigie-contrat-{MONTH}.pdf"
        with page.expect_download() as csv:
            page.click(".dl-kpis_csv")
        table = pd.read_csv(csv.value.path(), encoding="utf-8-sig").set_index("key")
        for key, r in month_engine.items():
            if r.value is not None:
                assert table.loc[key, "value"] == pytest.approx(r.value, abs=1e-4), key

        # back to the room: the same map element, never reloaded
        page.click(".nav-operator")
        page.wait_for_selector(".map-pane", state="visible", timeout=5_000)
        assert page.evaluate("document.querySelector('.vigie-map') === window.__map")
        assert not page.locator(".manager").is_visible()
        assert page.errors == []

        english = browser.new_context(viewport={"width": 1920, "height": 1080}, bypass_csp=True)
        english.add_cookies([{"name": "vigie_lang", "value": "en", "url": server.url}])
        en = english.new_page()
        server.sign_in(en, "manager")
        en.goto(server.url + "/contrat")
        en.wait_for_selector(".kpi-card", timeout=30_000)
        _assert_cards_equal_engine(en, month_engine, "en")
        en.wait_for_selector("#mgr-map .choroplethlocation", state="attached", timeout=15_000)
        en.wait_for_timeout(500)
        en.screenshot(path=str(ARTIFACTS / "05-english.png"))
        english.close()
