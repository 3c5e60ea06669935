"""The gateway's resilience over real HTTP: retries and budgets, breaker, bulkhead, timeouts, balancing."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from live.common.instances import InstanceInfo
from live.gateway.app import GATEWAY
from patterns.breaker import BreakerState
from patterns.clock import ManualClock
from tests.live.gateway.support import Answer, Backend, closed_port, config, gateway_running, send

pytestmark = pytest.mark.live

PUBLIC = {"prefix": "/items", "service": "items", "auth": "public", "bulkhead": None, "breaker": None}
NO_WAIT = {"backoff": "none", "base": 0.01, "cap": 0.01}


def route(**settings: Any) -> dict[str, Any]:
    return {"items": {**PUBLIC, **settings}}


def backends(*statuses: int, delay: float = 0.0) -> list[Backend]:
    return [Backend("items", f"items-{i + 1}", status=s, delay=delay) for i, s in enumerate(statuses)]


def test_a_failed_try_is_retried_on_another_instance() -> None:
    failing, healthy = backends(500, 200)
    gateway_config = config(route(retry={"attempts": 2, **NO_WAIT}, retry_budget=None))
    with gateway_running(gateway_config, [failing, healthy]) as gateway:
        answers = [send("GET", gateway.api(f"/items/{n}")) for n in range(10)]
    assert [a.status for a in answers] == [200] * 10
    assert {a.json["instance"] for a in answers} == {"items-2"}
    assert failing.calls == 5  # round robin: every other request tries items-1 first ...
    assert healthy.calls == 10  # ... and its retry goes to the instance not tried yet


def test_the_retry_budget_stops_retries_once_spent() -> None:
    failing, healthy = backends(500, 200)
    budget = {"ratio": 0.0, "min_per_second": 0.5, "window": 4.0}  # a floor of 2 retries per window
    gateway_config = config(route(retry={"attempts": 3, **NO_WAIT}, retry_budget=budget))
    with gateway_running(gateway_config, [failing, healthy], clock=ManualClock()) as gateway:
        answers = [send("GET", gateway.api(f"/items/{n}")) for n in range(8)]
    assert [a.status for a in answers] == [200, 200, 200, 200, 502, 200, 502, 200]
    refused = answers[4].json
    assert refused["retries_stopped"] == "retry budget exhausted"
    assert refused["upstream_status"] == 500
    assert refused["attempts"] == 1
    assert failing.calls == 4  # round robin: the even requests try items-1 first
    assert healthy.calls == 4 + 2  # the odd requests, and the two retries the budget granted


def test_post_is_retried_only_with_an_idempotency_key() -> None:
    failing, healthy = backends(503, 200)
    gateway_config = config(route(retry={"attempts": 2, **NO_WAIT}))
    with gateway_running(gateway_config, [failing, healthy]) as gateway:
        plain = send("POST", gateway.api("/items"), body=b"{}")
        assert plain.status == 503
        assert plain.json["retries_stopped"] == "POST without an Idempotency-Key is not retried"
        assert (failing.calls, healthy.calls) == (1, 0)
        healthy_first = send("POST", gateway.api("/items"), body=b"{}")  # round robin moved on
        assert healthy_first.status == 200
        keyed = send("POST", gateway.api("/items"), {"Idempotency-Key": "order-77"}, b"{}")
        assert (keyed.status, keyed.json["instance"]) == (200, "items-2")
    assert [seen.headers.get("Idempotency-Key") for seen in failing.seen] == [None, "order-77"]
    assert healthy.seen[-1].headers["Idempotency-Key"] == "order-77"


def test_the_breaker_opens_after_failures_and_then_fails_fast() -> None:
    (broken,) = backends(500)
    breaker = {"window_size": 4, "minimum_calls": 4, "failure_rate_threshold": 50, "wait_in_open": 30,
               "permitted_calls_in_half_open": 1}  # fmt: skip
    clock = ManualClock()
    gateway_config = config(route(retry={"attempts": 1}, breaker=breaker))
    with gateway_running(gateway_config, [broken], clock=clock) as gateway:
        states: list[tuple[str, BreakerState]] = []
        gateway.app[GATEWAY].watch_breakers(lambda name, state: states.append((name, state)))
        assert [send("GET", gateway.api("/items")).status for _ in range(4)] == [502] * 4
        assert gateway.app[GATEWAY].routes["items"].breaker.state is BreakerState.OPEN
        started = time.monotonic()
        fast = send("GET", gateway.api("/items"))
        assert time.monotonic() - started < 1.0
        assert (fast.status, fast.json["breaker"]) == (503, "open")
        assert "circuit breaker is open" in fast.json["error"]
        assert fast.headers["Retry-After"] == "30"
        assert broken.calls == 4  # the fifth request never reached it
        broken.status = 200  # the service recovers; after wait_in_open one trial call closes the breaker
        clock.advance(30)
        assert send("GET", gateway.api("/items")).status == 200
        assert gateway.app[GATEWAY].routes["items"].breaker.state is BreakerState.CLOSED
    assert states == [
        ("items", BreakerState.CLOSED),
        ("items", BreakerState.OPEN),
        ("items", BreakerState.HALF_OPEN),
        ("items", BreakerState.CLOSED),
    ]


async def _when_busy(url: str, busy: Backend, then: list[str]) -> tuple[Answer, list[Answer]]:
    """Send a request to ``url``; once ``busy`` got it, send the ``then`` requests; all answers."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def get(target: str) -> Answer:
            async with session.get(target) as response:
                return Answer(response.status, CIMultiDict(response.headers), await response.text())

        first = asyncio.create_task(get(url))
        for _ in range(200):  # 2 s at most
            if busy.calls:
                break
            await asyncio.sleep(0.01)
        later = await asyncio.gather(*(get(target) for target in then))
        return await first, list(later)


