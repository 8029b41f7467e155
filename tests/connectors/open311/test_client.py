"""The GeoReport client against a local server: windows, pages, retries with backoff, garbage and silence."""

from __future__ import annotations

import pytest

from connectors.feed import Backoff, FeedUnavailable
from connectors.open311.client import Open311Client, requests_url
from streams.broker import free_port

START, END = 1795122300000, 1795208700000


def _client(url: str, sleeps: list, **kwargs) -> Open311Client:
    return Open311Client(url, sleep=sleeps.append, backoff=lambda: Backoff(1.0, jitter=0.0), **kwargs)


def test_requests_url():
    assert requests_url("https://city.example/open311/v2") == "https://city.example/open311/v2/requests.json"
    assert requests_url("https://city.example/open311/v2/requests.json?x=1") == \
        "https://city.example/open311/v2/requests.json"


def test_pages_through_a_window(city):
    rows = _client(city.url, [], page_size=3, jurisdiction_id="dijon-metropole.fr").fetch(START, END)
    assert len(rows) == 8
    assert [g["page"] for g in city.gets] == ["1", "2", "3"]
    first = city.gets[0]
    assert first["path"] == "/open311/v2/requests.json"
    assert (first["start_date"], first["end_date"]) == ("2026-11-19T21:05:00Z", "2026-11-20T21:05:00Z")
    assert first["page_size"] == "3" and first["jurisdiction_id"] == "dijon-metropole.fr"


def test_a_server_ignoring_pages_is_read_once(city):
    city.ignore_paging = True
    rows = _client(city.url, [], page_size=3).fetch(START, END)
    assert len(rows) == 3 and len(city.gets) == 2


def test_the_specification_example_is_read(published_bytes, fake_city):
    city = fake_city(published_bytes)
    rows = _client(city.url, []).fetch(START, END)
    assert [r["service_request_id"] for r in rows] == [638344, 638349]


def test_retries_with_exponential_backoff_then_succeeds(city):
    city.fail_first = 2
    sleeps: list = []
    rows = _client(city.url, sleeps, retries=3).fetch(START, END)
    assert len(rows) == 8 and sleeps == [1.0, 2.0]


@pytest.mark.parametrize("mode, message", [
    ("500", "HTTP 500"),
    ("garbage", "garbage"),
    ("object", "not a list of service requests"),
    ("nothing", "no answer"),
])
def test_a_broken_server_is_feed_unavailable_after_retries(city, mode, message):
    city.mode = mode
    sleeps: list = []
    with pytest.raises(FeedUnavailable, match=message):
        _client(city.url, sleeps, retries=3).fetch(START, END)
    assert sleeps == [1.0, 2.0, 4.0] and len(city.gets) == 4


def test_a_refusal_is_not_retried(city):
    city.mode = "404"
    sleeps: list = []
    with pytest.raises(FeedUnavailable, match="HTTP 404"):
        _client(city.url, sleeps).fetch(START, END)
    assert sleeps == []


def test_nobody_listening():
    sleeps: list = []
    with pytest.raises(FeedUnavailable, match="no answer"):
        _client(f"http://127.0.0.1:{free_port()}/requests.json", sleeps, retries=1, timeout=2).fetch(START, END)
    assert sleeps == [1.0]


def test_status_changes_are_posted_form_encoded(city):
    client = _client(city.url, [], status_url=city.base + "/status", api_key="k3y")
    client.post_status({"service_request_id": "DJ-1", "status": "closed"})
    assert city.posts == [{"path": "/open311/v2/status", "service_request_id": "DJ-1", "status": "closed",
                           "api_key": "k3y"}]
    with pytest.raises(FeedUnavailable, match="no status URL"):
        _client(city.url, []).post_status({"service_request_id": "DJ-1"})
