"""Pure figure builders of the manager page: KPI trends, the commune choropleth, families and penalties.

`trend_series`, `family_rows` and `commune_values` turn the engine's results (a `KpiPage`) into
plain series; the `*_figure` functions turn plain series into plotly figures. Nothing here
reads the store. The choropleth is a plotly `Choropleth` on its own GeoJSON with the base map
hidden: no tiles, no network, no WebGL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go

from dashboard.i18n import month_label, number, t

__all__ = [
    "STATUS_COLOURS", "TREND_KEYS", "TrendSeries", "commune_figure", "commune_values", "communes_geojson",
    "empty_figure", "family_figure", "family_rows", "kpi_label", "margin_of", "penalties_figure", "status_of",
    "trend_figure", "trend_series",
]

STATUS_COLOURS = {"on_track": "#3ecf8e", "at_risk": "#ffb000", "breached": "#ff3344", "no_target": "#93a6ba",
                  "no_data": "#9c8fc4"}
# KPI key -> the history column of its monthly values (the target column, when it varies by month)
TREND_KEYS = {"energy_saving": ("energy_saving", "energy_target"), "interventions_on_time": ("interventions_on_time",
              None), "it_availability": ("it_availability", None)}
_BG = "#10161e"
_FG = "#dde6ef"
_GRID = "#243140"
_ACCENT = "#4ea1ff"


@dataclass(frozen=True)
class TrendSeries:
    """A KPI month by month: values, targets and status per month, and the forecast after the last month."""

    months: list[str]
    values: list[float | None]
    targets: list[float | None]
    statuses: list[str]
    forecast: dict[str, float] = field(default_factory=dict)
    forecast_kind: str = "flat"
    unit: str = "%"


def kpi_label(result, lang: str) -> str:
    """A KPI's name in the language (the engine carries both)."""
    return result.label_en if lang == "en" else result.label_fr


def margin_of(contract, key: str) -> float:
    """The at-risk margin (points) of a KPI under the contract, 0 when it has none."""
    if key == "energy_saving":
        return contract.energy.at_risk_margin_pts
    if key == "interventions_on_time":
        return contract.interventions.at_risk_margin_pts
    if key == "it_availability":
        return contract.it.at_risk_margin_pts
    if key.startswith("availability_"):
        return contract.family(key.removeprefix("availability_")).at_risk_margin_pts
    return 0.0


def status_of(value: float | None, target: float | None, margin: float) -> str:
    """The engine's status rule (`streams.kpi_formulas.status`) for one month of a trend."""
    from streams.kpi_formulas import status

    return status(value, target, margin)


def _columns(key: str) -> tuple[str, str | None] | None:
    if key in TREND_KEYS:
        return TREND_KEYS[key]
    return (key, None) if key.startswith("availability_") else None


def _clean(v) -> float | None:
    return None if v is None or v != v else float(v)


def _horizon(page) -> str:
    """The last month the forecast runs to: the end of the period's year, or of the contract."""
    contract = page.contract
    if page.period.kind == "contract":
        end = contract.end
        year, month = (end.year, end.month - 1) if end.month > 1 else (end.year - 1, 12)
        return f"{year}-{month:02d}"
    last = (page.period.end - pd.Timedelta(seconds=1)).tz_convert(contract.timezone)
    return f"{last.year}-12"


def trend_series(page, key: str) -> TrendSeries | None:
    """The monthly trend of a KPI with its forecast, None when the KPI has no monthly history.

    Energy uses the engine's seasonal forecast; the rates are carried forward at the mean of the
    last three complete months. The forecast shows only when the trend reaches the current month.
    """
    cols = _columns(key)
    history = page.history
    result = page.result(key)
    if cols is None or result is None or history is None or not len(history) or cols[0] not in history:
        return None
    months = [str(m) for m in history.index]
    values = [_clean(v) for v in history[cols[0]]]
    targets = [_clean(v) for v in history[cols[1]]] if cols[1] else [result.target] * len(months)
    margin = margin_of(page.contract, key)
    statuses = [status_of(v, tg, margin) for v, tg in zip(values, targets)]
    now = page.as_of.tz_convert(page.contract.timezone)
    current = f"{now.year}-{now.month:02d}"
    horizon = _horizon(page)
    forecast: dict[str, float] = {}
    kind = "flat"
    if months[-1] == current and horizon > current:
        if key == "energy_saving":
            kind = "seasonal"
            ahead = (result.details or {}).get("forecast_by_month") or {}
            forecast = {m: float(v) for m, v in sorted(ahead.items()) if current < m <= horizon and v == v}
        else:
            complete = [v for m, v in zip(months, values) if m < current and v is not None][-3:]
            if complete:
                level = sum(complete) / len(complete)
                forecast = {m: level for m in _months_after(current, horizon)}
    return TrendSeries(months, values, targets, statuses, forecast, kind, result.unit)


