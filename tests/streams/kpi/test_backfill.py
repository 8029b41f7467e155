"""The history generator: deterministic, physically sensible, fast, and the same numbers through the store."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from streams.backfill import dimming_level, energy_chunks, generate_history
from streams.backfill_store import BackfillConflict, write_history
from streams.contract import load_contract
from streams.darkness import dark_fraction
from streams.kpi import compute_kpis
from streams.kpi_periods import month
from streams.kpi_store import frames_from_tables, read_frames
from streams.store import Store, dispose_engines

END = pd.Timestamp("2025-03-01", tz="UTC")
START = END - pd.Timedelta(days=14)


@pytest.fixture(scope="module")
def contract():
    return load_contract()


@pytest.fixture(scope="module")
def assets() -> pd.DataFrame:
    """A tiny inventory: three cabinets of ten lamps (one renovated in the window), two signals, three cameras."""
    rows = []
    for c, commune in enumerate(("21231", "21231", "21270")):
        cab = f"CAB-{c + 1:04d}"
        rows.append(dict(asset_id=cab, kind="cabinet", commune_code=commune, cabinet_id=None, wattage_w=400.0,
                         baseline_w=1000.0, renovated_on=pd.NaT, lamps_total=10))
        for k in range(10):
            renovated = pd.Timestamp("2025-02-20") if c == 0 and k == 0 else pd.Timestamp("2019-05-01")
            rows.append(dict(asset_id=f"LP-{c * 10 + k + 1:06d}", kind="light", commune_code=commune, cabinet_id=cab,
                             wattage_w=40.0, baseline_w=100.0, renovated_on=renovated, lamps_total=0))
    rows += [dict(asset_id=f"SIG-{i}", kind="signal", commune_code="21231", cabinet_id=None, wattage_w=0.0,
                  baseline_w=0.0, renovated_on=pd.NaT, lamps_total=0) for i in (1, 2)]
    rows += [dict(asset_id=f"CAM-{i}", kind="camera", commune_code="21231", cabinet_id=None, wattage_w=0.0,
                  baseline_w=0.0, renovated_on=pd.NaT, lamps_total=0) for i in (1, 2, 3)]
    frame = pd.DataFrame(rows)
    frame["lat"], frame["lon"] = 47.32, 5.04
    return frame


def _energy(assets, contract, seed=7, start=START, end=END):
    return pd.concat(list(energy_chunks(assets, contract, start, end, seed=seed, chunk_days=5)), ignore_index=True)


def test_same_seed_same_history(assets, contract):
    a = generate_history(assets, contract, START, END, seed=7)
    b = generate_history(assets, contract, START, END, seed=7)
    c = generate_history(assets, contract, START, END, seed=8)
    pd.testing.assert_frame_equal(a.alerts, b.alerts)
    pd.testing.assert_frame_equal(a.intervals, b.intervals)
    pd.testing.assert_frame_equal(a.outages, b.outages)
    pd.testing.assert_frame_equal(_energy(assets, contract), _energy(assets, contract))
    assert not a.alerts["opened_ts"].equals(c.alerts["opened_ts"])


def test_history_is_consistent(assets, contract):
    h = generate_history(assets, contract, START, END, seed=7)
    lo, hi = START.value // 10**6, END.value // 10**6
    assert len(h.alerts) > 100  # about 25 citizen reports a day
    assert set(h.alerts["priority"]) <= {"P1", "P2", "P3"}
    assert h.alerts["opened_ts"].between(lo, hi).all() and (h.alerts["resolved_ts"] < hi).all()
    life = h.alerts[["opened_ts", "acknowledged_ts", "in_progress_ts", "resolved_ts", "closed_ts"]].to_numpy()
    assert (np.diff(life, axis=1) >= 0).all()  # opened <= acknowledged <= dispatched <= resolved <= closed
    assert (h.intervals["end_ts"] > h.intervals["start_ts"]).all() and (h.intervals["end_ts"] < hi).all()
    per_asset = h.intervals.sort_values(["asset_id", "start_ts"])
    same = per_asset["asset_id"].eq(per_asset["asset_id"].shift())
    assert not (same & (per_asset["start_ts"] < per_asset["end_ts"].shift())).any()  # one state at a time
    due = h.alerts["opened_ts"] + h.alerts["priority"].map(contract.interventions.delays_h) * 3_600_000
    late = (h.alerts["resolved_ts"] > due).mean()
    assert 0.0 < late < 0.25  # some late, most on time
    assert set(h.outages["feed"]) <= set(contract.it.feeds)
    feed_alerts = h.alerts[h.alerts["rule"] == "feed_down"]
    assert len(feed_alerts) == len(h.outages)


def test_dimming_programme():
    hours = pd.DatetimeIndex(pd.to_datetime([
        "2021-01-10 20:30", "2021-01-10 21:30",  # before the 2022 plan: 70 % from 22:00 (Paris is UTC+1)
        "2023-01-10 21:30", "2023-01-10 22:30", "2023-01-11 00:30",  # after: 50 % from 23:00
    ]).tz_localize("UTC"))
    level = dimming_level(hours, np.array(["21231", "21270"]), "Europe/Paris")
    assert level[0].tolist() == [1.0, 0.7, 1.0, 0.5, 0.5]
    assert level[1].tolist() == [1.0, 0.7, 1.0, 0.5, 0.0]  # Flavignerot switches off from midnight


def test_energy_follows_wattage_night_and_dimming(assets, contract):
    energy = _energy(assets, contract)
    assert (energy["kwh"] > 0).all()
    hour = pd.Timestamp("2025-02-25 02:00", tz="UTC")  # 03:00 in Paris: dimmed to 50 %, fully dark
    assert dark_fraction(pd.DatetimeIndex([hour]), contract.lat, contract.lon)[0] == 1.0
    at = energy[energy["hour_ts"] == hour.value // 10**6].set_index("cabinet_id")["kwh"]
    # CAB-0001: ten LED lamps of 40 W at 50 % = 0.2 kWh; CAB-0003 (Flavignerot) is off; noise within 6 %
    assert at["CAB-0001"] == pytest.approx(0.2, rel=0.06)
    assert "CAB-0003" not in at.index or at["CAB-0003"] == 0.0
    before = pd.Timestamp("2025-02-18 02:00", tz="UTC")  # one lamp still sodium (100 W, not dimmable)
    at = energy[energy["hour_ts"] == before.value // 10**6].set_index("cabinet_id")["kwh"]
    assert at["CAB-0001"] == pytest.approx((9 * 40 * 0.5 + 100) / 1000, rel=0.06)
    noon = pd.Timestamp("2025-02-25 12:00", tz="UTC").value // 10**6
    assert not (energy["hour_ts"] == noon).any()


def test_generation_is_fast(assets, contract):
    t0 = time.perf_counter()
    generate_history(assets, contract, END - pd.Timedelta(days=60), END, seed=1)
    _energy(assets, contract, start=END - pd.Timedelta(days=60))
    assert time.perf_counter() - t0 < 5.0


@pytest.fixture()
def store(tmp_path):
    s = Store.from_url(f"sqlite:///{tmp_path / 'vigie.db'}")
    yield s
    dispose_engines()


def test_written_history_gives_the_same_kpis(store, assets, contract):
    history = generate_history(assets, contract, START, END, seed=7)
    energy = _energy(assets, contract)
    done = write_history(store, history, iter([energy]))
    assert done["energy_rows"] == len(energy) and done["alerts"] == len(history.alerts)
    assert done["interventions"] == len(history.alerts) and done["transitions"] == 5 * len(history.alerts)
    p = month(contract, 2025, 2)
    from_store = read_frames(store, contract, assets, as_of=END, since=p.start)
    in_memory = frames_from_tables(assets, as_of=END, energy=energy, intervals=history.intervals,
                                   alert_rows=history.alerts)
    a = {r.key: r for r in compute_kpis(from_store, contract, p)}
    b = {r.key: r for r in compute_kpis(in_memory, contract, p)}
    for key in a:
        assert a[key].value == pytest.approx(b[key].value, rel=1e-9, abs=1e-9), key
        assert a[key].status == b[key].status, key
    assert a["energy_saving"].by_commune == pytest.approx(b["energy_saving"].by_commune)
    assert a["interventions_on_time"].details["due"] > 50


def test_a_second_backfill_needs_replace(store, assets, contract):
    history = generate_history(assets, contract, START, END, seed=7)
    write_history(store, history, iter([_energy(assets, contract)]))
    with pytest.raises(BackfillConflict, match="--replace"):
        write_history(store, history, iter([_energy(assets, contract)]))
    done = write_history(store, history, iter([_energy(assets, contract)]), replace=True)
    assert done["cleared"]["alerts"] == len(history.alerts)
    assert done["cleared"]["energy"] == done["energy_rows"]
    with store.engine.connect() as conn:
        from sqlalchemy import func, select

        from streams.store.schema import alerts
        assert conn.scalar(select(func.count()).select_from(alerts)) == len(history.alerts)


def test_a_failing_energy_generator_is_reported(store, assets, contract):
    history = generate_history(assets, contract, START, END, seed=7)

    def broken():
        yield _energy(assets, contract)
        raise RuntimeError("generator broke")

    with pytest.raises(RuntimeError, match="generator broke"):
        write_history(store, history, broken())
