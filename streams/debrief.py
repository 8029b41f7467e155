"""The debrief of a training session: who acknowledged what, how fast, against the contract delays.

Pure functions over the session store's rows (alerts, transitions, interventions, audit); the
one reader of a store is `debrief_from_store`, the one writer of files `write_debrief`.

Clocks. Every timestamp of a training store is in replay time (the replayer stamps each event
when it goes out; trainees act on the wall clock). At 10x a contractual 2 h passes in 12 real
minutes, so delays are measured on the scenario clock: the seconds of recording that played
between two replay-time instants, read from the session's timeline (pauses count for nothing,
a seek's jump counts for nothing). Without a timeline the scenario clock is the replay clock.
Both figures are reported: `*_s` on the scenario clock, `ack_replay_s` on the replay clock.

Acknowledgement. The first action of a person on an alert (acknowledge, assign, resolve or
close) is its acknowledgement, and that person handled the alert. An alert nobody acted on is
missed once its acknowledgement target has passed (even if it later cleared by itself);
before that it is pending, and one that cleared by itself within the target is not held
against anyone. Alerts absorbed by a parent (topology) and `info` alerts are not scored. The
contract is met when the alert was made safe (first intervention closed, else resolved)
within the delay of its priority.

Score (0-100). Each scored alert earns points in [0, 1]:
  points = ACK_WEIGHT * ack + SAFE_WEIGHT * safe  when the contract check is decided, else ack
  ack  = 1 within the acknowledgement target of its severity (`ACK_TARGETS_S`), falling
         linearly to 0 at LATE_ACK_ZERO_AT times the target; 0 for a missed alert
  safe = 1 if made safe within the contract delay of its priority, 0 if late (or still not
         safe once the delay has passed)
A trainee's score is 100 * (points of the alerts they handled) / (alerts they handled + missed
alerts): a missed alert counts against everyone in the room. The session score is
100 * (all points) / (scored alerts).
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = [
    "ACK_TARGETS_S",
    "ACK_WEIGHT",
    "LATE_ACK_ZERO_AT",
    "SAFE_WEIGHT",
    "SYSTEM_ACTORS",
    "AlertOutcome",
    "Debrief",
    "TraineeSummary",
    "ack_points",
    "build_debrief",
    "contract_delays_s",
    "debrief_from_store",
    "played_s",
    "write_debrief",
]

# Acknowledgement targets per severity, in scenario seconds: the room's own service level, not
# the contract's (the contract sets the delay to make the site safe). `info` alerts are listed
# but not scored.
ACK_TARGETS_S: Mapping[str, float | None] = {"critical": 300.0, "major": 900.0, "minor": 3600.0, "info": None}
ACK_WEIGHT = 0.6
SAFE_WEIGHT = 0.4
LATE_ACK_ZERO_AT = 4.0
SYSTEM_ACTORS = frozenset({"system", "processor", ""})
_HUMAN_ACTIONS = ("acknowledge", "assign", "resolve", "close")


def played_s(timeline: list[dict] | None, start_ms: int, end_ms: int) -> float:
    """Scenario seconds played between two replay-time instants (wall seconds without a timeline).

    A timeline is a list of points `{wall_ms, before_s, position_s}`: at `wall_ms` the replay
    position went from `before_s` to `position_s` (a seek, or no jump); between two points the
    position moved evenly from one point's `position_s` to the next one's `before_s`.
    """
    if end_ms <= start_ms:
        return 0.0
    if not timeline:
        return (end_ms - start_ms) / 1000
    points = sorted(timeline, key=lambda p: p["wall_ms"])
    total = 0.0
    for a, b in itertools.pairwise(points):
        span = b["wall_ms"] - a["wall_ms"]
        if span <= 0:
            continue
        overlap = min(end_ms, b["wall_ms"]) - max(start_ms, a["wall_ms"])
        if overlap > 0:
            total += max(0.0, b["before_s"] - a["position_s"]) * overlap / span
    return total


def ack_points(ack_s: float | None, target_s: float | None) -> float:
    """Points of an acknowledgement: 1 within target, linearly down to 0 at LATE_ACK_ZERO_AT x target."""
    if ack_s is None:
        return 0.0
    if not target_s or ack_s <= target_s:
        return 1.0
    return max(0.0, 1.0 - (ack_s - target_s) / ((LATE_ACK_ZERO_AT - 1.0) * target_s))


@dataclass(frozen=True)
class AlertOutcome:
    """One alert of the session with what the room did about it."""

    alert_id: int
    rule: str
    asset_id: str
    title: str
    severity: str  # at opening, before any escalation
    priority: str | None
    opened_ts: int
    outcome: str  # handled | missed | self-cleared | pending | not-scored
    handled_by: str | None
    ack_ts: int | None
    ack_s: float | None
    ack_replay_s: float | None
    ack_target_s: float | None
    ack_on_time: bool | None
    assigned_by: str | None
    assign_s: float | None
    resolved_by: str | None
    resolve_s: float | None
    safe_s: float | None
    contract_delay_s: float | None
    contract_on_time: bool | None
    points: float | None


@dataclass(frozen=True)
class TraineeSummary:
    """What one trainee (an actor of the store) did over the session, and their score."""

    actor: str
    handled: int
    acknowledged: int
    assigned: int
    resolved: int
    ack_on_time: int
    ack_mean_s: float | None
    ack_median_s: float | None
    contract_on_time: int
    contract_late: int
    other_actions: int
    missed_in_room: int
    score: int | None


@dataclass(frozen=True)
class Debrief:
    """The whole debrief: per-alert outcomes, per-trainee summaries, missed alerts and the room's score."""

    session: str
    generated_ms: int
    alerts: list[AlertOutcome]
    trainees: list[TraineeSummary]
    score: int | None
    counts: dict = field(default_factory=dict)

    @property
    def missed(self) -> list[AlertOutcome]:
        """Alerts nobody acknowledged within their target."""
        return [a for a in self.alerts if a.outcome == "missed"]

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return {"session": self.session, "generated_ms": self.generated_ms, "score": self.score,
                "counts": self.counts, "trainees": [asdict(t) for t in self.trainees],
                "missed": [a.alert_id for a in self.missed], "alerts": [asdict(a) for a in self.alerts]}


