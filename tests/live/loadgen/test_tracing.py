"""Every request starts its own trace; its row names it, and the stack's spans continue it."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from live.common.observability import instrument
from live.common.server import running
from live.common.settings import InstanceSettings
from live.loadgen.runner import Limits, run_load
from live.loadgen.schedule import plan_load
from live.loadgen.tracing import span_of, write_spans
from live.traceview import load_traces, pick_trace, trace_data
from tests.live.loadgen.actions import get, setup_with

pytestmark = pytest.mark.live

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-[0-9a-f]{16}-01$")


def test_each_request_carries_the_traceparent_its_row_names() -> None:
    seen: list[str] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request.headers.get("traceparent", ""))
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/", record)
    with running(app) as base:
        result = run_load(plan_load("100/s", "0.3s", {"get": 1.0}, seed=1), setup_with(get=get(base)))
    frame = result.requests
    matches = [TRACEPARENT.match(header) for header in seen]
    assert all(matches)
    assert sorted(m.group(1) for m in matches) == sorted(frame["trace_id"])
    assert frame["trace_id"].nunique() == len(frame)


def test_a_dropped_request_has_no_trace() -> None:
    async def slow(session: aiohttp.ClientSession) -> int:
        await asyncio.sleep(0.3)
        return 200

    plan = plan_load("100/s", "0.1s", {"slow": 1.0}, process="constant")
    frame = run_load(plan, setup_with(slow=slow), Limits(max_in_flight=1)).requests
    assert re.fullmatch(r"[0-9a-f]{32}", frame["trace_id"].iloc[0])
    assert (frame["outcome"].iloc[1:] == "dropped_by_generator").all()
    assert (frame["trace_id"].iloc[1:] == "").all()


def test_the_row_of_a_request_leads_to_its_spans(tmp_path: Path) -> None:
    """The inventory's server span continues the generator's trace; with the generator's spans
    written too, each trace starts at the generator's span, and its child is the server's."""

    async def item(request: web.Request) -> web.Response:
        return web.json_response({"sku": "apple"})

    app = web.Application()
    app.router.add_get("/inventory/items", item)
    instrument(app, InstanceSettings(service="inventory", instance="inventory-1", state_dir=tmp_path))
    began = time.time_ns()
    with running(app) as base:
        plan = plan_load("50/s", "0.3s", {"get": 1.0}, seed=2)
        result = run_load(plan, setup_with(get=get(f"{base}/inventory/items")))
    frame = result.requests
    assert began <= result.started_ns <= time.time_ns()
    slowest = frame.loc[frame["latency"].idxmax(), "trace_id"]
    (orphan,) = trace_data(pick_trace(load_traces(tmp_path), slowest))
    assert orphan["note"] == f"parent span {span_of(slowest)} is in no trace file"

    write_spans(result, tmp_path / "traces" / "loadgen.jsonl", per_line=4)
    found = load_traces(tmp_path)
    assert found.problems == ()
    assert set(found.traces) == set(frame["trace_id"])
    trace = pick_trace(found, slowest)
    (root,) = trace_data(trace)
    assert (root["service"], root["name"], root["kind"], root["http_status"]) == (
        "loadgen",
        "load get",
        "client",
        200,
    )
    assert root["note"] == ""
    (server,) = root["children"]
    assert (server["service"], server["name"], server["kind"]) == (
        "inventory",
        "GET /inventory/items",
        "server",
    )
    row = frame[frame["trace_id"] == slowest].iloc[0]
    assert root["duration_ms"] == pytest.approx(
        (row["scheduled"] + row["latency"] - row["sent"]) * 1e3, abs=1e-3
    )
    assert server["offset_ms"] >= 0
    assert server["offset_ms"] + server["duration_ms"] <= root["duration_ms"] + 1.0  # 1 ms: two clocks
