"""Remote-control commands: target selection, safety checks and the command events.

Every path that sends a command (the dashboard, `vigie command`) goes through
`prepare_command`, so the checks are the same everywhere: the role may command, the target
exists, the level and duration are in bounds, a large or sensitive command has a second
operator's confirmation, the user is under the rate limit, and a training session never
commands live equipment.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Iterable

import pandas as pd

from .access import allowed
from .schemas import CommandRequest
from .topics import LIVE, validate_namespace

__all__ = [
    "CommandPolicy",
    "CommandRefused",
    "Selection",
    "prepare_command",
    "select_area",
    "select_targets",
]

LAMP_ACTIONS = frozenset({"dim", "switch_on", "switch_off"})
SIGNAL_ACTIONS = frozenset({"flash", "normal"})
RESUME = "normal"  # back to normal (crossroads) or to the programme (lamps): ends an override before it expires
AREA_KINDS = frozenset({"light", "signal"})


class CommandRefused(ValueError):
    """A command that must not be sent; `reason` says why in words an operator understands."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CommandPolicy:
    """The safety limits every command is checked against."""

    confirm_lamps_over: int = 500
    confirm_any_signal: bool = True
    min_minutes: int = 1
    max_minutes: int = 24 * 60
    rate_limit_count: int = 10
    rate_limit_window_s: int = 60
    max_area_assets: int = 10_000  # a drawn area reaching more is refused: pick a commune instead


@dataclass(frozen=True)
class Selection:
    """What a command targets: the scope ids sent on the wire and the assets they expand to."""

    scope: str
    targets: tuple[str, ...]
    lamp_ids: tuple[str, ...] = ()
    signal_ids: tuple[str, ...] = ()
    unknown: tuple[str, ...] = field(default=())

    @property
    def count(self) -> int:
        """How many pieces of equipment the command reaches."""
        return len(self.lamp_ids) + len(self.signal_ids)


def select_targets(
    assets: pd.DataFrame,
    *,
    lamps: Iterable[str] = (),
    cabinets: Iterable[str] = (),
    signals: Iterable[str] = (),
    commune: str | None = None,
) -> Selection:
    """Expand lamp, cabinet, signal ids or a commune code into the equipment they reach."""
    lamps, cabinets, signals = list(lamps), list(cabinets), list(signals)
    by_kind = {kind: frame for kind, frame in assets.groupby("kind")}
    lights = by_kind.get("light", assets.iloc[0:0])
    known_lights = set(lights["asset_id"])
    known_cabinets = set(by_kind.get("cabinet", assets.iloc[0:0])["asset_id"])
    known_signals = set(by_kind.get("signal", assets.iloc[0:0])["asset_id"])
    unknown = [a for a in lamps if a not in known_lights]
    unknown += [c for c in cabinets if c not in known_cabinets]
    unknown += [s for s in signals if s not in known_signals]
    lamp_ids = set(a for a in lamps if a in known_lights)
    if cabinets:
        lamp_ids |= set(lights.loc[lights["cabinet_id"].isin(cabinets), "asset_id"])
    targets = [*lamps, *cabinets, *signals]
    if commune is not None:
        in_commune = lights.loc[lights["commune_code"] == commune, "asset_id"]
        if in_commune.empty and commune not in set(assets["commune_code"]):
            unknown.append(f"commune:{commune}")
        lamp_ids |= set(in_commune)
        targets.append(f"commune:{commune}")
    scope = targets[0] if len(targets) == 1 else f"selection:{len(targets)}"
    return Selection(
        scope=scope,
        targets=tuple(targets),
        lamp_ids=tuple(sorted(lamp_ids)),
        signal_ids=tuple(s for s in signals if s in known_signals),
        unknown=tuple(unknown),
    )


def _area_shape(area: dict | None):
    """The union of the polygons of a GeoJSON geometry, Feature or FeatureCollection; None if there are none."""
    import shapely
    from shapely.geometry import shape

    if not isinstance(area, dict):
        return None
    if area.get("type") == "FeatureCollection":
        geometries = [f.get("geometry") for f in area.get("features") or () if isinstance(f, dict)]
    else:
        geometries = [area.get("geometry") if area.get("type") == "Feature" else area]
    try:
        shapes = [shapely.make_valid(shape(g)) for g in geometries if g]
    except (AttributeError, IndexError, KeyError, TypeError, ValueError, shapely.errors.ShapelyError):
        return None
    shapes = [g for g in shapes if g.area > 0]
    return shapely.union_all(shapes) if shapes else None


