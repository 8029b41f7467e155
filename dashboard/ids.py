"""Component ids of the operator room, in one place so layouts, callbacks and tests agree."""

from __future__ import annotations

__all__ = [
    "ACTION_ACK", "ACTION_ASSIGN", "ACTION_CLOSE", "ACTION_COMMENT", "ACTION_FEEDBACK", "ACTION_RESOLVE",
    "ACTION_TEAM", "ALARM_SINK", "ALERT_GRID", "ALERT_VERSION", "ASSET_PANEL", "BANNER", "CLOCK", "CLOCK_DATE",
    "CONNECTION", "DETAIL_TABS", "FILTER_COMMUNE", "FILTER_DOMAIN", "FILTER_SEVERITY", "FILTER_STATUS",
    "HEADER_KPIS", "HEADER_SEVERITY", "HEALTH_PANEL", "INTERVAL_FAST", "INTERVAL_SLOW", "LANG", "LANG_SWITCH",
    "LAYERS_CONTROL", "LAYER_ALERTS", "LAYER_BOLLARDS", "LAYER_CABINETS", "LAYER_CAMERAS", "LAYER_COMMUNES",
    "LAYER_FAULTS", "LAYER_LIGHTS", "LAYER_REPORTS", "LAYER_SIGNALS", "LAYER_WEATHER", "LIVE_LAYERS",
    "LOCATION", "MAP", "MUTE", "MUTE_BUTTON", "NEW_CRITICAL", "PAGE", "PANEL_DIGEST", "SELECTED_ASSET", "SEQ",
    "STATUS", "TICK_SINK",
    "EXPORT_JOB", "INTERVAL_EXPORT", "INTERVAL_KPI", "MANAGER", "MGR_ASOF", "MGR_CARD", "MGR_CARDS", "MGR_DRILL",
    "MGR_EXPORT", "MGR_EXPORT_STATUS", "MGR_FAMILY", "MGR_MAP", "MGR_MONTH", "MGR_PENALTIES", "MGR_PERIOD",
    "MGR_SELECTED", "MGR_TREND", "NAV", "PATH_MANAGER", "PATH_OPERATOR", "SHELL",
]

# shell: location, stores, intervals
LOCATION = "location"
PAGE = "page-container"
LANG = "lang-store"
SEQ = "seq-store"
ALERT_VERSION = "alert-version-store"
STATUS = "status-store"
SELECTED_ASSET = "selected-asset-store"
NEW_CRITICAL = "new-critical-store"
MUTE = "mute-store"
ALARM_SINK = "alarm-sink"
TICK_SINK = "tick-sink"
INTERVAL_FAST = "interval-fast"
INTERVAL_SLOW = "interval-slow"

# pages: the path of each, and the shell element whose class says which one is shown
PATH_OPERATOR = "/"
PATH_MANAGER = "/contrat"
SHELL = "shell"
NAV = "page-switch"
INTERVAL_KPI = "interval-kpi"
INTERVAL_EXPORT = "interval-export"
EXPORT_JOB = "export-job-store"

# header strip
LANG_SWITCH = "lang-switch"
CLOCK = "clock"
CLOCK_DATE = "clock-date"
MUTE_BUTTON = "mute-button"
BANNER = "stale-banner"
CONNECTION = "connection-banner"
HEADER_KPIS = "header-kpis"
HEADER_SEVERITY = "header-severity"

# map and its layers
MAP = "map"
LAYERS_CONTROL = "layers-control"
LAYER_COMMUNES = "layer-communes"
LAYER_LIGHTS = "layer-lights"
LAYER_FAULTS = "layer-faults"
LAYER_CABINETS = "layer-cabinets"
LAYER_SIGNALS = "layer-signals"
LAYER_CAMERAS = "layer-cameras"
LAYER_WEATHER = "layer-weather"
LAYER_BOLLARDS = "layer-bollards"
LAYER_REPORTS = "layer-reports"
LAYER_ALERTS = "layer-alerts"
# asset layers whose live state arrives in `hideout`, by asset kind
LIVE_LAYERS = {
    "light": LAYER_LIGHTS,
    "cabinet": LAYER_CABINETS,
    "signal": LAYER_SIGNALS,
    "camera": LAYER_CAMERAS,
    "weather": LAYER_WEATHER,
    "bollard": LAYER_BOLLARDS,
}

# operator page
DETAIL_TABS = "detail-tabs"
ALERT_GRID = "alert-grid"
FILTER_DOMAIN = "filter-domain"
FILTER_COMMUNE = "filter-commune"
FILTER_SEVERITY = "filter-severity"
FILTER_STATUS = "filter-status"
ACTION_ACK = "action-ack"
ACTION_ASSIGN = "action-assign"
ACTION_TEAM = "action-team"
ACTION_RESOLVE = "action-resolve"
ACTION_CLOSE = "action-close"
ACTION_COMMENT = "action-comment"
ACTION_FEEDBACK = "action-feedback"
ASSET_PANEL = "asset-panel"
PANEL_DIGEST = "panel-digest-store"
HEALTH_PANEL = "health-panel"

# manager page (contract KPIs)
MANAGER = "manager-page"
MGR_PERIOD = "mgr-period"
MGR_MONTH = "mgr-month"
MGR_ASOF = "mgr-asof"
MGR_CARDS = "mgr-cards"
MGR_CARD = "mgr-card"  # pattern-matching type: {"type": MGR_CARD, "key": <kpi key>}
MGR_SELECTED = "mgr-selected-store"
MGR_DRILL = "mgr-drill-title"
MGR_TREND = "mgr-trend"
MGR_MAP = "mgr-map"
MGR_FAMILY = "mgr-family"
MGR_PENALTIES = "mgr-penalties"
MGR_EXPORT = "mgr-export"
MGR_EXPORT_STATUS = "mgr-export-status"