def contract_delays_s(contract=None) -> dict[str, float]:
    """Intervention delays per priority in seconds, from the contract (the packaged one by default)."""
    if contract is None:
        from .contract import load_contract

        contract = load_contract()
    return {p: h * 3600.0 for p, h in contract.interventions.delays_h.items()}


def _first(rows: Iterable[dict], actions: tuple[str, ...], human: bool | None = True) -> dict | None:
    for r in rows:
        if r["action"] in actions and (human is None or (r.get("actor") not in SYSTEM_ACTORS) == human):
            return r
    return None


def _outcome(alert: dict, history: list[dict], safe_ts: int | None, *, delays_s: Mapping[str, float],
             targets: Mapping[str, float | None], timeline: list[dict] | None, now_ms: int) -> AlertOutcome:
    opened = int(alert["opened_ts"])
    since = lambda ts: None if ts is None else round(played_s(timeline, opened, int(ts)), 3)
    first = _first(history, _HUMAN_ACTIONS)
    assign = _first(history, ("assign",))
    resolve = _first(history, ("resolve",), human=None)
    opening = _first(history, ("open",), human=None)
    severity = (opening or {}).get("severity") or alert["severity"]  # before any escalation
    target = targets.get(severity)
    delay = delays_s.get(alert.get("priority") or "")
    ack_ts = first["ts"] if first else None
    ack_s = since(ack_ts)
    elapsed = played_s(timeline, opened, now_ms)
    closed_by_system = resolve is not None and resolve.get("actor") in SYSTEM_ACTORS
    if alert.get("parent_id") is not None or target is None:
        outcome = "not-scored"
    elif first is not None:
        outcome = "handled"
    elif closed_by_system and since(resolve["ts"]) <= target:
        outcome = "self-cleared"
    elif not closed_by_system and alert.get("state") in ("open",) and elapsed <= target:
        outcome = "pending"
    else:
        outcome = "missed"
    safe_s = since(safe_ts)
    contract_ok = None
    if delay is not None and outcome in ("handled", "missed"):
        if safe_s is not None:
            contract_ok = safe_s <= delay
        elif elapsed > delay:
            contract_ok = False
    points = None
    if outcome in ("handled", "missed"):
        ack = ack_points(ack_s, target)
        points = ack if contract_ok is None else ACK_WEIGHT * ack + SAFE_WEIGHT * float(contract_ok)
        points = round(points, 4)
    return AlertOutcome(
        alert_id=int(alert["id"]), rule=alert["rule"], asset_id=alert["asset_id"], title=alert.get("title", ""),
        severity=severity, priority=alert.get("priority"), opened_ts=opened, outcome=outcome,
        handled_by=first["actor"] if first else None, ack_ts=ack_ts, ack_s=ack_s,
        ack_replay_s=None if ack_ts is None else (ack_ts - opened) / 1000, ack_target_s=target,
        ack_on_time=None if ack_s is None or target is None else ack_s <= target,
        assigned_by=assign["actor"] if assign else None, assign_s=since(assign["ts"] if assign else None),
        resolved_by=resolve["actor"] if resolve else None, resolve_s=since(resolve["ts"] if resolve else None),
        safe_s=safe_s, contract_delay_s=delay, contract_on_time=contract_ok, points=points)


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def _trainee(actor: str, outcomes: list[AlertOutcome], transitions: list[dict], audit: list[dict],
             missed: int) -> TraineeSummary:
    mine = [o for o in outcomes if o.handled_by == actor]
    scored = [o for o in mine if o.points is not None]
    acks = [o.ack_s for o in mine if o.ack_s is not None]
    did = lambda action: len({t["alert_id"] for t in transitions
                              if t["actor"] == actor and t["action"] == action})
    denominator = len(scored) + missed
    return TraineeSummary(
        actor=actor, handled=len(mine), acknowledged=did("acknowledge"), assigned=did("assign"),
        resolved=did("resolve"), ack_on_time=sum(1 for o in mine if o.ack_on_time),
        ack_mean_s=round(sum(acks) / len(acks), 3) if acks else None, ack_median_s=_median(acks),
        contract_on_time=sum(1 for o in mine if o.contract_on_time is True),
        contract_late=sum(1 for o in mine if o.contract_on_time is False),
        other_actions=sum(1 for a in audit
                          if a.get("actor") == actor and not str(a.get("action", "")).startswith("alert.")),
        missed_in_room=missed,
        score=round(100 * sum(o.points for o in scored) / denominator) if denominator else None)


