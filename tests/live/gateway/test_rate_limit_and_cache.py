"""Per-client rate limits and the GET cache, over real HTTP on a clock the test moves."""

from __future__ import annotations

from typing import Any

import pytest

from live.gateway.app import GATEWAY
from patterns.clock import ManualClock
from tests.live.gateway.support import Backend, Keys, bearer, config, gateway_running, jwks_of, send, send_all

pytestmark = pytest.mark.live

KEYS = Keys("k")
ORDERS = {"prefix": "/orders", "service": "orders", "auth": "token"}
CATALOG = {"prefix": "/catalog", "service": "catalog", "auth": "public"}


def stack(**route: Any) -> tuple[list[Backend], dict[str, Any]]:
    users = Backend("users", "users-1", jwks=jwks_of(KEYS))
    orders = Backend("orders", "orders-1")
    catalog = Backend("catalog", "catalog-1")
    routes = {"orders": {**ORDERS, **route}, "catalog": {**CATALOG, **route}}
    return [users, orders, catalog], routes


def test_each_client_has_its_own_token_bucket() -> None:
    backends, routes = stack()
    clock = ManualClock()
    alice, bob = bearer(KEYS.token("alice")), bearer(KEYS.token("bob"))
    gateway_config = config(routes, rate_limit={"rate": 1, "burst": 2})
    with gateway_running(gateway_config, backends, clock=clock) as gateway:
        orders = gateway.api("/orders")
        assert [send("GET", orders, alice).status for _ in range(2)] == [200, 200]
        limited = send("GET", orders, alice)
        assert limited.status == 429
        assert limited.headers["Retry-After"] == "1"
        assert limited.json["retry_after"] == pytest.approx(1.0)
        assert limited.json["error"] == "too many requests from user:alice: slow down and retry after 1 s"
        assert send("GET", orders, bob).status == 200  # another subject, another bucket
        clock.advance(1.0)
        assert send("GET", orders, alice).status == 200
        assert send("GET", orders, alice).status == 429
        # without a token the client is its address: these three share one bucket
        assert [send("GET", gateway.api("/catalog")).status for _ in range(3)] == [200, 200, 429]
    assert backends[1].calls == 4


def test_a_cached_answer_is_served_without_calling_the_service() -> None:
    backends, routes = stack(cache={"ttl": 5, "capacity": 10})
    catalog = backends[2]
    clock = ManualClock()
    with gateway_running(config(routes), backends, clock=clock) as gateway:
        url = gateway.api("/catalog/items?page=1")
        first, second = send("GET", url), send("GET", url)
        assert (first.status, first.headers["X-Cache"]) == (200, "miss")
        assert (second.status, second.headers["X-Cache"]) == (200, "hit")
        assert second.json == first.json
        assert catalog.calls == 1
        other_page = send("GET", gateway.api("/catalog/items?page=2"))
        assert other_page.headers["X-Cache"] == "miss"  # the query is part of the key
        assert send("GET", url, {"Cache-Control": "no-store"}).headers["X-Cache"] == "bypass"
        assert catalog.calls == 3
        clock.advance(5)
        assert send("GET", url).headers["X-Cache"] == "miss"  # expired
        assert catalog.calls == 4


def test_cached_answers_of_token_routes_are_per_caller() -> None:
    backends, routes = stack(cache={"ttl": 5, "capacity": 10})
    orders = backends[1]
    with gateway_running(config(routes), backends, clock=ManualClock()) as gateway:
        url = gateway.api("/orders")
        for user in ("alice", "bob", "alice", "bob"):
            answer = send("GET", url, bearer(KEYS.token(user)))
            assert answer.json["user"] == user
        assert orders.calls == 2
        assert send("GET", url, bearer(KEYS.token("alice"))).headers["X-Cache"] == "hit"


def test_only_200_answers_without_no_store_are_kept() -> None:
    backends, routes = stack(cache={"ttl": 5, "capacity": 10})
    catalog = backends[2]
    with gateway_running(config(routes), backends, clock=ManualClock()) as gateway:
        url = gateway.api("/catalog/items")
        catalog.status = 404
        assert [send("GET", url).status for _ in range(2)] == [404, 404]
        catalog.status, catalog.reply_headers = 200, {"Cache-Control": "no-store"}
        assert [send("GET", url).headers["X-Cache"] for _ in range(2)] == ["miss", "miss"]
        catalog.reply_headers = {"Cache-Control": "private, max-age=60"}  # not for a shared public entry
        assert [send("GET", url).headers["X-Cache"] for _ in range(2)] == ["miss", "miss"]
        assert catalog.calls == 6


def test_only_the_paths_the_cache_covers_are_cached() -> None:
    backends, routes = stack()
    routes["catalog"]["cache"] = {"ttl": 60, "capacity": 10, "paths": ["/catalog/items"]}
    catalog = backends[2]
    with gateway_running(config(routes), backends, clock=ManualClock()) as gateway:
        listing, item = gateway.api("/catalog/items"), gateway.api("/catalog/items/KB-1")
        assert [send("GET", listing).headers["X-Cache"] for _ in range(2)] == ["miss", "hit"]
        assert ["X-Cache" in send("GET", item).headers for _ in range(2)] == [False, False]
        assert catalog.calls == 3


def test_answers_setting_a_cookie_are_never_kept() -> None:
    backends, routes = stack(cache={"ttl": 60, "capacity": 10})
    catalog = backends[2]
    catalog.reply_headers = {"Set-Cookie": "session=for-one-client-only"}
    with gateway_running(config(routes), backends, clock=ManualClock()) as gateway:
        answers = [send("GET", gateway.api("/catalog/items")) for _ in range(2)]
    assert [a.headers["X-Cache"] for a in answers] == ["miss", "miss"]
    assert catalog.calls == 2


def test_concurrent_misses_make_one_call_to_the_service() -> None:
    backends, routes = stack(cache={"ttl": 60, "capacity": 10})
    catalog = backends[2]
    catalog.delay = 0.3
    with gateway_running(config(routes), backends, clock=ManualClock()) as gateway:
        url = gateway.api("/catalog/items")
        answers = send_all([("GET", url, None)] * 5)
        flights = gateway.app[GATEWAY].routes["catalog"].cache.flights
        assert (flights.leaders, flights.coalesced) == (1, 4)
    assert [a.status for a in answers] == [200] * 5
    assert sorted(a.headers["X-Cache"] for a in answers) == ["coalesced"] * 4 + ["miss"]
    assert len({a.text for a in answers}) == 1
    assert catalog.calls == 1


def test_when_the_first_miss_keeps_nothing_the_others_fetch_their_own() -> None:
    backends, routes = stack(cache={"ttl": 60, "capacity": 10})
    catalog = backends[2]
    catalog.status, catalog.delay = 404, 0.3
    with gateway_running(config(routes), backends, clock=ManualClock()) as gateway:
        answers = send_all([("GET", gateway.api("/catalog/items"), None)] * 3)
    assert [(a.status, a.headers["X-Cache"]) for a in answers] == [(404, "miss")] * 3
    assert catalog.calls == 3


def test_a_write_empties_the_routes_cache() -> None:
    backends, routes = stack(cache={"ttl": 60, "capacity": 10})
    catalog = backends[2]
    with gateway_running(config(routes), backends, clock=ManualClock()) as gateway:
        url = gateway.api("/catalog/items")
        assert [send("GET", url).headers["X-Cache"] for _ in range(2)] == ["miss", "hit"]
        assert send("POST", url, body=b"{}").status == 200
        assert send("GET", url).headers["X-Cache"] == "miss"
        assert catalog.calls == 3
