"""The manager page's KPI cards: value, target, status in colour and in words, penalty at stake."""

from __future__ import annotations

from dash import html

from dashboard import ids
from dashboard.i18n import number, t
from layouts.components.kpi_figures import kpi_label

__all__ = ["STATUS_ICONS", "format_value", "kpi_card", "kpi_cards"]

# a shape with each status word, so the status never rests on colour alone
STATUS_ICONS = {"on_track": "✓", "at_risk": "▲", "breached": "✕", "no_target": "•", "no_data": "?"}


def format_value(value: float | None, unit: str, lang: str) -> str:
    """A KPI value with its unit as the page shows it ('99,89 %', '110 900 €', '24,6 h', '3 incidents')."""
    if unit == "%":
        return number(value, lang, 2, "%")
    if unit == "EUR":
        return number(value, lang, 0, "€")
    if unit == "h":
        return number(value, lang, 1, "h")
    return number(value, lang, 0)


def _extra(result, lang: str, page) -> str | None:
    details = result.details or {}
    if result.key == "energy_saving" and details.get("forecast_year_end_pct") is not None:
        year = page.as_of.tz_convert(page.contract.timezone).year
        return t("mgr.forecast_year", lang, year=year, value=number(details["forecast_year_end_pct"], lang, 1, "%"))
    if result.key == "backlog":
        return t("mgr.overdue", lang, n=details.get("overdue", 0))
    if result.key == "mttr" and details.get("resolved") is not None:
        return t("mgr.repairs", lang, n=number(details["resolved"], lang, 0))
    if result.key == "penalties":
        return t("mgr.cap", lang, value=number(details.get("monthly_cap_eur"), lang, 0, "€"))
    return None


def kpi_card(result, lang: str, *, selected: bool = False, page=None) -> html.Div:
    """One KPI as a clickable card (clicking selects it for the trend and the breakdowns)."""
    status = result.status
    target = (t("mgr.target", lang, value=format_value(result.target, result.unit, lang))
              if result.target is not None else t("mgr.no_target", lang))
    lines = [html.Div(target, className="card-target")]
    if result.key != "penalties" and result.target is not None:
        lines.append(html.Div(t("mgr.penalty", lang, value=format_value(result.penalty_eur, "EUR", lang))
                              if result.penalty_eur else t("mgr.no_penalty", lang),
                              className="card-penalty" + (" has-penalty" if result.penalty_eur else "")))
    extra = _extra(result, lang, page) if page is not None else None
    if extra:
        lines.append(html.Div(extra, className="card-extra"))
    return html.Div(
        id={"type": ids.MGR_CARD, "key": result.key}, n_clicks=0, role="button", tabIndex="0",
        className=f"kpi-card st-{status}" + (" selected" if selected else ""),
        **{"data-key": result.key, "data-status": status},
        children=[
            html.Div(kpi_label(result, lang), className="card-label"),
            html.Div(className="card-main", children=[
                html.Span(format_value(result.value, result.unit, lang), className="card-value"),
                html.Span([html.Span(STATUS_ICONS.get(status, ""), className="status-icon"),
                           t(f"kpistatus.{status}", lang)], className=f"status-badge st-{status}"),
            ]),
            *lines,
        ])


def kpi_cards(page, selected: str | None, lang: str) -> list:
    """A card per KPI of the page, in the engine's order."""
    return [kpi_card(r, lang, selected=r.key == selected, page=page) for r in page.results]
