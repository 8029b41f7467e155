"""The NGSI-v2 client: pages through a context broker's `/v2/entities`, every failure one `FeedUnavailable`."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterable

from connectors.feed import FeedUnavailable, Rejected, loads_lenient

__all__ = ["NgsiV2Client"]


class NgsiV2Client:
    """Reads entities from an NGSI-v2 context broker (Orion), page by page."""

    def __init__(self, base_url: str, *, types: Iterable[str] = (), limit: int = 100, timeout: float = 10.0,
                 service: str | None = None, service_path: str | None = None, max_pages: int = 10000) -> None:
        self.base_url = base_url.rstrip("/")
        if self.base_url.endswith("/v2/entities"):
            self.base_url = self.base_url[: -len("/v2/entities")]
        self.types = tuple(types)
        self.limit = limit
        self.timeout = timeout
        self.service = service
        self.service_path = service_path
        self.max_pages = max_pages
        self._digests: dict[str, str] = {}
        self._pending: dict[str, str] = {}

    def _headers(self) -> dict:
        headers = {"Accept": "application/json"}
        if self.service:
            headers["Fiware-Service"] = self.service
        if self.service_path:
            headers["Fiware-ServicePath"] = self.service_path
        return headers

    def _page(self, offset: int) -> tuple[list, int | None]:
        query = {"limit": self.limit, "offset": offset, "options": "count"}
        if self.types:
            query["type"] = ",".join(self.types)
        url = f"{self.base_url}/v2/entities?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(url, headers=self._headers())
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
                total = response.headers.get("Fiware-Total-Count")
        except urllib.error.HTTPError as exc:
            raise FeedUnavailable(f"context broker answered HTTP {exc.code} for {url}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise FeedUnavailable(f"context broker unreachable at {self.base_url}: {exc}") from None
        try:
            entities = loads_lenient(body)
        except Rejected as exc:
            raise FeedUnavailable(f"context broker answered garbage: {exc.reason}") from None
        if not isinstance(entities, list):
            raise FeedUnavailable(f"context broker answered a {type(entities).__name__}, not an entity list")
        try:
            return entities, int(total) if total is not None else None
        except ValueError:
            return entities, None

    def fetch_all(self) -> list:
        """Every entity of the configured types (keyValues or normalized, as the broker sends them)."""
        out: list = []
        offset = 0
        for _ in range(self.max_pages):
            page, total = self._page(offset)
            out.extend(page)
            offset += len(page)
            if len(page) < self.limit or not page or (total is not None and offset >= total):
                return out
        return out

    def fetch_changed(self) -> list:
        """The entities new or changed since the last `commit()` (a poll re-reads everything)."""
        changed, self._pending = [], {}
        for entity in self.fetch_all():
            key = json.dumps([entity.get("id"), entity.get("type")]) if isinstance(entity, dict) else None
            digest = hashlib.sha1(json.dumps(entity, sort_keys=True, default=str).encode()).hexdigest()
            if key is None or self._digests.get(key) != digest:
                changed.append(entity)
                if key is not None:
                    self._pending[key] = digest
        return changed

    def commit(self) -> None:
        """Record the entities of the last `fetch_changed()` as handled (call it once they are delivered)."""
        self._digests.update(self._pending)
        self._pending = {}

    def describe(self) -> str:
        """A short text for logs."""
        return json.dumps({"url": self.base_url, "types": list(self.types)})
