"""The gateway instrumented as `python -m live.gateway` does it: metrics by route, breakers, traces."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from live.common.observability import instrument
from live.common.settings import InstanceSettings
from live.gateway.app import GATEWAY
from tests.live.gateway.support import Backend, config, gateway_running, send

pytestmark = pytest.mark.live

ROUTES = {"items": {"prefix": "/items", "service": "items", "auth": "public", "retry": {"attempts": 1}}}


def test_metrics_name_routes_and_breakers_and_traces_continue_through_the_gateway(tmp_path: Path) -> None:
    backend = Backend("items", "items-1")
    settings = InstanceSettings("gateway", "gateway-1", tmp_path)

    def observe(app: web.Application) -> None:
        observed = instrument(app, settings)
        app[GATEWAY].watch_breakers(observed.metrics.breaker)

    trace_id, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with gateway_running(config(ROUTES), [backend], prepare=observe) as gateway:
        answer = send("GET", gateway.api("/items/7"), {"traceparent": f"00-{trace_id}-{caller_span}-01"})
        assert answer.status == 200
        assert send("GET", gateway.url + "/ready").status == 200
        metrics = send("GET", gateway.url + "/metrics").text
    assert 'http_requests_total{method="GET",route="/api/items/{tail}",status="200"} 1.0' in metrics
    assert 'circuit_breaker_state{breaker="items"} 0.0' in metrics
    version, trace, span, _ = backend.seen[-1].headers["traceparent"].split("-")
    assert (version, trace) == ("00", trace_id)  # the same trace ...
    assert span != caller_span  # ... continued by a span of the gateway's own
    assert trace_id in (tmp_path / "traces" / "gateway-1.jsonl").read_text()