def select_area(assets: pd.DataFrame, area: dict | None, *, kind: str = "light",
                policy: CommandPolicy = CommandPolicy()) -> Selection:
    """The lamps (`kind="light"`) or crossroads (`"signal"`) inside a drawn area (GeoJSON polygons, lon/lat).

    Several shapes add up. Refused: no shape with a surface, an area that misses the metropolis
    (the hull of its assets), more assets than the policy's cap. The scope reads `area:<count>`.
    """
    import shapely

    if kind not in AREA_KINDS:
        raise CommandRefused(f"unknown action for an area: {kind}")
    polygon = _area_shape(area)
    if polygon is None or polygon.is_empty:
        raise CommandRefused("the drawn area is empty")
    lon, lat = assets["lon"].to_numpy(float), assets["lat"].to_numpy(float)
    if not polygon.intersects(shapely.MultiPoint(list(zip(lon, lat))).convex_hull):
        raise CommandRefused("the drawn area lies outside the metropolis")
    shapely.prepare(polygon)
    inside = assets.loc[(assets["kind"] == kind).to_numpy() & shapely.contains_xy(polygon, lon, lat), "asset_id"]
    found = tuple(sorted(inside))
    if len(found) > policy.max_area_assets:
        raise CommandRefused(f"the drawn area reaches {len(found)} assets, over the cap of {policy.max_area_assets}")
    return Selection(scope=f"area:{len(found)}", targets=found,
                     lamp_ids=found if kind == "light" else (), signal_ids=found if kind == "signal" else ())


def prepare_command(
    selection: Selection,
    *,
    action: str,
    minutes: float,
    user: str,
    role: str,
    reason: str,
    now_ms: int,
    level: float | None = None,
    confirmed_by: str | None = None,
    confirmer_role: str | None = None,
    origin_namespace: str = LIVE,
    target_namespace: str = LIVE,
    recent_by_user: int = 0,
    policy: CommandPolicy = CommandPolicy(),
) -> CommandRequest:
    """Check a command against the policy and return the event to send, or raise CommandRefused."""
    validate_namespace(origin_namespace)
    validate_namespace(target_namespace)
    if origin_namespace != LIVE and target_namespace == LIVE:
        raise CommandRefused("a training session cannot command live equipment")
    if not allowed(role, "command.send", origin_namespace):
        raise CommandRefused(f"the role {role!r} may not send commands")
    if not reason.strip():
        raise CommandRefused("a command needs a reason")
    if selection.unknown:
        raise CommandRefused(f"unknown target(s): {', '.join(selection.unknown[:5])}")
    if selection.count == 0:
        raise CommandRefused("the selection reaches no equipment")
    if action in LAMP_ACTIONS and selection.signal_ids:
        raise CommandRefused(f"{action} applies to lamps, not to traffic signals")
    if action == RESUME and selection.lamp_ids and selection.signal_ids:
        raise CommandRefused(f"{action} applies to lamps or to traffic signals, not to both at once")
    if action in SIGNAL_ACTIONS - {RESUME} and (selection.lamp_ids or not selection.signal_ids):
        raise CommandRefused(f"{action} applies to traffic signals only")
    if action not in LAMP_ACTIONS | SIGNAL_ACTIONS:
        raise CommandRefused(f"unknown action {action!r}")
    if action == "dim":
        if level is None or not 0 <= level <= 100:
            raise CommandRefused("the dimming level must be between 0 and 100 %")
    elif level is not None:
        raise CommandRefused(f"{action} takes no level")
    if not policy.min_minutes <= minutes <= policy.max_minutes:
        raise CommandRefused(
            f"the duration must be between {policy.min_minutes} and {policy.max_minutes} minutes"
        )
    if recent_by_user >= policy.rate_limit_count:
        raise CommandRefused(
            f"rate limit: {user} sent {recent_by_user} commands in the last {policy.rate_limit_window_s} s"
        )
    needs_second = len(selection.lamp_ids) > policy.confirm_lamps_over or (
        policy.confirm_any_signal and bool(selection.signal_ids)
    )
    if needs_second and not confirmed_by:
        raise CommandRefused(
            f"this command reaches {selection.count} pieces of equipment: a second operator must confirm it"
        )
    if confirmed_by and confirmed_by == user:
        raise CommandRefused("the confirming operator must be someone else")
    if confirmed_by and not allowed(confirmer_role, "command.confirm", origin_namespace):
        raise CommandRefused(f"the confirming operator's role {confirmer_role!r} may not confirm commands")
    return CommandRequest(
        asset_id=selection.scope,
        ts=now_ms,
        command_id=f"CMD-{uuid.uuid4().hex[:12]}",
        action=action,  # type: ignore[arg-type]
        targets=list(selection.targets),
        expires_at=now_ms + int(minutes * 60_000),
        user=user,
        reason=reason,
        level=level,
        confirmed_by=confirmed_by,
    )