def build_debrief(session: str, alerts: list[dict], transitions: list[dict], *, interventions: list[dict] = (),
                  audit: list[dict] = (), delays_s: Mapping[str, float] | None = None,
                  targets: Mapping[str, float | None] = ACK_TARGETS_S, timeline: list[dict] | None = None,
                  now_ms: int) -> Debrief:
    """The debrief of a session from its store rows (pure: no clock, no I/O)."""
    delays_s = contract_delays_s() if delays_s is None else delays_s
    history: dict[int, list[dict]] = {}
    for t in sorted(transitions, key=lambda t: (t["ts"], t.get("id", 0))):
        history.setdefault(int(t["alert_id"]), []).append(t)
    safe: dict[int, int] = {}
    for i in interventions:
        if i.get("closed_ts") is not None:
            aid = int(i["alert_id"])
            safe[aid] = min(safe.get(aid, i["closed_ts"]), i["closed_ts"])
    outcomes = []
    for a in sorted(alerts, key=lambda a: (a["opened_ts"], a["id"])):
        end = [ts for ts in (safe.get(int(a["id"])), a.get("resolved_ts"), a.get("closed_ts")) if ts is not None]
        outcomes.append(_outcome(a, history.get(int(a["id"]), []), min(end) if end else None, delays_s=delays_s,
                                 targets=targets, timeline=timeline, now_ms=now_ms))
    missed = sum(1 for o in outcomes if o.outcome == "missed")
    actors = sorted({t["actor"] for t in transitions if t.get("actor") not in SYSTEM_ACTORS}
                    | {o.handled_by for o in outcomes if o.handled_by})
    trainees = [_trainee(actor, outcomes, transitions, list(audit), missed) for actor in actors]
    scored = [o.points for o in outcomes if o.points is not None]
    counts = {k: sum(1 for o in outcomes if o.outcome == k)
              for k in ("handled", "missed", "self-cleared", "pending", "not-scored")}
    counts["alerts"] = len(outcomes)
    return Debrief(session=session, generated_ms=now_ms, alerts=outcomes, trainees=trainees,
                   score=round(100 * sum(scored) / len(scored)) if scored else None, counts=counts)


def debrief_from_store(store, session: str, *, timeline: list[dict] | None, now_ms: int,
                       delays_s: Mapping[str, float] | None = None) -> Debrief:
    """Read a session store's alerts, transitions, interventions and audit, and build its debrief."""
    return build_debrief(session, store.alerts(limit=1_000_000), store.transitions_since(0, limit=10_000_000),
                         interventions=store.interventions(), audit=store.audit(limit=1_000_000),
                         delays_s=delays_s, timeline=timeline, now_ms=now_ms)


def write_debrief(debrief: Debrief, out: str | Path) -> list[Path]:
    """Write `alerts.csv`, `trainees.csv` and `debrief.json` into a folder; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, rows, kind in (("alerts.csv", debrief.alerts, AlertOutcome),
                             ("trainees.csv", debrief.trainees, TraineeSummary)):
        path = out / name
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(kind.__dataclass_fields__))
            writer.writeheader()
            writer.writerows(asdict(r) for r in rows)
        paths.append(path)
    path = out / "debrief.json"
    path.write_text(json.dumps(debrief.to_dict(), ensure_ascii=False, indent=1))
    paths.append(path)
    return paths
