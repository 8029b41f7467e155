"""Every KPI formula on small fixtures computed by hand (the expected numbers are worked out in comments)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from astral import Observer
from astral.sun import sunrise, sunset
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.contract import load_contract
from streams.darkness import dark_fraction, dark_hours
from streams.kpi import KpiFrames, asset_table, compute_kpis, empty_frames, kpi_history, lighting_table
from streams.kpi_formulas import (
    availability,
    backlog,
    energy_by_month,
    energy_saving,
    forecast_ratios,
    intervention_compliance,
    it_availability,
    mean_time_to_repair,
    status,
)
from streams.kpi_periods import contract_to_date, month, months_of, parse_month, period, quarter, year

T0 = pd.Timestamp("2025-03-10 00:00", tz="UTC")
H = pd.Timedelta(hours=1)


@pytest.fixture(scope="module")
def contract():
    return load_contract()


def ts(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


# --- status ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, target, margin, higher, expected", [
    (99.5, 99.0, 0.3, True, "on_track"),
    (99.2, 99.0, 0.3, True, "at_risk"),
    (99.0, 99.0, 0.3, True, "at_risk"),
    (98.9, 99.0, 0.3, True, "breached"),
    (3.0, 5.0, 1.0, False, "on_track"),
    (4.5, 5.0, 1.0, False, "at_risk"),
    (5.5, 5.0, 1.0, False, "breached"),
    (None, 99.0, 0.3, True, "no_data"),
    (float("nan"), 99.0, 0.3, True, "no_data"),
    (12.0, None, 0.3, True, "no_target"),
])
def test_status(value, target, margin, higher, expected):
    assert status(value, target, margin, higher_is_better=higher) == expected


# --- periods -----------------------------------------------------------------------------------

def test_months_are_cut_at_paris_midnight(contract):
    jan = month(contract, 2025, 1)
    assert jan.start == pd.Timestamp("2024-12-31 23:00", tz="UTC")  # CET, UTC+1
    assert jan.end == pd.Timestamp("2025-01-31 23:00", tz="UTC")
    jul = month(contract, 2025, 7)
    assert jul.start == pd.Timestamp("2025-06-30 22:00", tz="UTC")  # CEST, UTC+2
    march = month(contract, 2025, 3)
    assert march.hours == 31 * 24 - 1  # the clocks go forward on the last Sunday of March


def test_quarter_year_and_contract_periods(contract):
    q = quarter(contract, 2025, 4)
    assert (q.label, q.start, q.end) == ("2025-Q4", pd.Timestamp("2025-09-30 22:00", tz="UTC"),
                                         pd.Timestamp("2025-12-31 23:00", tz="UTC"))
    assert [m.label for m in months_of(contract, q)] == ["2025-10", "2025-11", "2025-12"]
    first = year(contract, 2018)  # the contract starts on 1 February 2018
    assert first.start == pd.Timestamp("2018-01-31 23:00", tz="UTC")
    assert len(months_of(contract, first)) == 11
    ctd = contract_to_date(contract, 2026, 3)
    assert ctd.kind == "contract" and ctd.start == first.start
    assert ctd.end == pd.Timestamp("2026-03-31 22:00", tz="UTC")
    assert len(months_of(contract, ctd)) == 8 * 12 + 2
    assert period(contract, "quarter", dt.date(2025, 5, 17)).label == "2025-Q2"
    assert period(contract, "month", dt.date(2025, 5, 17)).label == "2025-05"
    with pytest.raises(ValueError, match="outside the contract"):
        month(contract, 2031, 1)
    with pytest.raises(ValueError, match="unknown period kind"):
        period(contract, "week", dt.date(2025, 5, 17))
    with pytest.raises(ValueError, match="expected a month like 2025-01"):
        parse_month("May 2025")
    assert parse_month("2025-05") == dt.date(2025, 5, 1)


# --- night length ------------------------------------------------------------------------------

def test_dark_fraction_matches_astral_sunrise_and_sunset():
    day = dt.date(2025, 1, 15)
    obs = Observer(latitude=47.32, longitude=5.04)
    rise = pd.Timestamp(sunrise(obs, day, tzinfo=dt.timezone.utc))
    set_ = pd.Timestamp(sunset(obs, day, tzinfo=dt.timezone.utc))
    hours = pd.date_range("2025-01-15", periods=24, freq="h", tz="UTC")
    frac = dark_fraction(hours, 47.32, 5.04)
    # The hour holding sunrise is dark until sunrise; the one holding sunset is dark after it.
    assert frac[rise.hour] == pytest.approx((rise - rise.floor("h")) / H)
    assert frac[set_.hour] == pytest.approx((set_.ceil("h") - set_) / H)
    assert frac[0] == 1.0 and frac[12] == 0.0
    night = (rise - pd.Timestamp("2025-01-15", tz="UTC")) / H + (pd.Timestamp("2025-01-16", tz="UTC") - set_) / H
    assert frac.sum() == pytest.approx(night)


def test_a_january_night_is_longer_than_a_june_night():
    jan = dark_hours(pd.Timestamp("2025-01-15", tz="UTC"), pd.Timestamp("2025-01-16", tz="UTC"), 47.32, 5.04)
    jun = dark_hours(pd.Timestamp("2025-06-21", tz="UTC"), pd.Timestamp("2025-06-22", tz="UTC"), 47.32, 5.04)
    assert 14.5 < jan.sum() < 15.5 and 7.7 < jun.sum() < 8.5
    with pytest.raises(ValueError, match="tz-aware"):
        dark_fraction(pd.date_range("2025-01-15", periods=2, freq="h"), 47.32, 5.04)


# --- energy ------------------------------------------------------------------------------------

LIGHTING = pd.DataFrame({"cabinet_id": ["C1", "C2"], "commune_code": ["A", "B"], "baseline_w": [1000.0, 500.0]})
# Three hours: fully dark, half dark, daylight; 1.5 dark hours in all.
DARK = pd.Series([1.0, 0.5, 0.0], index=pd.date_range(T0, periods=3, freq="h"))
ENERGY = pd.DataFrame({
    "cabinet_id": ["C1", "C1", "C2", "C2"],
    "hour": [ts(0), ts(1), ts(0), ts(5)],  # the last one is outside the window
    "kwh": [0.3, 0.2, 0.1, 9.0],
})


def test_energy_saving_against_night_length_baseline():
    e = energy_saving(ENERGY, LIGHTING, DARK, T0, ts(3))
    # baseline = 1.5 kW x 1.5 dark hours = 2.25 kWh; consumed 0.6 kWh; saving 1 - 0.6/2.25
    assert e.baseline_kwh == pytest.approx(2.25)
    assert e.consumed_kwh == pytest.approx(0.6)
    assert e.saving_pct == pytest.approx(100 * (1 - 0.6 / 2.25))  # 73.33 %
    # A: baseline 1.0 kW x 1.5 h = 1.5 kWh, used 0.5; B: 0.75 kWh, used 0.1
    assert e.by_commune == pytest.approx({"A": 100 * (1 - 0.5 / 1.5), "B": 100 * (1 - 0.1 / 0.75)})


def test_energy_saving_without_darkness_has_no_value():
    e = energy_saving(ENERGY, LIGHTING, DARK, ts(2), ts(3))
    assert e.baseline_kwh == 0.0 and e.saving_pct is None


def test_energy_by_month_bins_readings_and_darkness():
    edges = [T0, ts(1), ts(3)]
    table = energy_by_month(ENERGY, LIGHTING, DARK, edges, ["first", "second"])
    # first: 0.4 kWh against 1.5 kW x 1 h; second: 0.2 kWh against 1.5 kW x 0.5 h
    assert table["consumed_kwh"].tolist() == pytest.approx([0.4, 0.2])
    assert table["baseline_kwh"].tolist() == pytest.approx([1.5, 0.75])
    assert table["ratio"].tolist() == pytest.approx([0.4 / 1.5, 0.2 / 0.75])


def test_forecast_is_seasonal_naive_plus_year_over_year_change():
    months = [str(p) for p in pd.period_range("2024-01", "2025-12", freq="M")]
    # A seasonal ratio (0.30 in winter .. 0.20 in summer) that drops by 0.01 from one year to the next.
    seasonal = {m: 0.25 + 0.05 * np.cos(2 * np.pi * (int(m[5:]) - 1) / 12) for m in months}
    history = pd.Series({m: seasonal[m] - (0.01 if m.startswith("2025") else 0.0) for m in months})
    out = forecast_ratios(history, ["2026-01", "2026-07", "2027-01"])
    # year-over-year change of the last three months = -0.01, applied to the same month a year earlier
    assert out["2026-01"] == pytest.approx(history["2025-01"] - 0.01)
    assert out["2026-07"] == pytest.approx(history["2025-07"] - 0.01)
    # two years ahead: the forecast of a year earlier, held
    assert out["2027-01"] == pytest.approx(out["2026-01"])


def test_forecast_with_less_than_a_year_uses_the_recent_mean():
    history = pd.Series({"2025-01": 0.3, "2025-02": 0.4, "2025-03": 0.5, "2025-04": 0.6})
    out = forecast_ratios(history, ["2025-05", "2026-02"])
    assert out["2025-05"] == pytest.approx(0.5)  # mean of Feb, Mar, Apr
    assert out["2026-02"] == pytest.approx(0.4)  # February 2025 is known: seasonal naive, no change known
    assert forecast_ratios(pd.Series(dtype=float), ["2025-05"]).isna().all()


# --- interventions -----------------------------------------------------------------------------

DELAYS = {"P1": 2.0, "P2": 24.0, "P3": 72.0}
INCIDENTS = pd.DataFrame({
    "id": [1, 2, 3, 4, 5, 6],
    "priority": ["P1", "P1", "P2", "P3", "P2", None],
    "domain": ["traffic", "traffic", "lighting", "lighting", "incidents", "weather"],
    "commune_code": ["A", "A", "B", "B", "A", "A"],
    "opened": [ts(10), ts(10), ts(0), ts(10), ts(1), ts(0)],
    # 1: safe after 1.5 h (on time); 2: after 2.5 h (late); 3: never (late once due);
    # 4: due at 82 h, outside the window; 5: safe exactly at its due time (on time); 6: no priority
    "safe": [ts(11.5), ts(12.5), pd.NaT, ts(20), ts(25), ts(1)],
    "resolved": [ts(12), ts(13), pd.NaT, ts(21), ts(26), ts(2)],
})


def test_compliance_counts_incidents_due_in_the_window():
    c = intervention_compliance(INCIDENTS, DELAYS, T0, ts(48))
    # due in [0, 48 h): incidents 1, 2 (12 h), 3 (24 h), 5 (25 h); on time: 1 and 5
    assert (c.due, c.on_time) == (4, 2)
    assert c.pct == pytest.approx(50.0)
    assert c.late_by_priority == {"P1": 1, "P2": 1, "P3": 0}
    assert c.by_priority == pytest.approx({"P1": 50.0, "P2": 50.0})
    assert c.by_domain == pytest.approx({"traffic": 50.0, "lighting": 0.0, "incidents": 100.0})
    assert c.by_commune == pytest.approx({"A": 100 * 2 / 3, "B": 0.0})
    assert intervention_compliance(INCIDENTS, DELAYS, ts(100), ts(101)).pct is None


def test_backlog_at_a_moment():
    b = backlog(INCIDENTS, DELAYS, ts(12.25))
    # open at 12.25 h: 2 (resolved 13 h), 3 (never), 4 (21 h), 5 (26 h); 1 resolved at 12 h, 6 at 2 h
    assert b["open"] == 4
    # past due and not made safe at 12.25 h: only 2 (due at 12 h, made safe at 12.5 h); 3 is due at 24 h
    assert b["overdue"] == 1
    assert b["by_priority"] == {"P1": 1, "P2": 2, "P3": 1}
    assert backlog(INCIDENTS, DELAYS, ts(30))["overdue"] == 1  # incident 3, due at 24 h


def test_mean_time_to_repair():
    m = mean_time_to_repair(INCIDENTS, T0, ts(24))
    # resolved in [0, 24 h): 1 (2 h), 2 (3 h), 4 (11 h), 6 (2 h) -> 18 / 4 = 4.5 h
    assert m["hours"] == pytest.approx(4.5) and m["count"] == 4
    assert m["by_priority"] == pytest.approx({"P1": 2.5, "P3": 11.0, "none": 2.0})
    assert mean_time_to_repair(INCIDENTS, ts(100), ts(101))["hours"] is None


# --- availability ------------------------------------------------------------------------------

ASSETS = pd.DataFrame({
    "asset_id": ["S1", "S2", "S3", "CAB1", "L1", "L2"],
    "kind": ["signal", "signal", "signal", "cabinet", "light", "light"],
    "commune_code": ["X", "X", "Y", "X", "X", "X"],
    "parent_id": [None, None, None, None, "CAB1", "CAB1"],
})
STATES = pd.DataFrame({
    "asset_id": ["S1", "S2", "S2", "S3", "S1", "CAB1", "L1"],
    "state": ["fault", "maintenance", "fault", "dark", "normal", "fault", "offline"],
    "start": [ts(1), ts(4), ts(5), ts(8), ts(0), ts(0), ts(1)],
    "end": [ts(3), ts(6), ts(7), pd.NaT, ts(1), ts(2), ts(3)],
})
OUTAGES = pd.DataFrame({"feed": ["traffic.status", "lighting.telemetry"], "start": [ts(2), ts(9)],
                        "end": [ts(2.5), ts(9.5)]})
FAULT = ("fault", "offline", "dark")
MAINT = ("maintenance",)


def test_availability_excludes_maintenance_and_feed_outages():
    a = availability(STATES, ASSETS, OUTAGES, kinds=["signal"], feeds=["traffic.status"], fault_states=FAULT,
                     maintenance_states=MAINT, start=T0, end=ts(10))
    # observed per device: 10 h - 0.5 h of feed outage = 9.5 h
    # S1: fault 1-3 h minus the outage 2-2.5 h = 1.5 h; S2: fault 5-7 h minus 1 h under maintenance = 1 h,
    #     maintenance 4-6 h = 2 h; S3: dark from 8 h, still going = 2 h ("normal" does not count)
    # X: 1 - 2.5 / (2 x 9.5 - 2) = 85.29 %; Y: 1 - 2 / 9.5 = 78.95 %; all: 1 - 4.5 / 26.5 = 83.02 %
    assert a.by_commune == pytest.approx({"X": 100 * (1 - 2.5 / 17), "Y": 100 * (1 - 2 / 9.5)})
    assert a.pct == pytest.approx(100 * (1 - 4.5 / 26.5))
    assert (a.fault_h, a.maintenance_h, a.accountable_h, a.feed_outage_h) == pytest.approx((4.5, 2.0, 26.5, 0.5))


def test_a_light_point_is_down_while_its_cabinet_is():
    a = availability(STATES, ASSETS, OUTAGES, kinds=["light"], feeds=["lighting.telemetry"], fault_states=FAULT,
                     maintenance_states=MAINT, start=T0, end=ts(10))
    # L1: cabinet 0-2 h united with its own 1-3 h = 3 h; L2: cabinet 0-2 h = 2 h; outage 9-9.5 h
    # 1 - 5 / (2 x 9.5) = 73.68 %
    assert a.pct == pytest.approx(100 * (1 - 5 / 19))


def test_availability_window_clips_intervals():
    a = availability(STATES, ASSETS, OUTAGES, kinds=["signal"], feeds=["traffic.status"], fault_states=FAULT,
                     maintenance_states=MAINT, start=ts(2), end=ts(6))
    # [2, 6): outage 0.5 h -> 3.5 h observed each; S1 fault 2.5-3 = 0.5 h; S2 maintenance 4-6 = 2 h,
    # fault 5-6 all under maintenance = 0; S3 nothing. 1 - 0.5 / (3 x 3.5 - 2)
    assert a.pct == pytest.approx(100 * (1 - 0.5 / 8.5))


def test_it_availability_unites_overlapping_outages_per_feed():
    outages = pd.DataFrame({"feed": ["a", "a", "c"], "start": [ts(1), ts(1.5), ts(0)], "end": [ts(2), ts(3), ts(10)]})
    value, by_feed = it_availability(outages, ["a", "b"], T0, ts(10))
    # a: down 1-3 h = 2 h of 10 -> 80 %; b: never; c is not a contract feed
    assert by_feed == pytest.approx({"a": 80.0, "b": 100.0})
    assert value == pytest.approx(90.0)
    ongoing = pd.DataFrame({"feed": ["a"], "start": [ts(8)], "end": [pd.NaT]})
    assert it_availability(ongoing, ["a"], T0, ts(10))[0] == pytest.approx(80.0)


# --- compute_kpis ------------------------------------------------------------------------------

def _frames(contract) -> KpiFrames:
    """January 2025 in a tiny city: one cabinet, two lamps, one signal; everything worked out below."""
    jan = month(contract, 2025, 1)
    as_of = jan.end + pd.Timedelta(days=3)
    hours = pd.date_range(jan.start, as_of, freq="h", inclusive="left")
    dark = dark_fraction(hours, contract.lat, contract.lon)
    inv = pd.DataFrame({
        "asset_id": ["CAB1", "L1", "L2", "S1"], "kind": ["cabinet", "light", "light", "signal"],
        "commune_code": ["21231", "21231", "21231", "21166"], "cabinet_id": [None, "CAB1", "CAB1", None],
        "baseline_w": [200.0, 100.0, 100.0, 0.0], "lamps_total": [2, 0, 0, 0],
    })
    # The LED lamps draw 30 % of the baseline all night: a 70 % saving.
    energy = pd.DataFrame({"cabinet_id": "CAB1", "hour": hours, "kwh": 0.2 * 0.3 * dark})
    signal_down = pd.DataFrame({"asset_id": ["S1"], "state": ["fault"], "start": [jan.start + 20 * H],
                                "end": [jan.start + 20 * H + pd.Timedelta(hours=7.44)]})  # 1 % of 744 h
    opened = jan.start + pd.Timedelta(days=3)
    incidents = pd.DataFrame({
        "id": [1, 2, 3, 4], "priority": ["P1", "P1", "P2", "P3"], "domain": ["traffic"] * 2 + ["lighting"] * 2,
        "commune_code": ["21166", "21166", "21231", "21231"], "opened": [opened] * 4,
        "safe": [opened + 3 * H, opened + H, opened + 2 * H, opened + 5 * H],  # the first is late
        "resolved": [opened + 4 * H, opened + 2 * H, opened + 3 * H, opened + 6 * H],
    })
    outages = pd.DataFrame({"feed": ["traffic.status"], "start": [jan.start], "end": [jan.start + 14.88 * H]})
    return KpiFrames(as_of=as_of, assets=asset_table(inv), lighting=lighting_table(inv),
                     energy=energy, states=signal_down, outages=outages, incidents=incidents)


def test_compute_kpis_on_a_hand_made_month(contract):
    jan = month(contract, 2025, 1)
    results = {r.key: r for r in compute_kpis(_frames(contract), contract, jan)}
    assert list(results) == ["energy_saving", "interventions_on_time", "it_availability", "availability_lighting",
                             "availability_traffic_signals", "availability_cameras", "backlog", "mttr", "penalties"]
    energy = results["energy_saving"]
    assert energy.value == pytest.approx(70.0)
    assert energy.target == 64.0 and energy.status == "on_track"  # 2025 trajectory: 64 %, margin 3
    assert energy.by_commune == pytest.approx({"21231": 70.0})
    assert energy.details["forecast_year_end_pct"] == pytest.approx(70.0)
    inter = results["interventions_on_time"]
    assert inter.value == pytest.approx(75.0) and inter.status == "breached"  # 3 of 4
    assert inter.penalty_eur == 500.0  # one late P1
    assert inter.by_family == pytest.approx({"traffic": 50.0, "lighting": 100.0})
    it = results["it_availability"]
    # traffic.status down 14.88 h of 744 h = 2 %; the other four feeds up: (98 + 4 x 100) / 5 = 99.6 %
    assert it.value == pytest.approx(99.6) and it.status == "on_track"
    sig = results["availability_traffic_signals"]
    # 7.44 h of fault over 744 - 14.88 h observed: 1 - 7.44 / 729.12 = 98.98 %, below 99 % by 0.0204 points
    assert sig.value == pytest.approx(100 * (1 - 7.44 / 729.12))
    assert sig.status == "breached"
    assert sig.penalty_eur == pytest.approx((99 - sig.value) * 4000)
    assert results["availability_lighting"].value == pytest.approx(100.0)
    assert results["availability_cameras"].value is None and results["availability_cameras"].status == "no_data"
    assert results["backlog"].value == 0.0
    assert results["mttr"].value == pytest.approx((4 + 2 + 3 + 6) / 4)
    pen = results["penalties"]
    assert pen.value == pytest.approx(500.0 + sig.penalty_eur)
    json.dumps([r.to_dict() for r in results.values()])  # JSON-ready


def test_penalties_are_capped_each_month(contract):
    capped = dataclasses.replace(contract, monthly_cap_eur=300.0)
    pen = {r.key: r for r in compute_kpis(_frames(contract), capped, month(contract, 2025, 1))}["penalties"]
    assert pen.value == 300.0
    assert pen.details["uncapped_eur"] > 500.0


def test_history_gives_one_row_per_month_with_the_year_target(contract):
    frames = _frames(contract)
    hist = kpi_history(frames, contract, quarter(contract, 2025, 1))
    assert list(hist.index) == ["2025-01", "2025-02"]  # data end on 3 February
    assert hist.loc["2025-01", "energy_saving"] == pytest.approx(70.0)
    assert hist.loc["2025-01", "energy_target"] == 64.0


def test_measured_from_the_first_fact_not_the_contract_start(contract):
    results = {r.key: r for r in compute_kpis(_frames(contract), contract, contract_to_date(contract, 2025, 1))}
    # Same numbers as January alone: nothing was recorded before.
    assert results["energy_saving"].value == pytest.approx(70.0)
    assert results["interventions_on_time"].value == pytest.approx(75.0)
    assert results["it_availability"].value == pytest.approx(99.6)


def test_empty_frames_give_no_data(contract):
    results = compute_kpis(empty_frames(pd.Timestamp("2025-02-01", tz="UTC")), contract, month(contract, 2025, 1))
    assert {r.key: r.status for r in results}["energy_saving"] == "no_data"
    with pytest.raises(ValueError, match="lacks column"):
        KpiFrames(as_of=T0, assets=pd.DataFrame(), lighting=LIGHTING, energy=ENERGY, states=STATES, outages=OUTAGES,
                  incidents=INCIDENTS)


# --- availability against a minute-by-minute count -----------------------------------------------

_interval = st.tuples(st.sampled_from(["CAB1", "L1", "L2", "S1"]), st.sampled_from(["fault", "maintenance", "on"]),
                      st.integers(0, 120), st.integers(1, 60))


@settings(max_examples=60, deadline=None)
@given(intervals=st.lists(_interval, max_size=12), outages=st.lists(st.tuples(st.integers(0, 120), st.integers(1, 40)),
                                                                   max_size=3))
def test_availability_equals_a_minute_by_minute_count(intervals, outages):
    minutes = 120
    assets = ASSETS[ASSETS["asset_id"].isin(["CAB1", "L1", "L2"])]
    states = pd.DataFrame({
        "asset_id": [a for a, *_ in intervals], "state": [s for _, s, *_ in intervals],
        "start": [T0 + pd.Timedelta(minutes=b) for *_, b, _ in intervals],
        "end": [T0 + pd.Timedelta(minutes=b + n) for *_, b, n in intervals],
    })
    feed = pd.DataFrame({"feed": "lighting.telemetry", "start": [T0 + pd.Timedelta(minutes=b) for b, _ in outages],
                         "end": [T0 + pd.Timedelta(minutes=b + n) for b, n in outages]})
    got = availability(states, assets, feed, kinds=["light"], feeds=["lighting.telemetry"], fault_states=["fault"],
                       maintenance_states=["maintenance"], start=T0, end=T0 + pd.Timedelta(minutes=minutes))
    down = np.zeros(minutes, dtype=bool)
    for b, n in outages:
        down[b:b + n] = True
    fault = account = 0
    for lamp in ("L1", "L2"):
        mine = [(s, b, n) for a, s, b, n in intervals if a in (lamp, "CAB1")]
        for m in range(minutes):
            if down[m]:
                continue
            if any(s == "maintenance" and b <= m < b + n for s, b, n in mine):
                continue
            account += 1
            fault += any(s == "fault" and b <= m < b + n for s, b, n in mine)
    if account == 0:
        assert got.pct is None
    else:
        assert got.pct == pytest.approx(100.0 * (1 - fault / account))
        assert got.fault_h == pytest.approx(fault / 60.0)
        assert got.accountable_h == pytest.approx(account / 60.0)
