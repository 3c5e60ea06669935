"""The live autoscaler on a whole stack: an open-loop ramp of orders makes orders' replicas follow
up (in steps of at most ``max_change``), and when the load stops they come back down to the minimum."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from live.autoscaler import Decision, autoscale, request_rate_hpa
from live.loadgen import Limits, load_shop
from live.supervisor import Stack
from tests.live.conftest import running_stack

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("stack")]

TARGET = 5.0  # requests/s per orders replica
RATE = 40.0  # offered: 8 replicas' worth, twice the maximum of 4
PERIOD = 0.5


@pytest.fixture
def small_stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path) as started:
        yield started


def test_orders_replicas_follow_a_ramp_up_and_come_back_down(small_stack: Stack) -> None:
    hpa = request_rate_hpa(TARGET, 1, 4, period=PERIOD, scale_down_window=2.0, max_change=2)
    decisions: list[Decision] = []
    stop = threading.Event()

    def run() -> None:
        decisions.extend(autoscale(small_stack, "orders", hpa, period=PERIOD, duration=40, stop=stop))

    loop = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    loop.start()
    try:
        result = load_shop(
            small_stack.state.url("gateway") or "",
            rate=RATE,
            duration=8.0,
            mix="order=1",
            limits=Limits(max_in_flight=200, timeout=5.0),
        )
        load_ended = time.monotonic() - started
        deadline = time.monotonic() + 20
        while len(small_stack.state.of("orders")) > 1 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        loop.join(timeout=30)
    assert not loop.is_alive()
    steps = "\n".join(map(str, decisions))
    ok = (result.requests["outcome"] == "ok").mean()
    assert ok > 0.9, f"only {ok:.0%} of the orders succeeded while scaling"
    during = [d for d in decisions if d.at < load_ended]
    after = [d for d in decisions if d.at > load_ended]
    assert max(d.desired for d in during) >= 3, steps  # followed the load up while it ran...
    assert max(d.per_replica for d in during) > TARGET * 1.1, steps
    assert all(abs(d.desired - d.replicas) <= 2 for d in decisions), steps  # ...in bounded steps
    assert any(d.desired < d.replicas for d in after), steps  # and came down once it stopped
    assert after[-1].per_replica < TARGET * (1 - hpa.tolerance), steps  # the load is really gone
    assert len(small_stack.state.of("orders")) == 1, steps
