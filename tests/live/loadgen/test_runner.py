"""The open loop: sends keep to the schedule whatever the answers do; bounds hold."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from live.common.server import running
from live.loadgen.outcomes import DROPPED
from live.loadgen.runner import Limits, SetupError, run_load
from live.loadgen.schedule import plan_load
from tests.live.loadgen.actions import get, setup_with

pytestmark = pytest.mark.live


def _app(arrivals: list[float] | None = None) -> web.Application:
    """``GET /slow?seconds=s`` answers after s seconds; it notes when each request arrived."""

    async def slow(request: web.Request) -> web.Response:
        if arrivals is not None:
            arrivals.append(time.monotonic())
        await asyncio.sleep(float(request.query.get("seconds", "0")))
        return web.json_response({"slept": request.query.get("seconds")})

    app = web.Application()
    app.router.add_get("/slow", slow)
    return app


def test_a_slow_server_does_not_slow_the_schedule() -> None:
    """20 req/s against answers that take 500 ms: a closed loop with one client would manage 2 req/s;
    the open loop keeps sending 20 a second, ~10 in flight, and every latency is ~500 ms."""
    plan = plan_load("20/s", "2s", {"slow": 1.0}, process="constant")
    arrivals: list[float] = []
    with running(_app(arrivals)) as base:
        began = time.monotonic()
        result = run_load(plan, setup_with(slow=get(f"{base}/slow?seconds=0.5")))
        elapsed = time.monotonic() - began
    frame = result.requests
    assert len(frame) == 39
    assert (frame["outcome"] == "ok").all()
    lag = (frame["sent"] - frame["scheduled"]).to_numpy()
    # Bounds with room for a busy machine; a closed loop would lag by seconds and manage 2 req/s.
    assert lag.min() >= 0
    assert lag.max() < 0.25
    sent = frame["sent"].to_numpy()
    assert (len(sent) - 1) / (sent[-1] - sent[0]) == pytest.approx(20.0, rel=0.1)
    assert len(arrivals) == 39  # and the server saw them come at that rate
    assert (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) == pytest.approx(20.0, rel=0.1)
    assert frame["latency"].between(0.5, 0.75).all()
    # The whole run: the last send at 1.95 s plus one answer, not 39 answers one after another.
    assert elapsed < 3.5
    answered = frame["scheduled"] + frame["latency"]
    in_flight_at_1s = int(((frame["sent"] <= 1.0) & (answered > 1.0)).sum())
    assert 9 <= in_flight_at_1s <= 11


def test_latency_counts_from_the_schedule_when_the_generator_lags() -> None:
    """The first action blocks the event loop for 300 ms: the requests due meanwhile go out late, and
    their latency includes that lag (a user would have been waiting since the scheduled moment)."""

    with running(_app()) as base:
        fast = get(f"{base}/slow?seconds=0")

        async def stall(session: aiohttp.ClientSession) -> int:
            time.sleep(0.3)  # blocks the whole loop, the generator's schedule with it
            return await fast(session)

        plan = plan_load("50/s", "1s", {"fast": 1.0}, process="constant")
        plan = type(plan)(plan.times, ("stall", *plan.actions[1:]), plan.horizon, plan.rate, plan.process)
        result = run_load(plan, setup_with(stall=stall, fast=fast))
    frame = result.requests
    assert (frame["outcome"] == "ok").all()
    lag = frame["sent"] - frame["scheduled"]
    late = frame[(frame["scheduled"] > frame["scheduled"][0] + 0.05) & (frame["scheduled"] < 0.25)]
    assert len(late) >= 8
    assert (lag[late.index] > 0.05).all()
    assert (frame.loc[late.index, "latency"] >= lag[late.index]).all()
    on_time = frame[frame["scheduled"] > 0.6]
    assert (lag[on_time.index] < 0.05).all()
    assert (frame.loc[on_time.index, "latency"] < 0.1).all()


def test_max_in_flight_drops_instead_of_queueing() -> None:
    plan = plan_load("20/s", "0.5s", {"slow": 1.0}, process="constant")
    with running(_app()) as base:
        result = run_load(plan, setup_with(slow=get(f"{base}/slow?seconds=1")), Limits(max_in_flight=3))
    frame = result.requests
    assert len(frame) == 9
    sent, dropped = frame.iloc[:3], frame.iloc[3:]
    assert (sent["outcome"] == "ok").all()
    assert sent["latency"].between(1.0, 1.2).all()
    assert (dropped["outcome"] == DROPPED).all()
    assert (dropped["status"] == 0).all()
    assert dropped["sent"].isna().all()
    assert dropped["latency"].isna().all()
    assert dropped["error"].str.contains("3 requests already in flight").all()


def test_max_requests_bounds_the_run() -> None:
    plan = plan_load("200/s", "10s", {"fast": 1.0}, max_requests=25)
    with running(_app()) as base:
        began = time.monotonic()
        result = run_load(plan, setup_with(fast=get(f"{base}/slow?seconds=0")))
        elapsed = time.monotonic() - began
    assert len(result.requests) == 25
    assert (result.requests["outcome"] == "ok").all()
    assert result.horizon < 1.0
    assert elapsed < 2.0


def test_the_timeout_ends_a_request_and_counts_from_its_send() -> None:
    plan = plan_load("10/s", "0.3s", {"slow": 1.0}, process="constant")
    with running(_app()) as base:
        result = run_load(plan, setup_with(slow=get(f"{base}/slow?seconds=1")), Limits(timeout=0.2))
    frame = result.requests
    assert len(frame) == 2
    assert (frame["outcome"] == "timeout").all()
    assert (frame["status"] == 0).all()
    assert frame["latency"].between(0.2, 0.3).all()
    assert frame["error"].str.contains("no answer within 0.2 s").all()


def test_a_failing_action_is_a_row_not_a_crash() -> None:
    async def broken(session: aiohttp.ClientSession) -> int:
        raise KeyError("sku")

    result = run_load(plan_load("20/s", "0.2s", {"broken": 1.0}), setup_with(broken=broken))
    assert (result.requests["outcome"] == "error").all()
    assert result.requests["error"].eq("KeyError: 'sku'").all()


def test_setup_problems_stop_the_run_before_it_sends() -> None:
    plan = plan_load("20/s", "0.2s", {"browse": 0.5, "order": 0.5}, seed=1)
    with pytest.raises(SetupError, match="does not provide: order"):
        run_load(plan, setup_with(browse=get("http://127.0.0.1:9/")))

    async def unreachable(session: aiohttp.ClientSession):
        async with session.get("http://127.0.0.1:9/"):
            pass

    with pytest.raises(SetupError, match="the setup failed: ClientConnectorError"):
        run_load(plan, unreachable)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"timeout": 0.0}, "timeout"),
        ({"connections": 0}, "connections"),
    ],
)
def test_bad_limits_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Limits(**kwargs)


def test_rows_are_in_schedule_order_with_the_documented_columns() -> None:
    plan = plan_load("100/s", "0.3s", {"a": 0.5, "b": 0.5}, seed=4)

    async def ok(session: aiohttp.ClientSession) -> int:
        return 200

    frame = run_load(plan, setup_with(a=ok, b=ok)).requests
    assert list(frame.columns) == [
        "request",
        "action",
        "scheduled",
        "sent",
        "latency",
        "status",
        "outcome",
        "error",
        "trace_id",
    ]
    assert frame["request"].tolist() == list(range(len(plan)))
    assert np.array_equal(frame["scheduled"].to_numpy(), plan.times)
    assert frame["action"].astype(str).tolist() == list(plan.actions)


def test_the_progress_bar_counts_every_request(capsys: pytest.CaptureFixture[str]) -> None:
    async def ok(session: aiohttp.ClientSession) -> int:
        return 200

    plan = plan_load("100/s", "0.3s", {"ok": 1.0}, process="constant")
    run_load(plan, setup_with(ok=ok), progress=True)
    assert f"{len(plan)}/{len(plan)}" in capsys.readouterr().err
    run_load(plan, setup_with(ok=ok))
    assert capsys.readouterr().err == ""
