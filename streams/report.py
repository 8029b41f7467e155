"""The monthly contract report: CSV tables of the numbers and a PDF with the figures and charts.

The PDF is drawn with matplotlib (its PDF backend needs no browser, unlike plotly's kaleido,
and no network): page 1 is the KPI table with status colours, page 2 the twelve-month trends
against their targets with the energy forecast, page 3 the penalties per month and the energy
saving per commune (a choropleth when commune boundaries are given). The tables are CSV
(UTF-8 with BOM, so spreadsheet software opens the accents right); XLSX would need openpyxl.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from streams.kpi import KpiResult
from streams.kpi_periods import Period

__all__ = ["ReportFiles", "STATUS_COLOURS", "kpi_table", "commune_table", "write_report"]

STATUS_COLOURS = {"on_track": "#2e7d32", "at_risk": "#ef6c00", "breached": "#c62828", "no_target": "#616161",
                  "no_data": "#9e9e9e"}
_STATUS_FR = {"on_track": "conforme", "at_risk": "à risque", "breached": "non conforme", "no_target": "—",
              "no_data": "pas de données"}


@dataclass(frozen=True)
class ReportFiles:
    """Where the report's files were written."""

    pdf: Path
    kpis_csv: Path
    history_csv: Path
    communes_csv: Path


def kpi_table(results: Sequence[KpiResult]) -> pd.DataFrame:
    """One row per KPI: key, labels, value, unit, target, status and penalty."""
    return pd.DataFrame([{
        "key": r.key, "label_fr": r.label_fr, "label_en": r.label_en, "value": r.value, "unit": r.unit,
        "target": r.target, "status": r.status, "penalty_eur": r.penalty_eur,
    } for r in results])


