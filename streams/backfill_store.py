"""Write generated history into the operational store, through its tables, fast.

Energy rows go in with one `executemany` per chunk (on SQLite straight to the driver, with the
statement compiled from the table, which is several times faster than binding dictionaries);
alerts take ids reserved from the store's counter and one `seq` for the whole backfill; each
alert gets its transitions (open, acknowledge, assign, resolve, close) and one intervention.
Backfilled alerts are closed by `backfill`, which is how `replace=True` finds them again.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd
from sqlalchemy import and_, bindparam, delete, func, select, update

from streams.backfill import History
from streams.store.engine import WRITE_OPTION
from streams.store.schema import (
    alert_transitions,
    alerts,
    counters,
    energy_hourly,
    interventions,
    state_intervals,
)

__all__ = ["BACKFILL_ACTOR", "BackfillConflict", "clear_window", "write_history"]

BACKFILL_ACTOR = "backfill"
_ENERGY_COLUMNS = ("cabinet_id", "hour_ts", "kwh", "lamp_kwh", "readings")
_READINGS_PER_HOUR = 12  # one cabinet metering every 5 minutes
_STEPS = (("open", None, "open", "opened_ts", None), ("acknowledge", "open", "acknowledged", "acknowledged_ts",
          "acknowledged_by"), ("assign", "acknowledged", "in_progress", "in_progress_ts", "acknowledged_by"),
          ("resolve", "in_progress", "resolved", "resolved_ts", "resolved_by"),
          ("close", "resolved", "closed", "closed_ts", "closed_by"))


class BackfillConflict(RuntimeError):
    """The store already holds history in the window to fill."""


def _ms(t: pd.Timestamp) -> int:
    return int(t.value // 1_000_000)


def clear_window(conn, start: pd.Timestamp, end: pd.Timestamp, states: Iterable[str]) -> dict[str, int]:
    """Delete what a backfill of [start, end) writes: energy, closed fault/maintenance intervals, backfilled alerts."""
    lo, hi = _ms(start), _ms(end)
    ids = select(alerts.c.id).where(and_(alerts.c.closed_by == BACKFILL_ACTOR, alerts.c.opened_ts >= lo,
                                         alerts.c.opened_ts < hi)).scalar_subquery()
    out = {
        "interventions": conn.execute(delete(interventions).where(interventions.c.alert_id.in_(ids))).rowcount,
        "transitions": conn.execute(delete(alert_transitions).where(alert_transitions.c.alert_id.in_(ids))).rowcount,
    }
    out["alerts"] = conn.execute(delete(alerts).where(and_(
        alerts.c.closed_by == BACKFILL_ACTOR, alerts.c.opened_ts >= lo, alerts.c.opened_ts < hi))).rowcount
    out["intervals"] = conn.execute(delete(state_intervals).where(and_(
        state_intervals.c.start_ts >= lo, state_intervals.c.end_ts.is_not(None), state_intervals.c.end_ts < hi,
        state_intervals.c.state.in_(list(states))))).rowcount
    out["energy"] = conn.execute(delete(energy_hourly).where(and_(
        energy_hourly.c.hour_ts >= lo, energy_hourly.c.hour_ts < hi))).rowcount
    return out


def _energy_rows(chunk: pd.DataFrame) -> list[tuple]:
    """Rows of energy_hourly (cabinet_id, hour_ts, kwh, lamp_kwh, readings) as plain tuples."""
    kwh = chunk["kwh"].to_numpy(dtype=float)
    return list(zip(chunk["cabinet_id"].tolist(), chunk["hour_ts"].astype(np.int64).tolist(), kwh.tolist(),
                    np.round(kwh * 0.98, 4).tolist(), [_READINGS_PER_HOUR] * len(chunk)))


def _prefetched(chunks: Iterable[pd.DataFrame], depth: int = 2) -> Iterator[list[tuple]]:
    """Generate and convert the next chunks in a thread while the database writes this one."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            for chunk in chunks:
                q.put(_energy_rows(chunk))
        except BaseException as exc:  # handed over to the consumer, raised there
            failure.append(exc)
        finally:
            q.put(done)

    worker = threading.Thread(target=produce, name="backfill-energy", daemon=True)
    worker.start()
    while (item := q.get()) is not done:
        yield item
    worker.join()
    if failure:
        raise failure[0]


