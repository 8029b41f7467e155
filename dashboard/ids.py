"""Component ids of the operator room, in one place so layouts, callbacks and tests agree."""

from __future__ import annotations

__all__ = [
    "ACTION_ACK", "ACTION_ASSIGN", "ACTION_CLOSE", "ACTION_COMMENT", "ACTION_FEEDBACK", "ACTION_RESOLVE",
    "ACTION_TEAM", "ALARM_SINK", "ALERT_GRID", "ALERT_VERSION", "ASSET_PANEL", "BANNER", "CLOCK", "CLOCK_DATE",
    "CONNECTION", "DETAIL_TABS", "FILTER_COMMUNE", "FILTER_DOMAIN", "FILTER_SEVERITY", "FILTER_STATUS",
    "HEADER_KPIS", "HEADER_SEVERITY", "HEALTH_PANEL", "INTERVAL_FAST", "INTERVAL_MAP", "INTERVAL_SLOW", "LANG", "LANG_SWITCH",
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
INTERVAL_MAP = "interval-map"  # the map's live tick, faster than the 1 s one
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

# trainer page ("Formation"): library, start form, sessions, controls, debrief, recorder; session rooms
__all__ += [
    "INTERVAL_TRAINER", "PATH_TRAINER", "TRAINER", "TRAINING_BANNER", "TR_BACK", "TR_CATALOG", "TR_CTRL_FEEDBACK",
    "TR_DEBRIEF", "TR_DEBRIEF_VIEW", "TR_FWD", "TR_LOOP", "TR_NAME", "TR_PAUSE", "TR_PICK", "TR_REC_START",
    "TR_REC_STATUS", "TR_REC_STOP", "TR_RESUME", "TR_SEEK", "TR_SELECT", "TR_SELECTED", "TR_SESSIONS",
    "TR_SOURCE", "TR_SPEED", "TR_START", "TR_START_FEEDBACK", "TR_STATUS", "TR_STOP", "TR_CTRL_SPEED",
    "TR_VIEW_ROOM",
]
PATH_TRAINER = "/formation"
TRAINER = "trainer-page"
INTERVAL_TRAINER = "interval-trainer"
TRAINING_BANNER = "training-banner"
TR_CATALOG = "tr-catalog"
TR_PICK = "tr-pick"  # pattern-matching type: {"type": TR_PICK, "source": "scenario:<name>"}
TR_SOURCE = "tr-source"
TR_NAME = "tr-name"
TR_SPEED = "tr-speed"
TR_LOOP = "tr-loop"
TR_START = "tr-start"
TR_START_FEEDBACK = "tr-start-feedback"
TR_SESSIONS = "tr-sessions"
TR_SELECT = "tr-select"  # pattern-matching type: {"type": TR_SELECT, "session": <name>}
TR_SELECTED = "tr-selected-store"
TR_STATUS = "tr-status"
TR_PAUSE = "tr-pause"
TR_RESUME = "tr-resume"
TR_BACK = "tr-back"
TR_FWD = "tr-fwd"
TR_STOP = "tr-stop"
TR_CTRL_SPEED = "tr-ctrl-speed"
TR_SEEK = "tr-seek"
TR_CTRL_FEEDBACK = "tr-ctrl-feedback"
TR_VIEW_ROOM = "tr-view-room"
TR_DEBRIEF = "tr-debrief"
TR_DEBRIEF_VIEW = "tr-debrief-view"
TR_REC_START = "tr-rec-start"
TR_REC_STOP = "tr-rec-stop"
TR_REC_STATUS = "tr-rec-status"

# access: the signed-in user's badge, the audit journal page
__all__ += [
    "AUDIT_ACTOR", "AUDIT_CATEGORY", "AUDIT_COUNT", "AUDIT_EXPORT", "AUDIT_GRID", "AUDIT_PEOPLE", "AUDIT_PERIOD",
    "AUDIT_REFRESH", "AUDIT_TEXT", "CMD_CONFIRM_PASSWORD", "JOURNAL_PANE", "PATH_JOURNAL", "USER_BADGE",
]
PATH_JOURNAL = "/journal"
JOURNAL_PANE = "journal-pane"
USER_BADGE = "user-badge"
AUDIT_ACTOR = "audit-actor"
AUDIT_CATEGORY = "audit-category"
AUDIT_PERIOD = "audit-period"
AUDIT_TEXT = "audit-text"
AUDIT_PEOPLE = "audit-people"
AUDIT_REFRESH = "audit-refresh"
AUDIT_EXPORT = "audit-export"
AUDIT_COUNT = "audit-count"
AUDIT_GRID = "audit-grid"

# remote control ("Télécommande"): the form, its preview on the map, and the commands list
__all__ += [
    "CMD_ACTION", "CMD_ASSET", "CMD_COMMUNE", "CMD_CONFIRM", "CMD_CONFIRM_BOX", "CMD_COUNT", "CMD_FEEDBACK",
    "CMD_FROM_ASSET", "CMD_LEVEL", "CMD_LIST", "CMD_MINUTES", "CMD_PREVIEW", "CMD_PREVIEW_LAYER", "CMD_REASON",
    "CMD_SEND", "CMD_TARGET", "CMD_AREA_BOX", "CMD_AREA_KIND", "CMD_DRAW", "CMD_DRAW_CLEAR", "CMD_DRAW_LAYER", "CMD_DRAW_POLYGON",
    "CMD_DRAW_RECTANGLE", "CMD_COMMUNE_BOX", "CMD_LEVEL_BOX", "CMD_MINUTES_BOX",
]
CMD_TARGET = "cmd-target"  # "commune", "asset" (the selected asset) or "area" (drawn on the map)
CMD_COMMUNE = "cmd-commune"
CMD_ASSET = "cmd-asset"
CMD_ACTION = "cmd-action"
CMD_LEVEL = "cmd-level"
CMD_MINUTES = "cmd-minutes"
CMD_REASON = "cmd-reason"
CMD_CONFIRM = "cmd-confirm"
CMD_CONFIRM_BOX = "cmd-confirm-box"
CMD_CONFIRM_PASSWORD = "cmd-confirm-password"
CMD_PREVIEW = "cmd-preview"
CMD_SEND = "cmd-send"
CMD_COUNT = "cmd-count"
CMD_FEEDBACK = "cmd-feedback"
CMD_LIST = "cmd-list"
CMD_PREVIEW_LAYER = "cmd-preview-layer"
CMD_FROM_ASSET = "cmd-from-asset"  # pattern-matching type: {"type": CMD_FROM_ASSET, "asset": <asset id>}
CMD_DRAW = "cmd-draw"  # pattern-matching type of the map's drawing control: its `geojson` is the drawn area
CMD_DRAW_LAYER = "cmd-draw-layer"  # the map's layer that receives the drawing control
CMD_AREA_BOX = "cmd-area-box"
CMD_AREA_KIND = "cmd-area-kind"  # what a drawn area targets: "light" or "signal"
CMD_DRAW_RECTANGLE = "cmd-draw-rectangle"
CMD_DRAW_POLYGON = "cmd-draw-polygon"
CMD_DRAW_CLEAR = "cmd-draw-clear"
CMD_COMMUNE_BOX = "cmd-commune-box"  # the form's fields, shown when the target or the action uses them
CMD_LEVEL_BOX = "cmd-level-box"
CMD_MINUTES_BOX = "cmd-minutes-box"