def _months_after(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    out = []
    while True:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        label = f"{year}-{month:02d}"
        if label > last:
            return out
        out.append(label)


def _layout(fig: go.Figure, height: int, **extra) -> go.Figure:
    extra.setdefault("margin", dict(l=8, r=8, t=8, b=8))
    fig.update_layout(height=height, paper_bgcolor=_BG, plot_bgcolor=_BG, font=dict(color=_FG, size=14),
                      hoverlabel=dict(font_size=14), **extra)
    return fig


def empty_figure(message: str, height: int = 300) -> go.Figure:
    """A blank figure that says why it is blank."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=16, color="#93a6ba"), x=0.5, y=0.5,
                       xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, height)


def trend_figure(series: TrendSeries, lang: str, height: int = 340) -> go.Figure:
    """Measured months (markers coloured and named by status), the target line and the dashed forecast."""
    x = [month_label(m, lang) for m in series.months]
    fx = [month_label(m, lang) for m in series.forecast]
    words = [t(f"kpistatus.{s}", lang) for s in series.statuses]
    unit = series.unit
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=x + fx, y=series.targets + [series.targets[-1]] * len(fx), name=t("mgr.objective", lang),
        mode="lines", line=dict(color="#c9d4e0", width=2, shape="hv"),
        hovertemplate="%{y:.1f} " + unit + "<extra>" + t("mgr.objective", lang) + "</extra>"))
    fig.add_trace(go.Scatter(
        x=x, y=series.values, name=t("mgr.measured", lang), mode="lines+markers", customdata=words,
        line=dict(color=_ACCENT, width=3), marker=dict(size=11, color=[STATUS_COLOURS[s] for s in series.statuses],
                                                       line=dict(color=_BG, width=1.5)),
        hovertemplate="%{x}: %{y:.2f} " + unit + " · %{customdata}<extra></extra>"))
    if series.forecast:
        name = t("mgr.forecast_seasonal" if series.forecast_kind == "seasonal" else "mgr.forecast_flat", lang)
        fig.add_trace(go.Scatter(
            x=x[-1:] + fx, y=series.values[-1:] + list(series.forecast.values()), name=name, mode="lines+markers",
            line=dict(color=_ACCENT, width=2.5, dash="dash"), marker=dict(size=7, symbol="circle-open"),
            hovertemplate="%{x}: %{y:.2f} " + unit + "<extra>" + name + "</extra>"))
    known = [v for v in series.values + series.targets + list(series.forecast.values()) if v is not None]
    lo, hi = (min(known), max(known)) if known else (0, 100)
    pad = max((hi - lo) * 0.15, 0.5)
    fig.update_xaxes(type="category", gridcolor=_GRID, tickangle=-45, tickfont=dict(size=12))
    fig.update_yaxes(gridcolor=_GRID, ticksuffix=f" {unit}", range=[lo - pad, min(hi + pad, 100.5) if unit == "%"
                                                                   else hi + pad])
    return _layout(fig, height, legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0, font=dict(size=13)),
                   margin=dict(l=8, r=8, t=36, b=8))


def commune_values(page, key: str) -> dict[str, float]:
    """A KPI's value per commune (INSEE code), empty when it has no breakdown by commune."""
    result = page.result(key)
    if result is None or not result.by_commune:
        return {}
    return {str(c): float(v) for c, v in result.by_commune.items() if v is not None and v == v}


def communes_geojson(communes) -> dict:
    """Commune boundaries (GeoDataFrame with `code`, `name`) as light GeoJSON, rings wound for plotly's geo maps."""
    from shapely.geometry import MultiPolygon, Polygon
    from shapely.geometry.polygon import orient

    def wound(geom):
        """Exterior rings clockwise, as d3-geo (plotly's geo maps) reads a polygon's inside."""
        if isinstance(geom, Polygon):
            return orient(geom, sign=-1.0)
        if isinstance(geom, MultiPolygon):
            return MultiPolygon([orient(p, sign=-1.0) for p in geom.geoms])
        return geom

    frame = communes[["code", "name", "geometry"]].to_crs("EPSG:4326").copy()
    frame["geometry"] = frame.geometry.simplify(0.0005, preserve_topology=True).apply(wound)
    frame["code"] = frame["code"].astype(str)
    inside = frame.geometry.representative_point()
    frame["lon"], frame["lat"] = inside.x.round(5), inside.y.round(5)
    return json.loads(frame.to_json(drop_id=True))


def _status_scale(values: list[float], target: float, margin: float, unit: str) -> dict:
    """A colour scale in steps of the contract's status: red below target, amber within the margin, green above."""
    lo = min(min(values), target - 1.0)
    hi = max(max(values), target + margin + 0.1)
    if unit == "%":
        hi = min(hi, 100.0) if hi > target + margin else hi
    span = max(hi - lo, 1e-9)
    pt = min(max((target - lo) / span, 0.0), 1.0)
    pm = min(max((target + margin - lo) / span, pt), 1.0)
    stops = [[0.0, "#ff3344"], [pt, "#ff8a1f"], [pt, "#ffb000"], [pm, "#ffb000"], [pm, "#9bd86a"], [1.0, "#3ecf8e"]]
    return dict(colorscale=stops, zmin=lo, zmax=hi)


def commune_figure(geojson: dict, values: dict[str, float], names: dict[str, str], *, target: float | None,
                   unit: str, label: str, lang: str, margin: float = 0.0, height: int = 340) -> go.Figure:
    """The communes coloured by a KPI in status steps (red below target, amber near it, green above), no base map.

    Communes below target or at risk are named on the map; every commune tells its value on hover.
    """
    feats = geojson["features"]
    codes = [f["properties"]["code"] for f in feats]
    z = [values.get(c) for c in codes]
    statuses = [status_of(v, target, margin) if target is not None else ("no_data" if v is None else "no_target")
                for v in z]
    words = [t(f"kpistatus.{st}", lang) for st in statuses]
    text = [f"{names.get(c, c)}<br>{number(v, lang, 2, unit)} · {w}" for c, v, w in zip(codes, z, words)]
    known = [v for v in z if v is not None]
    scale = (_status_scale(known, target, margin, unit) if target is not None and known
             else dict(colorscale="Blues", reversescale=unit == "%"))
    missing = [c for c, v in zip(codes, z) if v is None]
    fig = go.Figure()
    if missing:  # communes without a figure are drawn too, in grey, and say so
        fig.add_trace(go.Choropleth(
            geojson=geojson, locations=missing, z=[0] * len(missing), featureidkey="properties.code",
            colorscale=[[0, "#1b2633"], [1, "#1b2633"]], showscale=False, marker=dict(line=dict(color="#34465a")),
            text=[f"{names.get(c, c)}<br>{t('kpistatus.no_data', lang)}" for c in missing],
            hovertemplate="%{text}<extra></extra>"))
    known_codes = [c for c, v in zip(codes, z) if v is not None]
    fig.add_trace(go.Choropleth(
        geojson=geojson, locations=known_codes, z=[v for v in z if v is not None],
        featureidkey="properties.code", text=[x for x, v in zip(text, z) if v is not None],
        hovertemplate="%{text}<extra></extra>", marker=dict(line=dict(color="#0a0e13", width=1)),
        colorbar=dict(title=dict(text=unit, side="top"), thickness=14, len=0.85, tickfont=dict(size=12),
                      outlinewidth=0, x=1.0), **scale))
    flagged = [i for i, st in enumerate(statuses) if st in ("breached", "at_risk")]
    if flagged:
        fig.add_trace(go.Scattergeo(
            lon=[feats[i]["properties"]["lon"] for i in flagged], lat=[feats[i]["properties"]["lat"] for i in flagged],
            text=[f"{names.get(codes[i], codes[i])}<br>{number(z[i], lang, 1, unit)}" for i in flagged],
            mode="text", textfont=dict(size=12, color="#ffffff"), hoverinfo="skip", showlegend=False))
    fig.update_geos(fitbounds="locations", visible=False, bgcolor=_BG, projection_type="mercator")
    return _layout(fig, height, geo=dict(bgcolor=_BG), annotations=[dict(
        text=label, showarrow=False, x=0, y=1, xref="paper", yref="paper", xanchor="left", yanchor="top",
        font=dict(size=13, color="#93a6ba"))])


def family_rows(page, key: str, lang: str) -> list[tuple[str, float, float | None, str]]:
    """(label, value, target, status) per equipment family, domain or feed for a KPI; empty when none applies."""
    contract = page.contract
    result = page.result(key)
    if result is None:
        return []
    if key == "energy_saving":  # the energy KPI covers street lighting only
        fam = next((f for f in contract.families if "light" in f.kinds), None)
        label = (fam.label_en if lang == "en" else fam.label_fr) if fam else t("domain.lighting", lang)
        return [(label, result.value, result.target, result.status)] if result.value is not None else []
    if key.startswith("availability_"):
        rows = []
        for fam in contract.families:
            r = page.result(f"availability_{fam.key}")
            if r is not None and r.value is not None:
                rows.append((fam.label_en if lang == "en" else fam.label_fr, r.value, r.target, r.status))
        return rows
    if key == "it_availability":
        feeds = (result.details or {}).get("by_feed") or {}
        return [(feed, float(v), result.target, status_of(float(v), result.target, margin_of(contract, key)))
                for feed, v in feeds.items() if v is not None]
    if key == "penalties":
        labels = {r.key: kpi_label(r, lang) for r in page.results}
        return [(labels.get(k, k), float(v), None, "no_target") for k, v in (result.by_family or {}).items()]
    margin = margin_of(contract, key)
    return [(t(f"domain.{d}", lang), float(v), result.target, status_of(float(v), result.target, margin)
             if result.target is not None else "no_target")
            for d, v in (result.by_family or {}).items() if v is not None and v == v]


def family_figure(rows: list[tuple[str, float, float | None, str]], unit: str, lang: str,
                  height: int = 250) -> go.Figure:
    """Horizontal bars per family coloured by status, each labelled with its value and status word."""
    decimals = 0 if unit == "EUR" else 2
    shown = unit if unit != "EUR" else "€"
    labels = [r[0] for r in rows]
    text = [number(r[1], lang, decimals, shown) + ("" if r[3] == "no_target" else " · " + t(f"kpistatus.{r[3]}", lang))
            for r in rows]
    fig = go.Figure(go.Bar(
        y=labels, x=[r[1] for r in rows], orientation="h", text=text, textposition="none",
        marker=dict(color=[STATUS_COLOURS.get(r[3], _ACCENT) if r[3] != "no_target" else _ACCENT for r in rows]),
        hovertemplate="%{y}: %{text}<extra></extra>"))
    targets = [r[2] for r in rows if r[2] is not None]
    if targets and unit == "%":
        lo = min(min(r[1] for r in rows), min(targets))
        fig.update_xaxes(range=[max(0.0, lo - max(2.0, (100 - lo) * 0.5)), 100.0])
        for i, r in enumerate(rows):
            if r[2] is not None:
                fig.add_shape(type="line", x0=r[2], x1=r[2], y0=i - 0.45, y1=i + 0.45,
                              line=dict(color="#ffffff", width=3, dash="dot"))
    for label, words in zip(labels, text):  # the value and status in words at the left of each bar
        fig.add_annotation(x=0.01, xref="x domain", y=label, yref="y", text=words, showarrow=False, xanchor="left",
                           font=dict(size=14, color="#ffffff"), bgcolor="rgba(10, 14, 19, 0.75)", borderpad=3)
    fig.update_xaxes(gridcolor=_GRID, ticksuffix=f" {shown}")
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=14))
    return _layout(fig, max(height, 60 + 40 * len(rows)), bargap=0.3)


