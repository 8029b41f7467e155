"""Pure figure builders of the operator room (plain data in, plotly figure out)."""

from __future__ import annotations

from datetime import datetime, timezone

import plotly.graph_objects as go

from dashboard.i18n import t

__all__ = ["STATE_COLOURS", "history_figure"]

STATE_COLOURS = {0: "#2f7fb5", 1: "#ffb000", 2: "#ff3344", 3: "#9c8fc4"}
_BG = "#111821"
_FG = "#c9d4e0"


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def history_figure(intervals: list[dict], since_ms: int, now_ms: int, lang: str) -> go.Figure:
    """A state timeline over [since, now]: one coloured bar per interval ({start, end, code} in epoch ms)."""
    fig = go.Figure()
    by_code: dict[int, list[dict]] = {}
    for iv in intervals:
        start = max(int(iv["start"]), since_ms)
        end = min(int(iv.get("end") or now_ms), now_ms)
        if end > start:
            by_code.setdefault(int(iv.get("code", 0)), []).append({"start": start, "end": end})
    for code, spans in sorted(by_code.items()):
        fig.add_trace(go.Bar(
            x=[s["end"] - s["start"] for s in spans], base=[_dt(s["start"]) for s in spans],
            y=[t("chart.state", lang)] * len(spans), orientation="h", marker_color=STATE_COLOURS.get(code, "#888"),
            name=t(f"state.{code}", lang), hovertemplate="%{base|%H:%M} → %{x}<extra>%{fullData.name}</extra>",
        ))
    fig.update_layout(
        barmode="overlay", height=120, margin=dict(l=8, r=8, t=8, b=28), paper_bgcolor=_BG, plot_bgcolor=_BG,
        font=dict(color=_FG, size=13), showlegend=True,
        legend=dict(orientation="h", y=-0.45, x=0, font=dict(size=12)),
    )
    fig.update_xaxes(type="date", range=[_dt(since_ms), _dt(now_ms)], gridcolor="#233040", tickformat="%H:%M")
    fig.update_yaxes(showticklabels=False)
    return fig
