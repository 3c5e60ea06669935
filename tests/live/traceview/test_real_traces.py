"""The viewer reads what the stack writes: two instrumented services, one request, one tree."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from live.common.server import running
from live.traceview import load_traces, pick_trace, trace_data
from tests.live.pair import inventory_app, orders_app


@pytest.mark.live
def test_a_request_across_two_services_is_one_tree(tmp_path: Path) -> None:
    with (
        running(inventory_app(tmp_path)) as inventory_url,
        running(orders_app(tmp_path, inventory_url)) as orders_url,
    ):
        with urllib.request.urlopen(f"{orders_url}/orders/check/sku-1", timeout=5) as response:
            assert response.status == 200
        urllib.request.urlopen(f"{inventory_url}/inventory/items/alone", timeout=5).close()
    found = load_traces(tmp_path)
    assert found.problems == ()
    assert found.files == 2
    assert len(found.traces) == 2
    trace = pick_trace(found, min_services=2)
    assert pick_trace(found).services == ("inventory",)  # the later request touched inventory only
    (root,) = trace_data(trace)
    assert (root["service"], root["kind"], root["name"], root["http_status"]) == (
        "orders",
        "server",
        "GET /orders/check/{sku}",
        200,
    )
    (client,) = root["children"]
    (served,) = client["children"]
    assert (client["service"], client["kind"]) == ("orders", "client")
    assert (served["service"], served["kind"], served["instance"]) == ("inventory", "server", "inventory-1")
    assert 0 <= client["offset_ms"] <= served["offset_ms"]
    assert served["offset_ms"] + served["duration_ms"] <= root["duration_ms"]
