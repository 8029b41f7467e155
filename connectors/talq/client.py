"""The TALQ client: posts override commands to a configurable endpoint; every failure one `FeedUnavailable`."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, Callable

from connectors.feed import Backoff, FeedUnavailable, Rejected, loads_lenient

__all__ = ["TalqClient", "TalqRefused"]


class TalqRefused(Rejected):
    """The TALQ central management system refused a command (HTTP 4xx): asking again will not help."""


class TalqClient:
    """Posts JSON commands to a TALQ-style endpoint, retrying with backoff while it is down."""

    def __init__(self, url: str, *, timeout: float = 10.0, retries: int = 3,
                 backoff: Callable[[], Backoff] = lambda: Backoff(1.0, maximum=30.0),
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self._backoff = backoff
        self._sleep = sleep

    def post(self, command: dict) -> Any:
        """POST one command; the decoded answer (None if empty). TalqRefused on 4xx, FeedUnavailable when down."""
        body = json.dumps(command).encode("utf-8")
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", "Accept": "application/json"})
        backoff = self._backoff()
        last = ""
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    answer = response.read()
                if not answer.strip():
                    return None
                try:
                    return loads_lenient(answer)
                except Rejected:
                    return None
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:200].decode("utf-8", errors="replace")
                if 400 <= exc.code < 500:
                    raise TalqRefused(f"HTTP {exc.code}: {detail}") from None
                last = f"HTTP {exc.code} from {self.url}"
            except (urllib.error.URLError, OSError) as exc:
                last = f"no answer from {self.url}: {getattr(exc, 'reason', exc)}"
            if attempt < self.retries:
                self._sleep(backoff.next())
        raise FeedUnavailable(last)
