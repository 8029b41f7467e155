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
