"""Tests of the Dijon simulator: determinism, valid events, daily cycle, rates, faults, scenarios and commands."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, time, timedelta

import numpy as np
import pytest

from connectors.dijon.inventory import Inventory, build_inventory
from connectors.dijon.scenarios import SCENARIOS, RateFactors, Scenario, get_scenario
from connectors.dijon.sim_base import HOUR_MS, MINUTE_MS, distance_m, local_hour, local_ms, sun_times
from connectors.dijon.simulator import PROGRAMMES, Simulator
from streams.schemas import (
    BusPriority, CabinetMetering, CameraHealth, CommandRequest, IncidentReport, LampFault, LampTelemetry,
    SignalFault, SignalStatus, Validator, WeatherObservation, encode,
)

DAY = date(2025, 1, 14)  # a Tuesday in winter: long nights, frost possible
BIG = (LampTelemetry, CameraHealth, SignalStatus, CabinetMetering)
STADIUM = (47.3247, 5.0684)


def at(day: date, hour: int, minute: int = 0) -> int:
    return local_ms(day, time(hour, minute))


def subset(inv: Inventory, *, cabinets: int, cameras: int, signals: int) -> Inventory:
    """A small inventory cut from the real one: a few cabinets with their lamps, some cameras and signals."""
    a = inv.assets
    cabs = a.loc[a["kind"] == "cabinet", "asset_id"].iloc[:cabinets]
    rank = a.groupby("kind").cumcount()
    keep = (a["kind"] == "weather") | a["asset_id"].isin(cabs) | a["cabinet_id"].isin(cabs)
    keep |= ((a["kind"] == "camera") & (rank < cameras)) | ((a["kind"] == "signal") & (rank < signals))
    return Inventory(communes=inv.communes, assets=a[keep].reset_index(drop=True), lines=inv.lines, seed=inv.seed)


def of(events, kind):
    return [e for e in events if type(e) is kind]


def check_valid(events, now_ms: int) -> None:
    validator = Validator()
    for event in events:
        validator.decode(encode(event), now=now_ms)  # raises InvalidEvent with the reason


def dim_command(target: str, now: int, *, level: float | None = 50.0, action: str = "dim", minutes: int = 30,
                command_id: str = "cmd-1") -> CommandRequest:
    return CommandRequest(asset_id=target, ts=now, command_id=command_id, action=action, targets=[target],
                          expires_at=now + minutes * MINUTE_MS, user="alice", reason="test", level=level)


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return build_inventory(42)


@pytest.fixture(scope="module")
def small(inv) -> Inventory:
    return subset(inv, cabinets=6, cameras=20, signals=30)


@pytest.fixture(scope="module")
def day(inv):
    """One full simulated day at Dijon scale, summarised on the fly (the events themselves are not kept)."""
    start, end = at(DAY, 0), at(DAY + timedelta(days=1), 0)
    sunrise, sunset = sun_times(DAY)
    checks = {"04:30": at(DAY, 4, 30), "06:00": at(DAY, 6), "sunrise+20": sunrise + 20 * MINUTE_MS,
              "noon": at(DAY, 12), "sunset+20": sunset + 20 * MINUTE_MS, "21:30": at(DAY, 21, 30),
              "22:30": at(DAY, 22, 30)}
    times = sorted(set(range(start + 15 * MINUTE_MS, end + 1, 15 * MINUTE_MS)) | set(checks.values()))
    sim = Simulator(inv, seed=11, start_ms=start)
    out = dict(counts=Counter(), reports=[], weather=[], sample=[], levels={}, first_on={}, dimmed=Counter(),
               energy=defaultdict(list), sunset=sunset, sunrise=sunrise)
    watched = set(inv.of_kind("cabinet")["asset_id"].iloc[::100])
    for t in times:
        events = sim.advance(t)
        out["counts"].update(map(type, events))
        out["reports"] += of(events, IncidentReport)
        out["weather"] += of(events, WeatherObservation)
        out["sample"] += [e for e in events if type(e) not in BIG] + events[::97]
        if sunset - HOUR_MS <= t <= sunset + 2 * HOUR_MS:
            for e in events:
                if type(e) is LampTelemetry and e.power_state != "off":
                    out["first_on"].setdefault(e.asset_id, e.ts)
        for e in events[::13]:
            if type(e) is LampTelemetry and e.status == "ok" and (local_hour(e.ts) >= 22.1 or local_hour(e.ts) < 4.9):
                out["dimmed"][e.level] += 1
        for e in of(events, CabinetMetering):
            if e.asset_id in watched:
                out["energy"][e.asset_id].append(e.energy_kwh)
        for label, when in checks.items():
            if when == t:
                out["levels"][label] = sim.lamp_frame()
    out["end"] = end
    return out


# -- determinism and validity -------------------------------------------------------------------------


def test_same_seed_same_calls_give_byte_identical_events(inv):
    def run(seed):
        start = at(DAY, 17)
        sim = Simulator(inv, seed=seed, start_ms=start)
        events = sim.advance(start + 20 * MINUTE_MS)
        sim.apply_command(dim_command("commune:21617", start + 20 * MINUTE_MS), start + 20 * MINUTE_MS)
        events += sim.advance(start + 40 * MINUTE_MS)
        return events

    first, second = run(7), run(7)
    assert len(first) > 40_000
    assert b"\n".join(map(encode, first)) == b"\n".join(map(encode, second))
    assert b"\n".join(map(encode, run(8))) != b"\n".join(map(encode, first))
    check_valid(first, at(DAY, 23))


def test_every_event_is_valid(day):
    check_valid(day["sample"], day["end"])
    kinds = {type(e) for e in day["sample"]}
    assert {LampTelemetry, CabinetMetering, SignalStatus, BusPriority, CameraHealth, WeatherObservation,
            IncidentReport} <= kinds


def test_events_come_out_in_time_order(small):
    sim = Simulator(small, seed=1, start_ms=at(DAY, 7))
    events = sim.advance(at(DAY, 8))
    stamps = [e.ts for e in events]
    assert stamps == sorted(stamps) and stamps[0] >= at(DAY, 7) and stamps[-1] < at(DAY, 8)


# -- daily cycle and rates ------------------------------------------------------------------------------


def test_lamps_follow_dusk_dawn_and_the_programme(day, inv):
    levels = {label: frame["level"] for label, frame in day["levels"].items()}
    healthy = {label: frame["fault"] == "" for label, frame in day["levels"].items()}
    assert (levels["noon"] == 0).all() and (levels["sunrise+20"] == 0).all()
    for label in ("sunset+20", "21:30", "06:00"):
        assert (levels[label][healthy[label]] == 100).mean() > 0.995, label
    for label in ("22:30", "04:30"):
        assert (levels[label][healthy[label]] == 70).mean() > 0.995, label
    first_on = np.array(list(day["first_on"].values()))
    assert len(first_on) > 0.99 * len(inv.of_kind("light"))
    assert (first_on >= day["sunset"]).all() and (first_on <= day["sunset"] + 20 * MINUTE_MS).all()
    assert np.ptp(first_on) > 5 * MINUTE_MS  # the dusk burst is spread across cabinets
    dimmed = day["dimmed"]
    assert dimmed[70.0] / sum(dimmed.values()) > 0.99


def test_a_day_has_the_expected_rates(day, inv):
    counts = day["counts"]
    lamps = len(inv.of_kind("light"))
    assert abs(counts[LampTelemetry] - lamps * 96) <= 0.15 * lamps * 96
    assert counts[WeatherObservation] == 12 * 288
    assert abs(len(day["reports"]) - 630) <= 0.2 * 630
    assert counts[CameraHealth] == pytest.approx(269 * 1440, rel=0.01)
    assert counts[SignalStatus] == pytest.approx(113 * 1440, rel=0.01)
    assert counts[CabinetMetering] == pytest.approx(len(inv.of_kind("cabinet")) * 288, rel=0.01)
    assert counts[BusPriority] > 10_000


def test_reports_cluster_by_day_and_where_people_live(day, inv):
    reports = day["reports"]
    assert len({r.asset_id for r in reports}) == len(reports)
    assert all(r.asset_id.startswith("RPT-20250114-") for r in reports)
    hours = np.array([local_hour(r.ts) for r in reports])
    assert ((hours >= 8) & (hours < 20)).mean() > 0.75
    dijon = np.mean([r.address == "Dijon" for r in reports])
    assert 0.45 < dijon < 0.8  # Dijon holds 62 % of the people
    assert len({r.category for r in reports}) >= 9
    assert any(r.asset_ref and r.asset_ref.startswith("LP-") for r in reports if r.category == "street_light_out")


def test_cabinet_energy_only_grows(day):
    for readings in day["energy"].values():
        assert len(readings) >= 288 and readings == sorted(readings)


def test_weather_has_a_daily_cycle(day):
    obs = day["weather"]
    afternoon = [o.temperature_c for o in obs if 14 <= local_hour(o.ts) < 16]
    night = [o.temperature_c for o in obs if 4 <= local_hour(o.ts) < 6]
    assert np.mean(afternoon) > np.mean(night) + 2
    humid_night = np.mean([o.humidity_pct for o in obs if 4 <= local_hour(o.ts) < 6])
    assert humid_night > np.mean([o.humidity_pct for o in obs if 14 <= local_hour(o.ts) < 16])
    assert all(o.gust_ms >= o.wind_speed_ms for o in obs)


# -- faults ---------------------------------------------------------------------------------------------


def test_faults_are_raised_then_cleared(small):
    trouble = Scenario(name="trouble", title="t", onset=time(0, 0), duration_h=6.0, brief_fr="-", brief_en="-",
                       ramp_min=1.0, rates=RateFactors(lamp_failure=4000.0, cabinet_supply_loss=20.0,
                                                       camera_loss=100.0, signal_fault=100.0, signal_power=100.0))
    start = at(DAY, 0)
    sim = Simulator(small, seed=5, start_ms=start, scenario=trouble, scenario_at_ms=start)
    events = []
    for hour in range(6, 3 * 24 + 1, 6):
        chunk = sim.advance(start + hour * HOUR_MS)
        events += [e for e in chunk if type(e) in (LampFault, SignalFault)]
        events += [e for e in chunk if type(e) is CameraHealth and e.state != "online"]
    check_valid(events, start + 4 * 24 * HOUR_MS)
    open_faults, raised, cleared = set(), Counter(), Counter()
    for e in (e for e in events if type(e) in (LampFault, SignalFault)):
        key = (e.asset_id, e.fault)
        if e.active:
            assert key not in open_faults
            open_faults.add(key)
            raised[type(e)] += 1
        else:
            assert key in open_faults, f"{key} cleared without being raised"
            open_faults.discard(key)
            cleared[type(e)] += 1
    assert raised[LampFault] >= 10 and raised[SignalFault] >= 10
    assert cleared[LampFault] >= 0.5 * raised[LampFault]  # repairs take hours to days
    assert cleared[SignalFault] >= 0.8 * raised[SignalFault]
    assert {e.state for e in events if type(e) is CameraHealth} >= {"offline", "videoLoss"}
    assert (sim.cameras.state == 0).mean() >= 0.9
    assert sim.lamp_frame()["supply_ok"].all()


def test_a_cabinet_supply_loss_darkens_exactly_its_lamps(inv):
    outage = SCENARIOS["cabinet-outage"]
    start = at(DAY, 18, 45)
    sim = Simulator(inv, seed=3, start_ms=start, scenario=outage)
    onset, end = sim.scenario_window
    assert onset == at(DAY, 19)
    events = sim.advance(onset + 10 * MINUTE_MS)
    lost = {e.asset_id for e in of(events, LampFault) if e.fault == "supplyLoss" and e.active}
    down = {e.asset_id for e in of(events, CabinetMetering) if not e.supply_ok}
    assert len(down) == outage.outage.cabinets
    cabinets = inv.assets.set_index("asset_id").loc[sorted(down)]
    assert (cabinets["commune_code"] == outage.outage.commune_code).all()
    lamps = inv.assets[inv.assets["cabinet_id"].isin(down)]
    assert lost == set(lamps["asset_id"])
    assert all(e.lamps_on == 0 and e.active_power_kw == 0 for e in of(events, CabinetMetering) if not e.supply_ok)
    frame = sim.lamp_frame().set_index("asset_id")
    dark = frame.index.isin(lamps["asset_id"])
    assert (frame.loc[dark, "level"] == 0).all() and (frame.loc[dark, "power_w"] == 0).all()
    assert (frame.loc[~dark & (frame["fault"] == ""), "level"] == 100).all()
    silent = sim.advance(onset + 40 * MINUTE_MS)
    assert not [e for e in of(silent, LampTelemetry) if e.asset_id in lost]
    later = []
    for hour in range(1, 5):
        later += [e for e in sim.advance(onset + 40 * MINUTE_MS + hour * HOUR_MS) if type(e) is LampFault]
    assert {e.asset_id for e in later if e.fault == "supplyLoss" and not e.active} == lost
    assert sim.lamp_frame()["supply_ok"].all()


# -- scenarios ------------------------------------------------------------------------------------------


def test_scenarios_are_a_table_with_briefs():
    assert set(SCENARIOS) == {"storm-night", "ice-morning", "heatwave", "cabinet-outage", "stadium-event"}
    for scenario in SCENARIOS.values():
        assert scenario.brief_fr and scenario.brief_en and scenario.duration_h > 0
    with pytest.raises(ValueError, match="known: storm-night"):
        get_scenario("tornado")


def test_storm_night_brings_gusts_rain_trees_and_losses(inv):
    stormy = subset(inv, cabinets=40, cameras=269, signals=20)
    sim = Simulator(stormy, seed=2, start_ms=at(DAY, 19, 30), scenario="storm-night")
    events = sim.advance(at(DAY, 23, 30))
    check_valid([e for e in events if type(e) not in BIG], at(DAY + timedelta(days=1), 0))
    peak = [o for o in of(events, WeatherObservation) if o.ts >= at(DAY, 21)]
    assert min(o.gust_ms for o in peak) > 20 and max(o.gust_ms for o in peak) <= 35
    assert np.mean([o.precipitation_mm_h for o in peak]) > 5
    categories = Counter(r.category for r in of(events, IncidentReport) if r.ts >= at(DAY, 20))
    assert categories["fallen_tree"] + categories["flooding"] >= 8
    assert any(not e.supply_ok for e in of(events, CabinetMetering))
    assert len({e.asset_id for e in of(events, CameraHealth) if e.state != "online"}) >= 5


def test_ice_morning_freezes_the_roads_at_dawn(small):
    sim = Simulator(small, seed=4, start_ms=at(DAY, 0), scenario="ice-morning")
    events = sim.advance(at(DAY, 9))
    dawn = [o for o in of(events, WeatherObservation) if at(DAY, 6, 30) <= o.ts < at(DAY, 7, 30)]
    assert len(dawn) == 12 * 12 and max(o.road_temperature_c for o in dawn) < 0
    assert sum(r.category == "ice" for r in of(events, IncidentReport)) >= 5


def test_heatwave_is_hot_by_day_and_the_centre_stays_warm_at_night(inv):
    july = date(2025, 7, 15)
    sim = Simulator(subset(inv, cabinets=1, cameras=0, signals=0), seed=6, start_ms=at(july, 0), scenario="heatwave")
    obs = of(sim.advance(at(july + timedelta(days=2), 8)), WeatherObservation)
    afternoon = [o.temperature_c for o in obs if o.ts >= at(july + timedelta(days=1), 14)
                 and o.ts < at(july + timedelta(days=1), 17)]
    assert 35 <= max(afternoon) <= 41 and np.median(afternoon) >= 33
    night = [o for o in obs if at(july + timedelta(days=2), 3) <= o.ts < at(july + timedelta(days=2), 6)]
    centre = min(o.temperature_c for o in night if o.asset_id == "WS-01")
    country = np.mean([o.temperature_c for o in night if o.asset_id in ("WS-09", "WS-11", "WS-12")])
    assert centre >= 24 and centre - country >= 2


def test_stadium_event_crowds_the_area(inv):
    crowd = subset(inv, cabinets=1, cameras=5, signals=113)
    sim = Simulator(crowd, seed=8, start_ms=at(DAY, 19), scenario="stadium-event")
    events = sim.advance(at(DAY, 23))
    near = [r for r in of(events, IncidentReport) if distance_m(r.lat, r.lon, *STADIUM) < 1500]
    assert len(near) >= 25
    shuttles = [e for e in of(events, BusPriority) if e.bus_id.startswith("NAV-")]
    assert len(shuttles) >= 200 and {e.phase for e in shuttles} == {"request", "grant", "deny"}
    assert any(e.plan == "event" for e in of(events, SignalStatus))


# -- commands -------------------------------------------------------------------------------------------


def test_dimming_a_commune_halves_its_power_then_returns_to_the_programme(inv):
    start, now = at(DAY, 18, 50), at(DAY, 19)
    sim = Simulator(inv, seed=9, start_ms=start)
    sim.advance(now)
    before = sim.lamp_frame().set_index("asset_id")
    acks = sim.apply_command(dim_command("commune:21617", now), now)
    talant = before["commune_code"] == "21617"
    assert [a.status for a in acks] == ["accepted", "done"]
    assert acks[1].applied >= 0.99 * talant.sum() and acks[0].command_id == "cmd-1"
    events = sim.advance(now + 10 * MINUTE_MS)
    after = sim.lamp_frame().set_index("asset_id")
    ok = after["fault"] == ""
    assert (after.loc[talant & ok, "level"] == 50).all()
    assert np.allclose(after.loc[talant & ok, "power_w"], before.loc[talant & ok, "power_w"] / 2)
    assert (after.loc[~talant, "level"] == before.loc[~talant, "level"]).all()
    changed = [e for e in of(events, LampTelemetry) if e.ts == now]
    assert len(changed) >= 0.99 * talant.sum() and all(e.level == 50 and e.power_state == "low" for e in changed)
    cabinets = set(inv.assets.loc[inv.assets["commune_code"] == "21617", "asset_id"])
    readings = [e for e in of(events, CabinetMetering) if e.asset_id in cabinets]
    assert readings and all(e.working_mode == "manual" for e in readings)
    events = sim.advance(now + 40 * MINUTE_MS)
    back = sim.lamp_frame().set_index("asset_id")
    assert (back.loc[talant & (back["fault"] == ""), "level"] == 100).all()
    assert any(e.ts == now + 30 * MINUTE_MS and e.level == 100 for e in of(events, LampTelemetry))


def test_commands_on_cabinets_signals_and_bad_targets(inv):
    now = at(DAY, 20)
    sim = Simulator(inv, seed=9, start_ms=now - MINUTE_MS)
    rejected = sim.apply_command(dim_command("LP-999999", now), now)
    assert [a.status for a in rejected] == ["rejected"] and "LP-999999" in rejected[0].detail
    wrong = sim.apply_command(dim_command("LP-000001", now, action="flash", level=None), now)
    assert wrong[0].status == "rejected" and "signals" in wrong[0].detail
    off = sim.apply_command(dim_command("CAB-0002", now, action="switch_off", level=None, command_id="c2"), now)
    lamps = inv.lamps_of("CAB-0002")["asset_id"]
    assert off[-1].status == "done" and off[-1].applied == len(lamps)
    flash = sim.apply_command(dim_command("SIG-001", now, action="flash", level=None, command_id="c3"), now)
    assert flash[-1].applied == 1 and sim.signal_modes()["SIG-001"] == "flashing"
    events = sim.advance(now + 5 * MINUTE_MS)
    frame = sim.lamp_frame().set_index("asset_id")
    assert (frame.loc[lamps, "level"] == 0).all()
    assert {e.mode for e in of(events, SignalStatus) if e.asset_id == "SIG-001" and e.ts >= now} == {"flashing"}
    sim.apply_command(dim_command("SIG-001", now + 5 * MINUTE_MS, action="normal", level=None, command_id="c4"),
                      now + 5 * MINUTE_MS)
    assert sim.signal_modes()["SIG-001"] == "normal"


def test_programmes_are_selectable(small):
    sim = Simulator(small, seed=1, start_ms=at(DAY, 23, 30), programme=PROGRAMMES["off"])
    sim.advance(at(DAY + timedelta(days=1), 1))
    assert (sim.lamp_frame()["level"] == 0).mean() > 0.99
    half = Simulator(small, seed=1, start_ms=at(DAY, 23, 30), programme=PROGRAMMES["50"])
    half.advance(at(DAY, 23, 40))
    assert (half.lamp_frame()["level"] == 50).mean() > 0.99
