"""The gateway's pure parts: its YAML (the bundled file is valid, mistakes are named by field with a
reason), routes and path patterns, and redirects rewritten through the gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from live.common.instances import InstanceInfo
from live.gateway.config import DEFAULT_CONFIG, GatewayConfigError, load_gateway_config, parse_gateway_config
from live.gateway.forwarding import public_location
from live.gateway.paths import path_matches
from live.gateway.routing import NoRoute, Router, UnsafePath

ORDERS = {"prefix": "/orders", "service": "orders"}


def problems(data: Any) -> dict[str, str]:
    with pytest.raises(GatewayConfigError) as caught:
        parse_gateway_config(data)
    return dict(caught.value.problems)


def test_the_bundled_config_routes_users_orders_and_inventory() -> None:
    config = load_gateway_config(DEFAULT_CONFIG)
    router = Router(config)
    assert router.prefixes == ["/api/inventory", "/api/orders", "/api/users"]
    assert router.match("POST", "/api/users").access.auth == "public"  # sign-up
    assert router.match("POST", "/api/users/token").access.auth == "public"  # log in
    assert router.match("GET", "/api/users/me").access.auth == "token"
    assert router.match("GET", "/api/users/alice").access.auth == "public"  # a public profile
    assert router.match("POST", "/api/orders").access.scopes == {"orders:write"}
    assert router.match("GET", "/api/orders/7").access.scopes == {"orders:read"}
    assert router.match("GET", "/api/inventory/items").access.auth == "public"
    assert router.match("POST", "/api/inventory/reservations").access.scopes == {"inventory:write"}
    inventory = config.routes["inventory"].cache
    assert inventory is not None
    assert inventory.covers("/inventory/items")
    assert not inventory.covers("/inventory/items/KB-001")  # stock is read fresh after an order
    assert config.routes["orders"].cache is None


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"routes": {"orders": {**ORDERS, "timeout": 0}}}, "routes.orders.timeout", "greater than 0"),
        ({"routes": {"orders": {**ORDERS, "timout": 1}}}, "routes.orders.timout", "unknown field"),
        ({"routes": {"orders": {"prefix": "/orders"}}}, "routes.orders.service", "Field required"),
        ({"routes": {"orders": {**ORDERS, "auth": "maybe"}}}, "routes.orders.auth", "'public' or 'token'"),
        ({"balancing": {"policy": "fastest"}, "routes": {"orders": ORDERS}}, "balancing", "known policies"),
        (
            {"balancing": {"policy": "p2c", "options": {"choice": 3}}, "routes": {"orders": ORDERS}},
            "balancing",
            "unknown option(s) choice",
        ),
        (
            {
                "balancing": {"policy": "weighted_round_robin", "options": {"weights": "orders-1"}},
                "routes": {"orders": ORDERS},
            },
            "balancing",
            "cannot take these options",
        ),
        (
            {"routes": {"orders": {**ORDERS, "retry": {"methods": ["GET", "POST"]}}}},
            "routes.orders.retry.methods",
            "POST is not idempotent",
        ),
        (
            {"routes": {"orders": {**ORDERS, "retry": {"backoff": "fibonacci"}}}},
            "routes.orders.retry.backoff",
            "full_jitter",
        ),
        (
            {"routes": {"orders": {**ORDERS, "breaker": {"failure_rate_threshold": 0}}}},
            "routes.orders.breaker",
            "percentage in [1, 100]",
        ),
        (
            {"routes": {"orders": {**ORDERS, "breaker": {"treshold": 5}}}},
            "routes.orders.breaker",
            "breaker fields are",
        ),
        (
            {"routes": {"orders": {**ORDERS, "rules": [{"path": "/users/me", "auth": "public"}]}}},
            "routes.orders",
            "rules[0].path: '/users/me' is not under the route's prefix '/orders'",
        ),
        (
            {"routes": {"orders": {**ORDERS, "rules": [{"auth": "public", "scopes": ["a"]}]}}},
            "routes.orders.rules[0]",
            "cannot require scopes",
        ),
        (
            {"routes": {"a": ORDERS, "b": {**ORDERS, "service": "other"}}},
            "",
            "share the prefix '/orders'",
        ),
        (
            {"routes": {"orders": {**ORDERS, "cache": {"paths": ["/orders/**/x"]}}}},
            "routes.orders",
            "cache.paths[0]: '**' may only be the last segment",
        ),
        ({"routes": {}}, "routes", "at least 1 item"),
        (
            {"rate_limit": {"rate": 5, "burst": 0.5}, "routes": {"orders": ORDERS}},
            "rate_limit.burst",
            "greater than or equal to 1",
        ),
    ],
)
def test_a_mistake_is_reported_with_its_field_and_reason(data: Any, field: str, words: str) -> None:
    found = problems(data)
    assert field in found, found
    assert words in found[field]


def test_every_problem_is_listed_in_the_printable_error(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("routes:\n  orders: {prefix: orders, service: '', cache: {ttl: -1}}\n", encoding="utf-8")
    with pytest.raises(GatewayConfigError) as caught:
        load_gateway_config(path)
    text = caught.value.render()
    assert text.splitlines()[0] == f"{path}: 3 problems in the gateway configuration"
    assert "• routes.orders.prefix: String should match pattern" in text
    assert "• routes.orders.service: String should have at least 1 character" in text
    assert "• routes.orders.cache.ttl: Input should be greater than 0" in text


def test_unreadable_and_malformed_files_are_problems_too(tmp_path: Path) -> None:
    with pytest.raises(GatewayConfigError, match="cannot read the file"):
        load_gateway_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("routes: [unclosed\n", encoding="utf-8")
    with pytest.raises(GatewayConfigError, match="not valid YAML"):
        load_gateway_config(bad)
    bad.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(GatewayConfigError, match="expected a mapping"):
        load_gateway_config(bad)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/orders/*", "/orders/7", True),
        ("/orders/*", "/orders", False),
        ("/orders/*", "/orders/7/cancel", False),
        ("/orders/*/cancel", "/orders/7/cancel", True),
        ("/orders/**", "/orders", True),
        ("/orders/**", "/orders/7/cancel", True),
        ("/users/token", "/users/token", True),
        ("/users/token", "/users/tokens", False),
    ],
)
def test_path_patterns(pattern: str, path: str, expected: bool) -> None:
    assert path_matches(pattern, path) is expected


@pytest.mark.parametrize(
    ("location", "public"),
    [
        ("http://127.0.0.1:4000/orders/7", "https://shop.example/api/orders/7"),
        ("/orders/7?x=1", "https://shop.example/api/orders/7?x=1"),
        ("http://127.0.0.1:4001/orders/7", "http://127.0.0.1:4001/orders/7"),  # another instance's: kept
        ("https://elsewhere.example/x", "https://elsewhere.example/x"),
        ("//elsewhere.example/x", "//elsewhere.example/x"),
    ],
)
def test_locations_on_the_instance_are_rewritten_through_the_gateway(location: str, public: str) -> None:
    instance = InstanceInfo("orders", "orders-1", "127.0.0.1", 4000)
    assert public_location(location, instance, "https://shop.example/api") == public


def test_routes_match_whole_segments_and_the_longest_prefix() -> None:
    config = parse_gateway_config(
        {"routes": {"orders": ORDERS, "history": {"prefix": "/orders/history", "service": "history"}}}
    )
    router = Router(config)
    assert router.match("GET", "/api/orders/7").name == "orders"
    assert router.match("GET", "/api/orders/history/3").name == "history"
    for path in ("/api/ordersx", "/api", "/api/", "/orders/7", "/apix/orders"):
        with pytest.raises(NoRoute):
            router.match("GET", path)
    with pytest.raises(UnsafePath):
        router.match("GET", "/api/orders/../users/me")
