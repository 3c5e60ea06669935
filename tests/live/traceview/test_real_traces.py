"""The viewer reads what the stack writes: two instrumented services, one request, one tree."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from aiohttp import web
from fastapi import FastAPI

from live.common.observability import instrument
from live.common.server import running
from live.common.settings import InstanceSettings
from live.traceview import load_traces, pick_trace, trace_data


def _settings(state_dir: Path, service: str) -> InstanceSettings:
    return InstanceSettings(service=service, instance=f"{service}-1", state_dir=state_dir)


def _inventory(state_dir: Path) -> web.Application:
    async def item(request: web.Request) -> web.Response:
        return web.json_response({"sku": request.match_info["sku"]})

    app = web.Application()
    app.router.add_get("/inventory/items/{sku}", item)
    instrument(app, _settings(state_dir, "inventory"))
    return app


def _orders(state_dir: Path, inventory_url: str) -> FastAPI:
    app = FastAPI()
    observed = instrument(app, _settings(state_dir, "orders"))

    @app.get("/orders/check/{sku}")
    async def check(sku: str) -> dict:
        async with (
            observed.client_session() as session,
            session.get(f"{inventory_url}/inventory/items/{sku}") as response,
        ):
            return {"upstream": response.status}

    return app


@pytest.mark.live
def test_a_request_across_two_services_is_one_tree(tmp_path: Path) -> None:
    with (
        running(_inventory(tmp_path)) as inventory_url,
        running(_orders(tmp_path, inventory_url)) as orders_url,
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
