"""The GeoReport v2 client: `requests.json` by time window and page, with retries; failures are `FeedUnavailable`."""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Mapping

from connectors.feed import Backoff, FeedUnavailable, Rejected, iso_utc, loads_lenient

__all__ = ["Open311Client", "requests_url"]

log = logging.getLogger(__name__)


class _Refused(FeedUnavailable):
    """The server refused the request (HTTP 4xx): asking again will not help."""


def requests_url(url: str) -> str:
    """The `requests.json` URL of an endpoint given either as that URL or as the endpoint's base."""
    base = url.split("?", 1)[0].rstrip("/")
    return base if base.endswith((".json", "/requests")) else f"{base}/requests.json"


class Open311Client:
    """Reads service requests from a GeoReport v2 endpoint and posts status changes to a configurable URL."""

    def __init__(self, url: str, *, jurisdiction_id: str | None = None, page_size: int = 100, timeout: float = 10.0,
                 retries: int = 3, backoff: Callable[[], Backoff] = lambda: Backoff(1.0, maximum=30.0),
                 sleep: Callable[[float], None] = time.sleep, status_url: str | None = None,
                 api_key: str | None = None, max_pages: int = 100) -> None:
        self.url = requests_url(url)
        self.jurisdiction_id = jurisdiction_id
        self.page_size = page_size
        self.timeout = timeout
        self.retries = retries
        self._backoff = backoff
        self._sleep = sleep
        self.status_url = status_url
        self.api_key = api_key
        self.max_pages = max_pages

    def _get_once(self, params: Mapping[str, Any]) -> list:
        url = f"{self.url}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            error = _Refused if 400 <= exc.code < 500 else FeedUnavailable
            raise error(f"HTTP {exc.code} from {self.url}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise FeedUnavailable(f"no answer from {self.url}: {getattr(exc, 'reason', exc)}") from None
        try:
            data = loads_lenient(body)
        except Rejected as exc:
            raise FeedUnavailable(f"garbage from {self.url}: {exc.reason}") from None
        if isinstance(data, dict) and isinstance(data.get("service_requests"), list):
            data = data["service_requests"]
        if not isinstance(data, list):
            raise FeedUnavailable(f"garbage from {self.url}: a {type(data).__name__}, not a list of service requests")
        return data

    def _get(self, params: Mapping[str, Any]) -> list:
        backoff = self._backoff()
        for attempt in range(self.retries + 1):
            try:
                return self._get_once(params)
            except _Refused:
                raise
            except FeedUnavailable as exc:
                if attempt == self.retries:
                    raise
                delay = backoff.next()
                log.info("open311: %s; retry %d/%d in %.1f s", exc, attempt + 1, self.retries, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")

    def fetch(self, start_ms: int, end_ms: int) -> list[dict]:
        """Every service request updated or made in the window, page after page."""
        params: dict[str, Any] = {"start_date": iso_utc(start_ms / 1000), "end_date": iso_utc(end_ms / 1000),
                                  "page_size": self.page_size}
        if self.jurisdiction_id:
            params["jurisdiction_id"] = self.jurisdiction_id
        out: list = []
        previous: list | None = None
        for page in range(1, self.max_pages + 1):
            rows = self._get({**params, "page": page})
            if not rows or rows == previous:
                break
            out.extend(rows)
            if len(rows) < self.page_size:
                break
            previous = rows
        return out

    def post_status(self, fields: Mapping[str, Any]) -> None:
        """POST a status change (form-encoded, like GeoReport's POST methods) to the status URL."""
        if not self.status_url:
            raise FeedUnavailable("no status URL configured to post status changes to")
        data = dict(fields)
        if self.api_key:
            data["api_key"] = self.api_key
        if self.jurisdiction_id:
            data["jurisdiction_id"] = self.jurisdiction_id
        body = urllib.parse.urlencode(data).encode("utf-8")
        request = urllib.request.Request(self.status_url, data=body, method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        backoff = self._backoff()
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read()
                return
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == self.retries:
                    raise FeedUnavailable(f"HTTP {exc.code} posting a status change to {self.status_url}") from None
            except (urllib.error.URLError, OSError) as exc:
                if attempt == self.retries:
                    raise FeedUnavailable(f"cannot post a status change to {self.status_url}: {exc}") from None
            self._sleep(backoff.next())
