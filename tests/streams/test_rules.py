"""Every alert rule as a pure function: the rules file, equipment faults, weather, reports, timers."""

from __future__ import annotations

import copy

import pytest
import yaml

from streams.rules import (
    DEFAULT_RULES,
    RuleConfigError,
    comm_loss_deadline,
    distance_m,
    escalation_of,
    evaluate,
    is_flapping,
    load_rules,
    nearest_within,
    parse_rules,
    report_decision,
)
from streams.schemas import (
    CabinetMetering,
    CameraHealth,
    IncidentReport,
    LampFault,
    LampTelemetry,
    SignalFault,
    SignalStatus,
    WeatherObservation,
)

T = 1_750_000_000_000
RULES = load_rules()


def lamp(status="ok", ts=T):
    return LampTelemetry(asset_id="LP-1", ts=ts, power_state="on", level=100.0, power_w=30.0, energy_wh=10.0,
                         status=status)


def weather(ts=T, **values):
    base = dict(temperature_c=15.0, road_temperature_c=10.0, humidity_pct=60.0, wind_speed_ms=3.0, gust_ms=5.0,
                precipitation_mm_h=0.0)
    base.update(values)
    return WeatherObservation(asset_id="WS-1", ts=ts, **base)


def only(signals):
    assert len(signals) == 1, signals
    return signals[0]


# -- the rules file ---------------------------------------------------------------------------------

def test_packaged_rules_load_and_cover_every_domain():
    ids = RULES.rule_ids()
    for rule in ("lamp_failure", "lamp_supply_loss", "lamp_defect", "cabinet_supply_loss", "signal_fault",
                 "crossroads_degraded", "camera_fault", "wind_gusts", "road_frost", "heat", "heavy_rain",
                 "citizen_report", "comm_loss", "feed_down"):
        assert rule in ids
    assert RULES.due_s == {"P1": 7200, "P2": 86400, "P3": 259200}