def _insert_energy(conn, rows: list[tuple]) -> int:
    if conn.dialect.name == "sqlite":
        stmt = energy_hourly.insert().values({c: bindparam(c) for c in _ENERGY_COLUMNS}).compile(dialect=conn.dialect)
        conn.exec_driver_sql(str(stmt), rows)
    else:
        conn.execute(energy_hourly.insert(), [dict(zip(_ENERGY_COLUMNS, row)) for row in rows])
    return len(rows)


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts with plain Python values (None for NaN/NaT)."""
    clean = frame.astype(object).where(frame.notna(), None)
    return clean.to_dict("records")


def _alert_rows(history: History, ids: range, seq: int) -> tuple[list[dict], list[dict], list[dict]]:
    a = history.alerts.copy()
    a["id"] = np.asarray(ids, dtype=np.int64)
    a["state"] = "closed"
    a["last_ts"] = a["resolved_ts"]
    a["closed_by"] = BACKFILL_ACTOR
    a["count"], a["flapping"], a["escalated"], a["seq"] = 1, False, False, seq
    steps = []
    for action, from_state, to_state, ts_col, actor_col in _STEPS:
        steps.append(pd.DataFrame({
            "alert_id": a["id"], "action": action, "from_state": from_state, "to_state": to_state,
            "severity": a["severity"], "ts": a[ts_col],
            "actor": a[actor_col] if actor_col else "system", "comment": None, "seq": seq}))
    transitions = pd.concat(steps, ignore_index=True).sort_values(["alert_id", "ts"], kind="stable")
    work = pd.DataFrame({"alert_id": a["id"], "team": a["assigned_team"], "opened_ts": a["in_progress_ts"],
                         "opened_by": a["acknowledged_by"], "closed_ts": a["resolved_ts"], "comment": None})
    columns = [c.name for c in alerts.columns if c.name in a.columns]
    return _records(a[columns]), _records(transitions), _records(work)


def write_history(store: Any, history: History, energy: Iterable[pd.DataFrame], *,
                  replace: bool = False, progress=None) -> dict[str, Any]:
    """Write a generated history and its energy chunks into the store; return counts and seconds taken."""
    t0 = time.perf_counter()
    lo, hi = _ms(history.start), _ms(history.end)
    states = set(history.intervals["state"])
    engine = store.engine

    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn:
        sqlite = conn.dialect.name == "sqlite"
        with conn.begin():
            if sqlite:  # a large page cache keeps the two energy indexes in memory while they grow
                conn.exec_driver_sql("PRAGMA cache_size=-262144")
            cleared = clear_window(conn, history.start, history.end, states) if replace else {}
            have = conn.scalar(select(func.count()).select_from(energy_hourly).where(
                and_(energy_hourly.c.hour_ts >= lo, energy_hourly.c.hour_ts < hi)))
            if have:
                raise BackfillConflict(f"the store already holds {have:,} energy rows between {history.start} and "
                                       f"{history.end}; pass --replace to overwrite the window")
            conn.execute(update(counters).where(counters.c.name == "seq").values(value=counters.c.value + 1))
            seq = conn.scalar(select(counters.c.value).where(counters.c.name == "seq"))
            n = len(history.alerts)
            conn.execute(update(counters).where(counters.c.name == "alert_id").values(value=counters.c.value + n))
            top = conn.scalar(select(counters.c.value).where(counters.c.name == "alert_id"))
            alert_rows, transitions, work = _alert_rows(history, range(top - n + 1, top + 1), seq)
            if alert_rows:
                conn.execute(alerts.insert(), alert_rows)
                conn.execute(alert_transitions.insert(), transitions)
                conn.execute(interventions.insert(), work)
            if len(history.intervals):
                conn.execute(state_intervals.insert(), _records(history.intervals))
        t_facts = time.perf_counter()
        energy_rows = 0
        # One transaction per chunk, so the live processor never waits on the lock for long.
        for rows in _prefetched(energy):
            with conn.begin():
                energy_rows += _insert_energy(conn, rows)
            if progress:
                progress(energy_rows)
        if sqlite:
            with conn.begin():
                conn.exec_driver_sql("PRAGMA cache_size=-2000")
    return {"alerts": n, "transitions": len(transitions), "interventions": len(work),
            "intervals": len(history.intervals), "feed_outages": len(history.outages), "energy_rows": energy_rows,
            "cleared": cleared, "seq": seq, "seconds": round(time.perf_counter() - t0, 2),
            "facts_seconds": round(t_facts - t0, 2)}