def test_a_full_bulkhead_answers_503_at_once() -> None:
    (slow,) = backends(200, delay=0.5)
    bulkhead = {"max_concurrent": 1, "max_waiting": 0, "max_wait": 1.0}
    with gateway_running(config(route(bulkhead=bulkhead)), [slow]) as gateway:
        url = gateway.api("/items")
        first, (refused,) = asyncio.run(_when_busy(url, slow, [url]))
        assert first.status == 200
        assert refused.status == 503
        assert "concurrency limit (1 in flight, 0 waiting)" in refused.json["error"]
        assert slow.calls == 1
        assert gateway.app[GATEWAY].routes["items"].bulkhead.bulkhead.in_use == 0  # every permit came back


def test_a_bulkhead_queue_holds_a_waiter_until_a_permit_frees() -> None:
    (slow,) = backends(200, delay=0.3)
    bulkhead = {"max_concurrent": 1, "max_waiting": 1, "max_wait": 2.0}
    with gateway_running(config(route(bulkhead=bulkhead)), [slow]) as gateway:
        url = gateway.api("/items")
        first, (waited, refused) = asyncio.run(_when_busy(url, slow, [url, url]))
        assert sorted([first.status, waited.status, refused.status]) == [200, 200, 503]
        assert slow.calls == 2


def test_a_slow_service_gets_504_after_the_timeout() -> None:
    slow = backends(200, 200, delay=2.0)
    gateway_config = config(route(timeout=0.2, deadline=1.0, retry={"attempts": 2, **NO_WAIT}))
    with gateway_running(gateway_config, slow) as gateway:
        started = time.monotonic()
        answer = send("GET", gateway.api("/items"))
        elapsed = time.monotonic() - started
    assert answer.status == 504
    assert answer.json["attempts"] == 2  # both instances tried, each for 0.2 s
    assert answer.json["retries_stopped"] == "no attempts left"
    assert "did not answer in time" in answer.json["error"]
    assert 0.4 <= elapsed < 1.5


def test_an_unreachable_instance_is_retried_elsewhere_and_discovery_asked_again() -> None:
    (healthy,) = backends(200)
    dead = InstanceInfo("items", "items-0", "127.0.0.1", closed_port())
    for attempts, status in ((2, 200), (1, 502)):
        gateway_config = config(
            route(retry={"attempts": attempts, **NO_WAIT}), discovery={"refresh_interval": 60}
        )
        with gateway_running(gateway_config, [healthy], clock=ManualClock(), extra=[dead]) as gateway:
            answers = [send("GET", gateway.api("/items")) for _ in range(4)]
            assert [a.status for a in answers] == [status, 200, status, 200]
            # one lookup to start with, and one more after each refused connection (the answer is dropped)
            assert gateway.lookups == ["items"] * 3
    refused = answers[0].json
    assert refused["error"].startswith("could not reach the items service: ")
    assert refused["retries_stopped"] == "no attempts left"


def test_discovery_answers_are_reused_for_the_refresh_interval() -> None:
    clock = ManualClock()
    with gateway_running(
        config(route(), discovery={"refresh_interval": 10}), backends(200), clock=clock
    ) as gateway:
        for _ in range(3):
            assert send("GET", gateway.api("/items")).status == 200
        assert gateway.lookups == ["items"]
        clock.advance(10.5)
        assert send("GET", gateway.api("/items")).status == 200
        assert gateway.lookups == ["items", "items"]


@pytest.mark.parametrize(
    ("balancing", "expected"),
    [
        ({"policy": "round_robin"}, {"items-1": 10, "items-2": 10, "items-3": 10}),
        (
            {
                "policy": "weighted_round_robin",
                "options": {"weights": {"items-1": 4, "items-2": 1, "items-3": 1}},
            },
            {"items-1": 20, "items-2": 5, "items-3": 5},
        ),
    ],
)
def test_the_balancing_policy_spreads_requests_as_it_says(
    balancing: dict[str, Any], expected: dict[str, int]
) -> None:
    three = backends(200, 200, 200)
    with gateway_running(config(route(), balancing=balancing), three) as gateway:
        answers = [send("GET", gateway.api(f"/items/{n}")) for n in range(30)]
    assert Counter(a.json["instance"] for a in answers) == expected
    assert {b.name: b.calls for b in three} == expected
