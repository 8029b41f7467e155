"""The topic catalog and its namespaces."""

import pytest

from streams.topics import (
    CATALOG, DOMAINS, event_topic, is_live, namespace_topics, parse_topic, source_topics, topic_name,
    training_namespace, validate_namespace,
)
from streams.schemas import EVENT_TYPES


def test_every_domain_of_the_catalog_is_named_as_the_issue_says():
    assert {s.domain for s in CATALOG} == set(DOMAINS)
    assert {"lighting", "traffic", "cameras", "weather", "incidents", "commands", "alerts"} <= set(DOMAINS)


def test_every_event_kind_has_exactly_one_topic():
    kinds = [t.__struct_config__.tag for t in EVENT_TYPES]
    for kind in kinds:
        assert event_topic("live", kind).startswith("live.")
    carried = [e for s in CATALOG for e in s.events]
    assert sorted(carried) == sorted(kinds)


def test_live_and_training_namespaces_never_share_a_topic():
    live = {name for name, _ in namespace_topics("live")}
    train = {name for name, _ in namespace_topics(training_namespace("night-1"))}
    assert not live & train
    assert all(is_live(t) for t in live) and not any(is_live(t) for t in train)
    assert "train-night-1.lighting.telemetry" in train


@pytest.mark.parametrize("bad", ["", "LIVE", "prod", "train-", "train-UPPER", "train-a.b", "live.x"])
def test_bad_namespaces_are_refused(bad):
    with pytest.raises(ValueError):
        validate_namespace(bad)


def test_parse_topic_round_trip_and_refusals():
    assert parse_topic(topic_name("train-x", "weather", "observations")) == ("train-x", "weather", "observations")
    for bad in ("live.weather", "live.weather.nope", "other.weather.observations"):
        with pytest.raises(ValueError):
            parse_topic(bad)


def test_source_topics_exclude_outputs():
    sources = source_topics("live")
    assert "live.alerts.events" not in sources and "live.deadletter.events" not in sources
    assert "live.commands.requests" not in sources
    assert "live.lighting.telemetry" in sources and "live.commands.acks" in sources


def test_unknown_event_kind():
    with pytest.raises(ValueError, match="unknown event kind"):
        event_topic("live", "lamp.teleport")
