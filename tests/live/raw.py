"""Sending a body exactly as given (malformed JSON, undecodable bytes), which tests.live.http.call cannot."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from tests.live.http import Answer

__all__ = ["send_raw"]


def send_raw(url: str, raw: bytes, headers: dict[str, str] | None = None) -> Answer:
    """POST ``raw`` labelled as JSON; the answer (expected to be JSON) whatever its status."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=raw, method="POST", headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=10.0) as response:
            status, received, body = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, received, body = error.code, dict(error.headers), error.read()
    return Answer(status, received, json.loads(body))
