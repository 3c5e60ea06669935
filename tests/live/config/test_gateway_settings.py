"""The gateway's live settings: which keys apply, how they combine, and what a change rebuilds."""

from __future__ import annotations

import pytest

from live.common.features import FeatureFlags
from live.gateway.config import GatewayConfigError, load_gateway_config
from live.gateway.live_config import MAINTENANCE_MESSAGE, LiveGatewayConfig, live_settings
from live.gateway.state import GatewayState
from patterns.breaker import BreakerState

BASE = load_gateway_config()  # the bundled gateway.yaml: rate 500, burst 1000, round_robin


def test_dotted_keys_override_the_file_and_the_longer_key_wins() -> None:
    settings = live_settings(
        BASE,
        {
            "gateway.rate_limit.rate": 2,  # applied after the whole object below, whatever the order
            "gateway.rate_limit": {"rate": 7, "burst": 3},
            "gateway.routes.orders.breaker.failure_rate_threshold": 20,
            "gateway.routes.users.balancing": {"policy": "least_outstanding"},
            "orders.unrelated": True,
        },
    )
    config = settings.config
    assert config.rate_limit is not None
    assert (config.rate_limit.rate, config.rate_limit.burst) == (2, 3)
    orders_breaker = config.routes["orders"].breaker
    assert orders_breaker is not None
    assert orders_breaker.failure_rate_threshold == 20
    assert orders_breaker.minimum_calls == 10  # the file's other breaker fields stay
    assert config.routes["users"].balancing is not None
    assert config.routes["users"].balancing.policy == "least_outstanding"
    assert (settings.maintenance, settings.ignored) == (None, ())


def test_settings_fixed_at_start_are_ignored_by_name() -> None:
    settings = live_settings(
        BASE,
        {
            "gateway.strip_prefix": "/v2",
            "gateway.routes.orders.prefix": "/o",
            "gateway.routes.nowhere.timeout": 1,
            "gateway.rate_limit": None,  # live: switches the limit off
        },
    )
    assert settings.ignored == (
        "gateway.strip_prefix",
        "gateway.routes.nowhere.timeout",
        "gateway.routes.orders.prefix",
    )
    assert settings.config.strip_prefix == "/api"
    assert settings.config.routes["orders"].prefix == "/orders"
    assert settings.config.rate_limit is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, MAINTENANCE_MESSAGE), (" back at 6 ", "back at 6"), (False, None), (None, None)],
)
def test_maintenance_is_a_flag_or_a_message(value: object, expected: str | None) -> None:
    assert live_settings(BASE, {"gateway.maintenance": value}).maintenance == expected


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"gateway.rate_limit.rate": -1}, "rate_limit.rate"),
        ({"gateway.balancing.policy": "fastest"}, "balancing"),
        ({"gateway.routes.orders.breaker.failure_rate_threshold": 500}, "routes.orders.breaker"),
        ({"gateway.maintenance": 3}, "gateway.maintenance"),
    ],
)
def test_a_value_the_gateway_cannot_use_is_refused_naming_its_field(values: dict, field: str) -> None:
    with pytest.raises(GatewayConfigError) as refused:
        live_settings(BASE, values)
    assert any(where.startswith(field) for where, _ in refused.value.problems)


def test_a_changed_rate_limit_starts_full_buckets_and_an_unchanged_one_keeps_its_state() -> None:
    now = [0.0]
    state = GatewayState.build(
        live_settings(BASE, {"gateway.rate_limit": {"rate": 1, "burst": 2}}).config, lambda: now[0]
    )
    limiter = state.limiter
    assert limiter is not None
    assert [limiter.try_acquire("ip:a") for _ in range(3)] == [True, True, False]
    kept = state.reconfigure(
        live_settings(
            BASE, {"gateway.rate_limit": {"rate": 1, "burst": 2}, "gateway.balancing.policy": "p2c"}
        ).config
    )
    assert state.limiter is limiter
    assert not limiter.try_acquire("ip:a")
    assert "rate_limit" not in kept
    assert kept == [f"routes.{name}.policy" for name in ("users", "orders", "inventory")]
    rebuilt = state.reconfigure(live_settings(BASE, {"gateway.rate_limit": {"rate": 1, "burst": 3}}).config)
    assert "rate_limit" in rebuilt
    assert state.limiter is not limiter
    assert [state.limiter.try_acquire("ip:a") for _ in range(4)] == [True, True, True, False]


def test_a_breaker_keeps_its_state_unless_its_own_settings_change() -> None:
    now = [0.0]
    state = GatewayState.build(BASE, lambda: now[0])
    seen: list[tuple[str, BreakerState]] = []
    state.watch_breakers(lambda route, breaker_state: seen.append((route, breaker_state)))
    breaker = state.routes["orders"].breaker
    assert breaker is not None
    for _ in range(10):
        breaker.on_error(0.01)
    assert breaker.state is BreakerState.OPEN
    state.reconfigure(live_settings(BASE, {"gateway.routes.orders.timeout": 1.0}).config)
    orders = state.routes["orders"]
    assert orders.breaker is breaker
    assert orders.config.timeout == 1.0
    assert breaker.state is BreakerState.OPEN
    seen.clear()
    rebuilt = state.reconfigure(
        live_settings(BASE, {"gateway.routes.orders.breaker.minimum_calls": 50}).config
    )
    assert rebuilt == ["routes.orders.breaker"]
    fresh = state.routes["orders"].breaker
    assert fresh is not None
    assert fresh is not breaker
    assert fresh.state is BreakerState.CLOSED
    assert fresh.config.minimum_calls == 50
    assert seen == [("orders", BreakerState.CLOSED)]  # metrics follow the new breaker


def test_a_refused_change_leaves_the_gateway_as_it_was() -> None:
    state = GatewayState.build(BASE, lambda: 0.0)
    apply = LiveGatewayConfig(BASE, state)
    apply({"gateway.rate_limit.rate": 5, "gateway.maintenance": "closed"})
    limiter, config = state.limiter, state.config
    apply({"gateway.rate_limit.rate": "fast", "gateway.maintenance": False})
    assert state.limiter is limiter
    assert state.config is config
    assert state.maintenance == "closed"
    apply({})
    assert state.maintenance is None
    assert state.config == BASE
    with pytest.raises(ValueError, match="routes are fixed"):
        state.reconfigure(BASE.model_copy(update={"routes": {"users": BASE.routes["users"]}}))


def test_feature_flags_take_only_true_or_false_and_else_their_default() -> None:
    flags = FeatureFlags("orders")
    assert flags.enabled("cancel_enabled")
    assert not flags.enabled("beta", default=False)
    flags(
        {"features.orders.cancel_enabled": False, "features.orders.beta": "yes", "features.users.beta": True}
    )
    assert not flags.enabled("cancel_enabled")
    assert not flags.enabled("beta", default=False)  # "yes" is not a boolean
    assert flags.prefix == "features.orders."