def commune_table(results: Sequence[KpiResult], names: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per commune, one column per KPI that has a breakdown by commune."""
    columns = {r.key: pd.Series(dict(r.by_commune), dtype=float) for r in results if r.by_commune}
    table = pd.DataFrame(columns).sort_index()
    table.index.name = "commune_code"
    if names:
        table.insert(0, "commune", [names.get(c, c) for c in table.index])
    return table


def _csv(frame: pd.DataFrame, path: Path, index: bool) -> Path:
    frame.to_csv(path, index=index, encoding="utf-8-sig", quoting=csv.QUOTE_MINIMAL, float_format="%.4f")
    return path


def _fmt(value, unit: str) -> str:
    if value is None or value != value:
        return "—"
    if unit == "EUR":
        return f"{value:,.0f} €".replace(",", " ")
    if unit == "%":
        return f"{value:.2f} %"
    return f"{value:,.1f} {unit}".replace(",", " ")


def _table_page(plt, results, period: Period, title: str, as_of: pd.Timestamp):
    fig = plt.figure(figsize=(11.69, 8.27))
    fig.text(0.05, 0.93, title, fontsize=18, weight="bold")
    fig.text(0.05, 0.89, f"Période {period.label} ({period.kind}) — données au {as_of:%Y-%m-%d %H:%M} UTC",
             fontsize=11)
    ax = fig.add_axes([0.05, 0.12, 0.9, 0.72])
    ax.axis("off")
    rows = [[r.label_fr, _fmt(r.value, r.unit), _fmt(r.target, r.unit), _STATUS_FR.get(r.status, r.status),
             _fmt(r.penalty_eur, "EUR")] for r in results]
    table = ax.table(cellText=rows, colLabels=["Indicateur", "Valeur", "Objectif", "Statut", "Pénalités"],
                     loc="upper center", cellLoc="left", colWidths=[0.42, 0.15, 0.13, 0.15, 0.15])
    table.auto_set_font_size(False)
    table.set_fontsize(10)
    table.scale(1, 1.8)
    for i, r in enumerate(results, start=1):
        table[i, 3].get_text().set_color(STATUS_COLOURS.get(r.status, "black"))
        table[i, 3].get_text().set_weight("bold")
    energy = next((r for r in results if r.key == "energy_saving"), None)
    if energy is not None and energy.details.get("forecast_year_end_pct") is not None:
        fig.text(0.05, 0.07, f"Prévision d'économie d'énergie : {energy.details['forecast_year_end_pct']:.1f} % en fin "
                 f"d'année, {energy.details['forecast_contract_end_pct']:.1f} % sur les 12 derniers mois du contrat "
                 f"(objectif {energy.details['contract_target_pct']:.0f} %). Méthode : "
                 f"{energy.details['forecast_method']}.", fontsize=8, wrap=True)
    return fig


def _trend_page(plt, history: pd.DataFrame, results, contract):
    fig, axes = plt.subplots(2, 2, figsize=(11.69, 8.27))
    months = list(history.index)
    x = range(len(months))
    energy_months = months
    energy = next((r for r in results if r.key == "energy_saving"), None)
    ax = axes[0][0]
    ax.plot(x, history["energy_saving"], marker="o", label="économie mesurée")
    ax.step(x, history["energy_target"], where="mid", color="black", linestyle="--", label="trajectoire")
    if energy is not None:
        ahead = {k: v for k, v in energy.details.get("forecast_by_month", {}).items()}
        future = [k for k in sorted(ahead) if k > months[-1]][:6]
        if future:
            fx = range(len(months) - 1, len(months) + len(future))
            ax.plot(list(fx), [history["energy_saving"].iloc[-1]] + [ahead[k] for k in future], linestyle=":",
                    marker=".", color="tab:blue", label="prévision")
            energy_months = months + future
    ax.set_title("Économie d'énergie (%)")
    ax.legend(fontsize=7)
    ax = axes[0][1]
    ax.plot(x, history["interventions_on_time"], marker="o")
    ax.axhline(contract.interventions.compliance_target_pct, color="black", linestyle="--")
    ax.set_title("Interventions dans les délais (%)")
    ax = axes[1][0]
    for fam in contract.families:
        ax.plot(x, history[f"availability_{fam.key}"], marker=".", label=fam.label_fr)
        ax.axhline(fam.target_pct, linestyle=":", linewidth=0.8)
    ax.plot(x, history["it_availability"], marker=".", color="black", label="Systèmes informatiques")
    ax.set_title("Disponibilité (%)")
    ax.legend(fontsize=7)
    ax = axes[1][1]
    ax.bar(list(x), history["penalties"], color="#c62828")
    ax.set_title("Pénalités par mois (€, plafonnées)")
    for a in axes.ravel():
        labels = energy_months if a is axes[0][0] else months
        a.set_xticks(range(len(labels)))
        a.set_xticklabels(labels, rotation=60, fontsize=7)
        a.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _commune_page(plt, results, communes, names):
    energy = next((r for r in results if r.key == "energy_saving"), None)
    fig, ax = plt.subplots(figsize=(11.69, 8.27))
    values = pd.Series(dict(energy.by_commune) if energy and energy.by_commune else {}, dtype=float)
    if communes is not None and len(values):
        shapes = communes.merge(values.rename("saving"), left_on="code", right_index=True, how="left")
        shapes.plot(column="saving", cmap="YlGn", legend=True, ax=ax, edgecolor="white",
                    missing_kwds={"color": "lightgrey"}, legend_kwds={"label": "économie d'énergie (%)"})
        for _, row in shapes.iterrows():
            point = row.geometry.representative_point()
            ax.annotate(str(row.get("name", row["code"]))[:14], (point.x, point.y), fontsize=6, ha="center")
        approx = bool(shapes.get("approximate", pd.Series([False])).any())
        ax.set_title("Économie d'énergie par commune" + (" (limites communales approximatives)" if approx else ""))
        ax.set_axis_off()
    else:
        labels = [names.get(c, c) for c in values.index]
        ax.barh(labels, values.to_numpy(), color="tab:green")
        ax.set_title("Économie d'énergie par commune (%)")
    return fig


def write_report(results: Sequence[KpiResult], history: pd.DataFrame, period: Period, contract, out_dir: str | Path,
                 *, as_of: pd.Timestamp, communes=None, progress: Callable[[str], None] | None = None) -> ReportFiles:
    """Write the CSV tables and the PDF of a period's KPIs into `out_dir`; return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"vigie-contrat-{period.label}"
    names = dict(zip(communes["code"], communes["name"])) if communes is not None else {}
    step = progress or (lambda _msg: None)
    step("tables")
    kpis_csv = _csv(kpi_table(results), out / f"{stem}-kpi.csv", index=False)
    history_csv = _csv(history, out / f"{stem}-historique.csv", index=True)
    communes_csv = _csv(commune_table(results, names), out / f"{stem}-communes.csv", index=True)
    pdf = out / f"{stem}.pdf"
    with PdfPages(pdf) as doc:
        info = doc.infodict()
        info["Title"] = f"Rapport mensuel du contrat — {period.label}"
        info["Author"] = "Vigie"
        pages = [("table", lambda: _table_page(plt, results, period, "Rapport mensuel du contrat", as_of))]
        if len(history):
            pages.append(("trends", lambda: _trend_page(plt, history, results, contract)))
        pages.append(("communes", lambda: _commune_page(plt, results, communes, names)))
        for name, draw in pages:
            step(name)
            fig = draw()
            doc.savefig(fig)
            plt.close(fig)
    return ReportFiles(pdf=pdf, kpis_csv=kpis_csv, history_csv=history_csv, communes_csv=communes_csv)
