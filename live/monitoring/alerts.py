"""What a stack's Prometheus says about its alerts (``GET /api/v1/alerts``)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

__all__ = ["alerts", "firing"]


def alerts(prometheus_url: str, timeout: float = 2.0) -> list[dict[str, Any]]:
    """Every active alert (pending or firing), as Prometheus' HTTP API lists them."""
    with urllib.request.urlopen(f"{prometheus_url}/api/v1/alerts", timeout=timeout) as response:
        body = json.loads(response.read())
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus answered {body!r} to /api/v1/alerts")
    return list(body["data"]["alerts"])


def firing(prometheus_url: str, timeout: float = 2.0) -> list[dict[str, str]]:
    """The labels of every firing alert (``alertname``, ``service``, ``instance``, ``severity``...)."""
    return [alert["labels"] for alert in alerts(prometheus_url, timeout) if alert["state"] == "firing"]