def _raw():
    return yaml.safe_load(DEFAULT_RULES.read_text())


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["equipment"][0].update(severity="hgih"), "equipment[0].severity: 'hgih' is not one of"),
    (lambda d: d["equipment"][0].update(event="lamp.telemetri"), "equipment[0].event"),
    (lambda d: d["equipment"][0].pop("field"), "equipment[0].field: is required"),
    (lambda d: d["equipment"][0].update(sevrity="minor"), "equipment[0].sevrity: unknown key"),
    (lambda d: d["priorities"]["P1"].update(due_s=-1), "priorities.P1.due_s: must be positive"),
    (lambda d: d["weather"][0].update(clear_below=99.0), "weather[0].clear_below"),
    (lambda d: d["weather"][0].update(field="gusts"), "weather[0].field"),
    (lambda d: d["reports"]["categories"].update(unicorn={"priority": "P1", "severity": "major"}),
     "unknown report category"),
    (lambda d: d["reports"]["categories"]["street_light_out"].update(fuse_with=["nope"]), "unknown rule 'nope'"),
    (lambda d: d["equipment"][5].update(absorbs=["ghost"]), "absorbs unknown rule 'ghost'"),
    (lambda d: d["equipment"].append(dict(d["equipment"][0])), "used twice"),
    (lambda d: d["comm_loss"].update(factor=0.5), "comm_loss.factor"),
    (lambda d: d.update(version=2), "version"),
])
def test_invalid_rules_fail_with_a_clear_message(mutate, message):
    data = copy.deepcopy(_raw())
    mutate(data)
    with pytest.raises(RuleConfigError) as err:
        parse_rules(data, "rules.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("rules.yaml")


def test_unreadable_or_broken_rules_file(tmp_path):
    with pytest.raises(RuleConfigError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("equipment: [\n")
    with pytest.raises(RuleConfigError, match="not valid YAML"):
        load_rules(bad)


# -- equipment faults -------------------------------------------------------------------------------

@pytest.mark.parametrize("fault, rule, severity, priority", [
    ("lampFailure", "lamp_failure", "minor", "P3"),
    ("dimmingFailure", "lamp_dimming_failure", "info", "P3"),
    ("controlGearCommFailure", "lamp_gear_comm", "minor", "P3"),
    ("supplyLoss", "lamp_supply_loss", "major", "P2"),
])
def test_lamp_fault_flags_raise_and_clear(fault, rule, severity, priority):
    raised = only(evaluate(LampFault(asset_id="LP-1", ts=T, fault=fault, active=True), {}, RULES))
    assert (raised.rule, raised.active, raised.severity, raised.priority, raised.level) == (
        rule, True, severity, priority, False)
    cleared = only(evaluate(LampFault(asset_id="LP-1", ts=T, fault=fault, active=False), {rule: [fault]}, RULES))
    assert (cleared.rule, cleared.active) == (rule, False)
    # A clear of a flag never raised says nothing.
    assert evaluate(LampFault(asset_id="LP-1", ts=T, fault=fault, active=False), {}, RULES) == []


def test_lamp_status_is_a_level_with_severity_by_value():
    sig = only(evaluate(lamp("columnIssue"), {}, RULES))
    assert (sig.rule, sig.severity, sig.priority, sig.level) == ("lamp_defect", "major", "P2", True)
    assert evaluate(lamp("columnIssue"), {"lamp_defect": ["columnIssue"]}, RULES) == []  # same reading again
    changed = only(evaluate(lamp("brokenLantern"), {"lamp_defect": ["columnIssue"]}, RULES))
    assert changed.active and changed.value == "brokenLantern"
    cleared = only(evaluate(lamp("ok"), {"lamp_defect": ["brokenLantern"]}, RULES))
    assert not cleared.active
    assert evaluate(lamp("ok"), {}, RULES) == []


def test_cabinet_supply_loss_is_critical_p1():
    ev = CabinetMetering(asset_id="CAB-1", ts=T, energy_kwh=1.0, active_power_kw=0.0, working_mode="automatic",
                         supply_ok=False, lamps_on=0, lamps_total=40)
    sig = only(evaluate(ev, {}, RULES))
    assert (sig.rule, sig.severity, sig.priority) == ("cabinet_supply_loss", "critical", "P1")
    back = CabinetMetering(asset_id="CAB-1", ts=T, energy_kwh=1.0, active_power_kw=1.0, working_mode="automatic",
                           supply_ok=True, lamps_on=40, lamps_total=40)
    assert not only(evaluate(back, {"cabinet_supply_loss": ["false"]}, RULES)).active


@pytest.mark.parametrize("fault, severity, priority", [
    ("conflict", "critical", "P1"), ("powerFailure", "critical", "P1"), ("controllerFault", "major", "P1"),
    ("lampOut", "major", "P2"), ("detectorFault", "minor", "P2"),
])
def test_signal_faults(fault, severity, priority):
    sig = only(evaluate(SignalFault(asset_id="SIG-1", ts=T, fault=fault, active=True), {}, RULES))
    assert (sig.rule, sig.severity, sig.priority) == ("signal_fault", severity, priority)


@pytest.mark.parametrize("mode, severity", [("flashing", "major"), ("dark", "critical"), ("fault", "critical")])
def test_crossroads_in_flashing_or_dark_mode(mode, severity):
    sig = only(evaluate(SignalStatus(asset_id="SIG-1", ts=T, mode=mode), {}, RULES))
    assert (sig.rule, sig.severity, sig.domain) == ("crossroads_degraded", severity, "traffic")
    assert evaluate(SignalStatus(asset_id="SIG-1", ts=T, mode="normal"), {}, RULES) == []
    assert not only(evaluate(SignalStatus(asset_id="SIG-1", ts=T, mode="normal"),
                             {"crossroads_degraded": [mode]}, RULES)).active


@pytest.mark.parametrize("state, severity", [("offline", "minor"), ("videoLoss", "minor"), ("tamper", "major")])
def test_camera_offline_tamper_video_loss(state, severity):
    sig = only(evaluate(CameraHealth(asset_id="CAM-1", ts=T, state=state), {}, RULES))
    assert (sig.rule, sig.severity) == ("camera_fault", severity)


# -- weather ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rule, raise_kw, hold_kw, clear_kw, critical_kw", [
    ("wind_gusts", dict(gust_ms=24.0), dict(gust_ms=20.0), dict(gust_ms=18.0), dict(gust_ms=30.0)),
    ("road_frost", dict(road_temperature_c=-0.5), dict(road_temperature_c=0.5), dict(road_temperature_c=1.5),
     dict(road_temperature_c=-4.0)),
    ("heat", dict(temperature_c=34.0), dict(temperature_c=32.0), dict(temperature_c=30.0), dict(temperature_c=39.0)),
    ("heavy_rain", dict(precipitation_mm_h=25.0), dict(precipitation_mm_h=15.0), dict(precipitation_mm_h=5.0),
     dict(precipitation_mm_h=60.0)),
])
def test_weather_thresholds_with_hysteresis(rule, raise_kw, hold_kw, clear_kw, critical_kw):
    if "gust_ms" in raise_kw:
        for kw in (raise_kw, hold_kw, clear_kw, critical_kw):
            kw["wind_speed_ms"] = min(kw["gust_ms"], 10.0)
    sig = only(evaluate(weather(**raise_kw), {}, RULES))
    assert (sig.rule, sig.active, sig.severity) == (rule, True, "major")
    assert evaluate(weather(**hold_kw), {rule: ["major"]}, RULES) == []  # between the thresholds: held
    assert evaluate(weather(**hold_kw), {}, RULES) == []  # ... and not raised from calm
    assert not only(evaluate(weather(**clear_kw), {rule: ["major"]}, RULES)).active
    worse = only(evaluate(weather(**critical_kw), {rule: ["major"]}, RULES))
    assert worse.active and worse.severity == "critical"


