"""The resilience schema: defaults merged with per-edge overrides, validation with paths, and builders."""

from __future__ import annotations

import random

import pytest

from patterns.breaker import BreakerState
from patterns.concurrency import AIMDLimit, GradientLimit, LatencyShedder, QueueLengthShedder
from patterns.hedging import NO_FALLBACK, CachedFallback
from patterns.retry import FullJitter
from simulator.errors import ScenarioError
from simulator.loader import parse_scenario, scenario_from_dict
from simulator.resilience import (
    BreakerSettings,
    ConcurrencyLimitSettings,
    FallbackSettings,
    ResilienceConfig,
    RetrySettings,
    SheddingSettings,
    build_breaker,
    build_fallback,
    build_gate,
    build_retry,
    build_shedder,
)


def _scenario(resilience: dict, **service: object) -> dict:
    return {
        "name": "edges",
        "duration": "10s",
        "services": {
            "api": {"service_time": {"dist": "exponential", "mean": "10ms"}, **service},
            "db": {"service_time": {"dist": "exponential", "mean": "5ms"}},
        },
        "routes": {"main": [{"call": "api", "calls": [{"call": "db"}]}]},
        "workloads": [{"route": "main", "arrivals": {"process": "poisson", "rate": "10/s"}}],
        "resilience": resilience,
    }


def test_edges_override_the_defaults_key_by_key() -> None:
    config = ResilienceConfig.model_validate(
        {
            "defaults": {"timeout": "1s", "retry": {"max_attempts": 3}, "breaker": {}},
            "edges": [
                {"from": "api", "to": "db", "timeout": "200ms", "retry": None},
                {"from": "client", "to": "api", "hedge": {"delay": "50ms"}},
            ],
        }
    )
    api_db = config.policy("api", "db")
    assert api_db.timeout == 0.2
    assert api_db.retry is None
    assert api_db.breaker is not None
    client_api = config.policy("client", "api")
    assert client_api.timeout == 1.0
    assert client_api.retry.max_attempts == 3
    assert client_api.hedge.delay == 0.05
    assert config.policy("x", "y") == config.defaults
    assert not ResilienceConfig().policy("a", "b").active


@pytest.mark.parametrize(
    ("resilience", "path", "words"),
    [
        (
            {"defaults": {"retry": {"backoff": "fibonacci"}}},
            "resilience.defaults.retry.backoff",
            "full_jitter",
        ),
        ({"defaults": {"retry": {"on": ["oops"]}}}, "resilience.defaults.retry.on[0]", "timeout"),
        ({"defaults": {"hedge": {}}}, "resilience.defaults.hedge", "exactly one of 'delay' or 'percentile'"),
        ({"defaults": {"bulkhead": {"max_concurrent": 2, "max_wait": "1s"}}}, "bulkhead", "max_waiting"),
        ({"defaults": {"breaker": {"failure_rate_threshold": 0}}}, "failure_rate_threshold", "1"),
        ({"edges": [{"from": "api", "to": "nowhere", "timeout": "1s"}]}, "resilience.edges[0].to", "unknown"),
        ({"edges": [{"from": "db", "to": "api", "timeout": "1s"}]}, "resilience.edges[0]", "no route"),
        ({"defaults": {"timeout": "-1s"}}, "resilience.defaults.timeout", ""),
    ],
)
def test_mistakes_name_the_field(resilience: dict, path: str, words: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(_scenario(resilience))
    text = caught.value.render()
    assert path in text
    assert words in text


def test_server_side_settings_are_checked() -> None:
    with pytest.raises(ScenarioError, match="exactly one of 'queue_length' or 'target'"):
        scenario_from_dict(_scenario({}, shedding={"queue_length": 3, "target": "10ms"}))
    with pytest.raises(ScenarioError, match="minimum <= initial <= maximum"):
        scenario_from_dict(_scenario({}, concurrency_limit={"initial": 500, "maximum": 100}))


def test_yaml_mistakes_carry_their_line() -> None:
    text = """
name: lines
duration: 10s
services:
  api: {service_time: {dist: exponential, mean: 10ms}}
routes: {main: [{call: api}]}
workloads: [{route: main, arrivals: {process: poisson, rate: 1/s}}]
resilience:
  defaults:
    retry:
      max_attempts: 0
"""
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "lines.yaml")
    assert "resilience.defaults.retry.max_attempts (lines.yaml:11)" in caught.value.render()


def test_builders_hand_the_settings_to_the_patterns() -> None:
    now = [0.0]
    clock = lambda: now[0]  # noqa: E731
    policy, budget = build_retry(
        RetrySettings(max_attempts=4, backoff="full_jitter", base=0.01, cap=1.0, budget={"ratio": 0.1}),
        random.Random(1),
        clock,
    )
    assert isinstance(policy.backoff, FullJitter)
    assert policy.max_attempts == 4
    assert policy.should_retry(1, "timeout")
    assert not policy.should_retry(1, "shed")
    assert budget is not None
    assert budget.ratio == 0.1

    changes = []
    breaker = build_breaker(
        BreakerSettings(window_size=4, minimum_calls=4, wait_in_open=5), clock, changes.append
    )
    for _ in range(4):
        assert breaker.try_acquire()
        breaker.on_error(0.01)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.try_acquire()
    assert [c.to_state for c in changes] == [BreakerState.OPEN]

    cached = build_fallback(FallbackSettings(kind="cached", ttl=10), clock)
    assert isinstance(cached, CachedFallback)
    assert cached.fallback(7) is NO_FALLBACK
    cached.remember(7, True)
    assert cached.fallback(7) is True
    now[0] = 11.0  # older than the ttl: no longer served
    assert cached.fallback(7) is NO_FALLBACK
    assert build_fallback(FallbackSettings(kind="default"), clock).fallback(1) is not NO_FALLBACK

    assert isinstance(build_shedder(SheddingSettings(queue_length=2), clock), QueueLengthShedder)
    assert isinstance(build_shedder(SheddingSettings(target=0.01), clock), LatencyShedder)
    assert isinstance(build_gate(ConcurrencyLimitSettings(kind="aimd")).limit, AIMDLimit)
    assert isinstance(build_gate(ConcurrencyLimitSettings()).limit, GradientLimit)
