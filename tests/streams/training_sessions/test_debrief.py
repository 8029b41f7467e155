"""The debrief's pure functions on hand-built store rows: response times, missed alerts, scores, clocks."""

import csv
import json

import pytest

from streams.debrief import ack_points, build_debrief, played_s, write_debrief

T0 = 1_800_000_000_000
MIN = 60_000
DELAYS = {"P1": 7200.0, "P2": 86400.0, "P3": 259200.0}


def alert(aid, severity, priority, opened, **extra):
    """An alert row as the store returns it."""
    return {"id": aid, "rule": "r", "asset_id": f"A{aid}", "title": f"alert {aid}", "severity": severity,
            "priority": priority, "state": "open", "opened_ts": opened, "resolved_ts": None, "closed_ts": None,
            "parent_id": None, **extra}


def tr(aid, action, ts, actor="trainee1"):
    """A transition row."""
    return {"alert_id": aid, "action": action, "ts": ts, "actor": actor}


@pytest.fixture
def rows():
    """Six alerts: fast, slow, resolved late, missed, self-cleared, pending; and a child."""
    alerts = [
        alert(1, "critical", "P1", T0, state="resolved", resolved_ts=T0 + 90 * MIN),
        alert(2, "major", "P2", T0, state="acknowledged"),
        alert(3, "critical", "P1", T0, state="resolved", resolved_ts=T0 + 150 * MIN),
        alert(4, "critical", "P1", T0),
        alert(5, "minor", "P3", T0, state="resolved", resolved_ts=T0 + 10 * MIN),
        alert(6, "critical", "P1", T0 + 178 * MIN),
        alert(7, "minor", "P3", T0, parent_id=1),
        alert(8, "info", "P3", T0),
    ]
    transitions = [tr(a["id"], "open", a["opened_ts"], "system") for a in alerts] + [
        tr(1, "acknowledge", T0 + 2 * MIN), tr(1, "assign", T0 + 4 * MIN), tr(1, "resolve", T0 + 90 * MIN),
        tr(2, "acknowledge", T0 + 30 * MIN, "trainee2"),
        tr(3, "assign", T0 + 5 * MIN), tr(3, "resolve", T0 + 150 * MIN),
        tr(5, "resolve", T0 + 10 * MIN, "system"),
    ]
    interventions = [{"alert_id": 1, "team": "north", "opened_ts": T0 + 4 * MIN, "closed_ts": T0 + 60 * MIN}]
    audit = [{"actor": "trainee1", "action": "command.dim", "target": "cab:1"},
             {"actor": "trainee1", "action": "alert.acknowledge", "target": "alert:1"}]
    return alerts, transitions, interventions, audit


def test_response_times_missed_alerts_and_scores(rows):
    alerts, transitions, interventions, audit = rows
    d = build_debrief("s", alerts, transitions, interventions=interventions, audit=audit, delays_s=DELAYS,
                      now_ms=T0 + 180 * MIN)
    by = {a.alert_id: a for a in d.alerts}
    one = by[1]
    assert (one.outcome, one.handled_by, one.ack_s, one.assign_s, one.resolve_s) == \
        ("handled", "trainee1", 120.0, 240.0, 5400.0)
    assert one.safe_s == 3600.0  # the intervention closed before the resolution: made safe then
    assert one.ack_on_time and one.contract_on_time and one.points == 1.0
    # 30 min on a major (target 15 min): ack points 1 - 15/45 = 2/3; P2 24 h not yet due: ack only
    assert by[2].outcome == "handled" and by[2].contract_on_time is None and by[2].points == pytest.approx(0.6667)
    # assign counts as the acknowledgement; made safe after 2.5 h on a P1: late
    assert by[3].ack_s == 300.0 and by[3].ack_on_time and by[3].contract_on_time is False
    assert by[3].points == pytest.approx(0.6)
    assert by[4].outcome == "missed" and by[4].contract_on_time is False and by[4].points == 0.0
    assert by[5].outcome == "self-cleared" and by[5].points is None
    assert by[6].outcome == "pending"
    assert by[7].outcome == "not-scored" and by[8].outcome == "not-scored"
    assert [a.alert_id for a in d.missed] == [4]
    assert d.counts == {"handled": 3, "missed": 1, "self-cleared": 1, "pending": 1, "not-scored": 2, "alerts": 8}
    t1, t2 = d.trainees
    assert (t1.actor, t1.handled, t1.acknowledged, t1.assigned, t1.resolved) == ("trainee1", 2, 1, 2, 2)
    assert (t1.ack_on_time, t1.contract_on_time, t1.contract_late, t1.other_actions) == (2, 1, 1, 1)
    assert t1.ack_mean_s == 210.0 and t1.missed_in_room == 1
    assert t1.score == round(100 * (1.0 + 0.6) / 3)  # 2 handled + 1 missed in the room
    assert t2.score == round(100 * 0.6667 / 2)
    assert d.score == round(100 * (1.0 + 0.6667 + 0.6 + 0.0) / 4)


