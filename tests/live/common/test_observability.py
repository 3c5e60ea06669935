"""Probes, metrics, request logs and one trace across two instrumented services over real HTTP."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from live.common.logs import JsonFormatter
from live.common.observability import instrument, observability_of
from live.common.server import running
from simulator.otlp import SPAN_KIND_CLIENT, SPAN_KIND_SERVER, STATUS_ERROR
from tests.live.pair import inventory_app, orders_app, settings

pytestmark = pytest.mark.live


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def spans(path: Path) -> list[dict]:
    found = []
    for line in path.read_text().splitlines():
        for resource in json.loads(line)["resourceSpans"]:
            attributes = {a["key"]: a["value"]["stringValue"] for a in resource["resource"]["attributes"]}
            for scope in resource["scopeSpans"]:
                found += [{**span, "service": attributes["service.name"]} for span in scope["spans"]]
    return found


def test_probes_answer_and_readiness_follows_the_lifecycle(tmp_path: Path) -> None:
    app = inventory_app(tmp_path)
    with running(app) as url:
        assert get(f"{url}/health")[0] == 200
        assert get(f"{url}/ready")[0] == 200
        observability_of(app).lifecycle.drain()
        status, body = get(f"{url}/ready")
        assert (status, json.loads(body)) == (503, {"status": "draining"})


def test_one_trace_spans_both_services_and_metrics_count_by_route_template(tmp_path: Path) -> None:
    stock = inventory_app(tmp_path)
    with running(stock) as stock_url, running(orders_app(tmp_path, stock_url)) as front_url:
        assert get(f"{front_url}/orders/check/sku-1") == (200, b'{"upstream":200}')
        assert get(f"{front_url}/orders/check/broken") == (200, b'{"upstream":500}')
        metrics = get(f"{stock_url}/metrics")[1].decode()
    assert 'http_requests_total{method="GET",route="/inventory/items/{sku}",status="200"} 1.0' in metrics
    assert 'http_requests_total{method="GET",route="/inventory/items/{sku}",status="500"} 1.0' in metrics
    found = spans(tmp_path / "traces" / "orders-1.jsonl") + spans(tmp_path / "traces" / "inventory-1.jsonl")
    traces = {span["traceId"] for span in found}
    assert len(traces) == 2  # one per request, each across both services
    for trace_id in traces:
        tree = {span["spanId"]: span for span in found if span["traceId"] == trace_id}
        server_front, client, server_stock = sorted(
            tree.values(), key=lambda span: int(span["startTimeUnixNano"])
        )
        assert (server_front["service"], server_front["kind"], server_front["parentSpanId"]) == (
            "orders",
            SPAN_KIND_SERVER,
            "",
        )
        assert server_front["name"] == "GET /orders/check/{sku}"
        assert (client["kind"], client["parentSpanId"]) == (SPAN_KIND_CLIENT, server_front["spanId"])
        assert (server_stock["service"], server_stock["parentSpanId"]) == ("inventory", client["spanId"])
    errors = [span for span in found if span["status"]["code"] == STATUS_ERROR]
    assert {span["service"] for span in errors} == {"orders", "inventory"}  # the client span and the 500


def test_a_caller_supplied_traceparent_is_continued(tmp_path: Path) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    with running(inventory_app(tmp_path)) as url:
        request = urllib.request.Request(
            f"{url}/inventory/items/sku-1", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
        )
        urllib.request.urlopen(request, timeout=5).close()
    (span,) = spans(tmp_path / "traces" / "inventory-1.jsonl")
    assert (span["traceId"], span["parentSpanId"]) == (trace_id, "00f067aa0ba902b7")


def test_log_lines_are_json_with_the_current_trace(tmp_path: Path) -> None:
    app = inventory_app(tmp_path)
    observed = observability_of(app)
    formatter = JsonFormatter("inventory", "inventory-1")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "reserved %d", (3,), None)
    with observed.tracer.start_as_current_span("work") as span:
        line = json.loads(formatter.format(record))
    assert line["message"] == "reserved 3"
    assert (line["service"], line["instance"], line["level"]) == ("inventory", "inventory-1", "info")
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert "trace_id" not in json.loads(formatter.format(record))  # outside a span


def test_instrumenting_something_else_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="FastAPI or aiohttp"):
        instrument(object(), settings(tmp_path, "x"))
