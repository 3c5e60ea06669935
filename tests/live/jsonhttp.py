"""A tiny blocking JSON-over-HTTP client for tests (urllib: no extra dependency, real sockets)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Reply", "call"]

TIMEOUT = 10.0


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: Any

    def __str__(self) -> str:
        return f"{self.status} {self.body!r}"


def call(
    method: str,
    url: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """Send ``body`` as JSON (or ``raw`` bytes as they are); decode the JSON answer, whatever its status."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            status, answer, got = response.status, response.read(), response.headers
    except urllib.error.HTTPError as failed:
        status, answer, got = failed.code, failed.read(), failed.headers
    assert got.get_content_type() == "application/json", f"{method} {url}: {status} {answer[:200]!r}"
    return Reply(status, {k.lower(): v for k, v in got.items()}, json.loads(answer))
