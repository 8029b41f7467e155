"""The monthly report: the files open and hold the engine's numbers."""

from __future__ import annotations

import importlib.util
import pathlib

import pandas as pd
import pytest

from streams.contract import load_contract
from streams.kpi import compute_kpis, kpi_history
from streams.kpi_periods import month
from streams.report import commune_table, kpi_table, write_report

pytest.importorskip("matplotlib")


def _frames(contract):
    """The hand-made month of the KPI tests (loaded by path: the tests run in importlib mode)."""
    spec = importlib.util.spec_from_file_location("kpi_fixtures", pathlib.Path(__file__).with_name("test_kpi.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._frames(contract)


def test_report_files_hold_the_engine_numbers(tmp_path):
    contract = load_contract()
    frames = _frames(contract)
    p = month(contract, 2025, 1)
    results = compute_kpis(frames, contract, p)
    history = kpi_history(frames, contract, p)
    steps = []
    files = write_report(results, history, p, contract, tmp_path, as_of=frames.as_of, progress=steps.append)
    assert files.pdf.read_bytes().startswith(b"%PDF")
    assert steps == ["tables", "table", "trends", "communes"]
    table = pd.read_csv(files.kpis_csv, encoding="utf-8-sig").set_index("key")
    for r in results:
        if r.value is None:
            assert pd.isna(table.loc[r.key, "value"])
        else:
            assert table.loc[r.key, "value"] == pytest.approx(r.value, abs=1e-4)
        assert table.loc[r.key, "status"] == r.status
    hist = pd.read_csv(files.history_csv, encoding="utf-8-sig", index_col=0)
    assert hist.loc["2025-01", "energy_saving"] == pytest.approx(70.0, abs=1e-4)
    communes = pd.read_csv(files.communes_csv, encoding="utf-8-sig", index_col=0, dtype={"commune_code": str})
    assert communes.loc["21231", "energy_saving"] == pytest.approx(70.0, abs=1e-4)


def test_tables_without_breakdowns():
    contract = load_contract()
    results = compute_kpis(_frames(contract), contract, month(contract, 2025, 1))
    assert list(kpi_table(results)["key"])[:2] == ["energy_saving", "interventions_on_time"]
    table = commune_table(results, {"21231": "Dijon"})
    assert table.loc["21231", "commune"] == "Dijon"
