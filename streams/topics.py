"""The topic catalog: `<namespace>.<domain>.<kind>`, `live` for the room, `train-<session>` for training."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "CATALOG",
    "DOMAINS",
    "LIVE",
    "TopicSpec",
    "event_topic",
    "is_live",
    "namespace_topics",
    "parse_topic",
    "source_topics",
    "topic_name",
    "training_namespace",
    "validate_namespace",
]

LIVE = "live"
DOMAINS = ("lighting", "traffic", "cameras", "weather", "incidents", "commands", "alerts", "deadletter")

_SESSION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_NAMESPACE_RE = re.compile(r"^(live|train-[a-z0-9][a-z0-9-]{0,39})$")


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the catalog, without its namespace."""

    domain: str
    kind: str
    description: str
    events: tuple[str, ...]
    partitions: int = 3
    source: bool = True

    @property
    def suffix(self) -> str:
        """`<domain>.<kind>`, the part after the namespace."""
        return f"{self.domain}.{self.kind}"


CATALOG: tuple[TopicSpec, ...] = (
    TopicSpec("lighting", "telemetry", "Light-point readings: power state, level, power, energy", ("lamp.telemetry",)),
    TopicSpec("lighting", "faults", "Light-point alarms raised and cleared (TALQ flags)", ("lamp.fault",)),
    TopicSpec("lighting", "cabinets", "Control-cabinet metering and supply state", ("cabinet.metering",)),
    TopicSpec("traffic", "status", "Traffic-controller operating mode", ("signal.status",)),
    TopicSpec("traffic", "faults", "Traffic-controller faults raised and cleared", ("signal.fault",)),
    TopicSpec("traffic", "priority", "Bus-priority requests, grants and denials", ("bus.priority",)),
    TopicSpec("cameras", "health", "Video camera health", ("camera.health",)),
    TopicSpec("weather", "observations", "Weather-station observations", ("weather.observation",)),
    TopicSpec("incidents", "reports", "Citizen and agent incident reports", ("incident.report",)),
    TopicSpec("commands", "requests", "Remote-control commands sent to equipment", ("command.request",), source=False),
    TopicSpec("commands", "acks", "Acknowledgements of commands by equipment", ("command.ack",)),
    TopicSpec("alerts", "events", "Alert lifecycle transitions published by the processor", ("alert.transition",),
              source=False),
    TopicSpec("deadletter", "events", "Events that failed validation, with the reason and the original bytes", (),
              partitions=1, source=False),
)

_BY_EVENT = {event: spec for spec in CATALOG for event in spec.events}


def validate_namespace(namespace: str) -> str:
    """Return the namespace if it is `live` or `train-<session>`, else raise ValueError."""
    if not _NAMESPACE_RE.match(namespace):
        raise ValueError(
            f"invalid namespace {namespace!r}: expected 'live' or 'train-<session>' "
            "(lower-case letters, digits and dashes)"
        )
    return namespace


def training_namespace(session: str) -> str:
    """Namespace of a training session, `train-<session>`."""
    if not _SESSION_RE.match(session):
        raise ValueError(f"invalid session name {session!r}: use lower-case letters, digits and dashes")
    return f"train-{session}"


def is_live(topic: str) -> bool:
    """True for a topic of the live room."""
    return topic.startswith(LIVE + ".")


def topic_name(namespace: str, domain: str, kind: str) -> str:
    """Full topic name `<namespace>.<domain>.<kind>`."""
    return f"{validate_namespace(namespace)}.{domain}.{kind}"


def event_topic(namespace: str, event_kind: str) -> str:
    """Topic that carries an event kind (for example `lamp.telemetry`) in a namespace."""
    try:
        spec = _BY_EVENT[event_kind]
    except KeyError:
        raise ValueError(f"unknown event kind {event_kind!r}") from None
    return topic_name(namespace, spec.domain, spec.kind)


def namespace_topics(namespace: str) -> list[tuple[str, TopicSpec]]:
    """Every topic of a namespace with its spec."""
    return [(topic_name(namespace, s.domain, s.kind), s) for s in CATALOG]


def source_topics(namespace: str) -> list[str]:
    """Topics a processor consumes in a namespace (field events, not commands, alerts or dead letters)."""
    return [name for name, spec in namespace_topics(namespace) if spec.source]


def parse_topic(topic: str) -> tuple[str, str, str]:
    """Split a topic into (namespace, domain, kind); raise ValueError if it is not of the catalog."""
    parts = topic.rsplit(".", 2)
    if len(parts) != 3:
        raise ValueError(f"topic {topic!r} is not <namespace>.<domain>.<kind>")
    namespace, domain, kind = parts
    validate_namespace(namespace)
    if not any(s.domain == domain and s.kind == kind for s in CATALOG):
        raise ValueError(f"topic {topic!r} is not in the catalog")
    return namespace, domain, kind
