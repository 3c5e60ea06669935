"""A tiny synchronous HTTP client for tests that drive real servers (urllib: nothing to mock)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any


@dataclass
class Answer:
    status: int
    headers: Message  # case-insensitive: headers.get("www-authenticate") finds WWW-Authenticate
    body: Any  # parsed JSON, or the text when it is not JSON


def call(
    method: str,
    url: str,
    *,
    json_body: Any = None,
    form: dict[str, str] | None = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    context: ssl.SSLContext | None = None,
) -> Answer:
    """One request; HTTP errors are answers too (never raised).

    The body is ``json_body`` as JSON, ``form`` URL-encoded, or ``raw`` bytes sent as they are
    (labelled JSON: for malformed bodies). ``context`` is the TLS context of an https call (a mesh
    identity's client context under mTLS); a failed TLS handshake is raised, not answered.
    """
    data = None
    sent = dict(headers or {})
    if raw is not None:
        data = raw
        sent.setdefault("Content-Type", "application/json")
    elif json_body is not None:
        data = json.dumps(json_body).encode()
        sent["Content-Type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            status, received, content = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, received, content = error.code, error.headers, error.read()
    text = content.decode("utf-8", errors="replace")
    try:
        body = json.loads(text) if text else None
    except json.JSONDecodeError:
        body = text
    return Answer(status, received, body)