def penalties_figure(history, labels: dict[str, str], cap: float, lang: str, height: int = 250) -> go.Figure:
    """Penalties of each month stacked by KPI (before the cap), with the monthly cap as a dashed line."""
    cols = [c for c in history.columns if c.startswith("penalty_") and float(history[c].fillna(0).sum()) > 0]
    months = [month_label(str(m), lang) for m in history.index]
    fig = go.Figure()
    palette = ("#ff8a1f", "#ff3344", "#c779ff", "#58a6ff", "#ffd23f", "#12b5a6")
    for i, col in enumerate(cols):
        key = col.removeprefix("penalty_")
        fig.add_trace(go.Bar(x=months, y=history[col].fillna(0).tolist(), name=labels.get(key, key),
                             marker_color=palette[i % len(palette)],
                             hovertemplate="%{x}: %{y:,.0f} €<extra>%{fullData.name}</extra>"))
    fig.add_trace(go.Scatter(x=months, y=[cap] * len(months), mode="lines", name=t("mgr.cap_line", lang),
                             line=dict(color="#c9d4e0", dash="dash", width=2), hoverinfo="skip"))
    fig.update_xaxes(type="category", gridcolor=_GRID, tickangle=-45, tickfont=dict(size=12))
    fig.update_yaxes(gridcolor=_GRID, ticksuffix=" €", separatethousands=True)
    return _layout(fig, height, barmode="stack", separators=", " if lang == "fr" else ".,",
                   legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0, font=dict(size=13)),
                   margin=dict(l=8, r=8, t=36, b=8))