def test_the_scenario_clock_scales_with_speed_and_stops_while_paused():
    # 10x from wall 0 to 60 s (recording 0 -> 600 s), paused 60-120 s, then 10x again to 180 s.
    timeline = [{"wall_ms": 0, "before_s": 0, "position_s": 0},
                {"wall_ms": 60_000, "before_s": 600, "position_s": 600},
                {"wall_ms": 120_000, "before_s": 600, "position_s": 600},
                {"wall_ms": 180_000, "before_s": 1200, "position_s": 1200}]
    assert played_s(timeline, 0, 30_000) == 300
    assert played_s(timeline, 30_000, 150_000) == 300 + 0 + 300
    assert played_s(None, 0, 30_000) == 30
    # a seek back 10 minutes at wall 60 s: the jump itself takes no time
    seek = [{"wall_ms": 0, "before_s": 0, "position_s": 0}, {"wall_ms": 60_000, "before_s": 600, "position_s": 0},
            {"wall_ms": 120_000, "before_s": 600, "position_s": 600}]
    assert played_s(seek, 0, 120_000) == 1200


def test_response_times_are_measured_on_the_scenario_clock():
    timeline = [{"wall_ms": T0, "before_s": 0, "position_s": 0},
                {"wall_ms": T0 + 60 * MIN, "before_s": 36000, "position_s": 36000}]
    alerts = [alert(1, "critical", "P1", T0, state="resolved", resolved_ts=T0 + 20 * MIN)]
    transitions = [tr(1, "acknowledge", T0 + MIN), tr(1, "resolve", T0 + 20 * MIN)]
    d = build_debrief("s", alerts, transitions, delays_s=DELAYS, timeline=timeline, now_ms=T0 + 60 * MIN)
    a = d.alerts[0]
    assert a.ack_replay_s == 60.0 and a.ack_s == 600.0 and a.ack_on_time is False
    assert a.safe_s == 12000.0 and a.contract_on_time is False


def test_ack_points():
    assert ack_points(100, 300) == 1.0
    assert ack_points(600, 300) == pytest.approx(2 / 3)
    assert ack_points(1200, 300) == 0.0
    assert ack_points(None, 300) == 0.0


def test_export_to_csv_and_json(rows, tmp_path):
    alerts, transitions, interventions, audit = rows
    d = build_debrief("s", alerts, transitions, interventions=interventions, audit=audit, delays_s=DELAYS,
                      now_ms=T0 + 180 * MIN)
    paths = write_debrief(d, tmp_path / "out")
    assert [p.name for p in paths] == ["alerts.csv", "trainees.csv", "debrief.json"]
    with paths[0].open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == 8 and table[0]["ack_s"] == "120.0"
    data = json.loads(paths[2].read_text())
    assert data["missed"] == [4] and data["trainees"][0]["actor"] == "trainee1"


def test_targets_use_the_severity_at_opening_not_after_escalation():
    alerts = [alert(1, "critical", "P2", T0, state="acknowledged", escalated=True)]
    transitions = [{**tr(1, "open", T0, "system"), "severity": "major"},
                   {**tr(1, "escalate", T0 + 60 * MIN, "system"), "severity": "critical"},
                   tr(1, "acknowledge", T0 + 10 * MIN)]
    (a,) = build_debrief("s", alerts, transitions, delays_s=DELAYS, now_ms=T0 + 70 * MIN).alerts
    assert (a.severity, a.ack_target_s, a.ack_on_time, a.points) == ("major", 900.0, True, 1.0)


def test_a_session_without_actions_scores_zero_and_lists_no_trainee():
    alerts = [alert(1, "major", "P1", T0)]
    d = build_debrief("s", alerts, [tr(1, "open", T0, "system")], delays_s=DELAYS, now_ms=T0 + 180 * MIN)
    assert d.trainees == [] and d.score == 0 and [a.outcome for a in d.alerts] == ["missed"]