# -- citizen reports, geometry, timers -------------------------------------------------------------

@pytest.mark.parametrize("category, priority, hours", [
    ("traffic_light_fault", "P1", 2), ("fallen_tree", "P1", 2), ("pothole", "P2", 24), ("street_light_out", "P3", 72),
    ("graffiti", "P3", 72),
])
def test_reports_get_a_priority_and_due_time_by_category(category, priority, hours):
    report = IncidentReport(asset_id="R-1", ts=T, category=category, lat=47.32, lon=5.04, source="app")
    cat, due = report_decision(report, RULES)
    assert cat.priority == priority
    assert due == T + hours * 3_600_000


def test_distance_and_nearest_within():
    assert distance_m(47.32, 5.04, 47.32, 5.04) == 0
    assert 110 < distance_m(47.32, 5.04, 47.321, 5.04) < 112  # 0.001° of latitude is about 111 m
    cands = [("far", 47.3210, 5.04), ("near", 47.3203, 5.04), ("none", None, None)]
    assert nearest_within(47.32, 5.04, cands, 50) == "near"
    assert nearest_within(47.32, 5.04, cands[:1], 50) is None


def test_comm_loss_deadline_flapping_and_escalation():
    assert comm_loss_deadline(T, 60, 3) == T + 180_000
    assert is_flapping([T, T + 1000, T + 2000, T + 3000], T + 4000, RULES)
    assert not is_flapping([T, T + 1000, T + 2000], T + 4000, RULES)
    assert not is_flapping([T - 10**7, T, T + 1000, T + 2000], T + 4000, RULES)  # the first one is too old
    assert escalation_of("open", "critical", T, False, T + 899_000, RULES) is None
    assert escalation_of("open", "critical", T, False, T + 900_000, RULES) == "critical"
    assert escalation_of("open", "major", T, False, T + 3_600_000, RULES) == "critical"
    assert escalation_of("acknowledged", "critical", T, False, T + 10**7, RULES) is None
    assert escalation_of("open", "critical", T, True, T + 10**7, RULES) is None
    assert escalation_of("open", "minor", T, False, T + 10**9, RULES) is None
