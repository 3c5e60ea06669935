"""HTTP statuses and transport failures become the simulator's outcome names."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from live.common.server import running
from live.loadgen.outcomes import LIVE_OUTCOMES, outcome_of_status
from live.loadgen.runner import Limits, run_load
from live.loadgen.schedule import plan_load
from simulator.records import OUTCOMES


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "ok"),
        (201, "ok"),
        (204, "ok"),
        (304, "ok"),
        (400, "error"),
        (401, "error"),
        (404, "error"),
        (408, "timeout"),
        (413, "error"),
        (429, "limited"),
        (500, "error"),
        (502, "error"),
        (503, "rejected"),
        (504, "timeout"),
    ],
)
def test_status_mapping(status: int, outcome: str) -> None:
    assert outcome_of_status(status) == outcome


def test_every_mapped_outcome_is_in_the_simulators_vocabulary() -> None:
    assert {outcome_of_status(s) for s in range(100, 600)} <= set(OUTCOMES)
    assert set(OUTCOMES) < set(LIVE_OUTCOMES)


STATUSES = (200, 201, 404, 429, 500, 503, 504)


def _app() -> web.Application:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"status": "as asked"}, status=int(request.match_info["status"]))

    async def hang_up(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()  # no answer at all: the client sees the connection drop
        return web.Response()

    app = web.Application()
    app.router.add_get("/status/{status}", answer)
    app.router.add_get("/hang-up", hang_up)
    return app


@pytest.mark.live
def test_outcomes_of_real_answers() -> None:
    with running(_app()) as base:

        def fetch(path: str):
            async def action(session: aiohttp.ClientSession) -> int:
                async with session.get(base + path) as response:
                    await response.read()
                    return response.status

            return action

        actions = {str(s): fetch(f"/status/{s}") for s in STATUSES} | {"hang-up": fetch("/hang-up")}

        async def setup(session: aiohttp.ClientSession):
            return actions

        mix = dict.fromkeys(actions, 1.0)
        plan = plan_load("200/s", "1s", mix, seed=1)
        result = run_load(plan, setup, Limits(timeout=5.0))
    frame = result.requests
    assert set(frame["action"]) == set(actions)
    for status in STATUSES:
        rows = frame[frame["action"] == str(status)]
        assert (rows["status"] == status).all()
        assert (rows["outcome"] == outcome_of_status(status)).all()
        assert (rows["error"] == "").all()
    dropped = frame[frame["action"] == "hang-up"]
    assert (dropped["outcome"] == "error").all()
    assert (dropped["status"] == 0).all()
    assert dropped["error"].str.contains("Disconnected").all()
