"""Resilience policies at work in the engine, checked against what each policy promises.

Most cases use deterministic service times and no queueing, so the expected figures are exact
(a try that times out after 30 ms, three times, takes 90 ms); the others bound what the policy
guarantees (never more than the permitted calls in flight, never more retries than the budget).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator.engine import simulate
from simulator.loader import scenario_from_dict
from simulator.records import RunResult
from simulator.summary import replication_metrics


def _run(
    resilience: dict | None = None,
    service_time: dict | None = None,
    rate: str = "20/s",
    duration: str = "20s",
    api: dict | None = None,
    faults: list[dict] | None = None,
    **extra: object,
) -> RunResult:
    data = {
        "name": "resilience",
        "duration": duration,
        "services": {
            "api": {
                "replicas": 1,
                "concurrency": 1000,
                "service_time": service_time or {"dist": "deterministic", "value": "100ms"},
                **(api or {}),
            }
        },
        "routes": {"main": [{"call": "api"}]},
        "workloads": [{"route": "main", "arrivals": {"process": "poisson", "rate": rate}, **extra}],
    }
    if resilience is not None:
        data["resilience"] = resilience
    if faults is not None:
        data["faults"] = faults
    return simulate(scenario_from_dict(data))


def _max_overlap(starts: np.ndarray, ends: np.ndarray) -> int:
    """The largest number of intervals ``[start, end)`` open at once."""
    times = np.concatenate([starts, ends])
    steps = np.concatenate([np.ones(len(starts)), -np.ones(len(ends))])
    order = np.lexsort((steps, times))  # at equal times, ends (-1) before starts
    return int(np.cumsum(steps[order]).max()) if len(times) else 0


def test_a_timed_out_try_is_retried_and_the_callee_does_the_work_each_time() -> None:
    retry = {"max_attempts": 3, "backoff": "constant", "base": "10ms"}
    result = _run({"defaults": {"timeout": "30ms", "retry": retry}})
    requests = result.requests
    assert set(requests["status"]) == {"timeout"}
    # three tries of 30 ms with two 10 ms waits between them
    assert requests["latency"].to_numpy() == pytest.approx(0.110)
    # the callee is not told: it serves every try in full (the work amplification of retries)
    spans = result.spans
    assert len(spans) == 3 * len(requests)
    assert set(spans["status"]) == {"ok"}
    metrics = replication_metrics(result)
    assert metrics["client->api.tries"] == 3
    assert metrics["client->api.retries"] == 2
    assert metrics["client->api.timeouts"] == 1
    assert metrics["timeout"] == 1
    tries = result.tries
    assert list(tries.groupby("kind", observed=True).size()) == [len(requests), 2 * len(requests)]


def test_a_deadline_bounds_every_try_and_the_servers_drop_what_nobody_waits_for() -> None:
    result = _run(
        {"defaults": {"timeout": "30ms", "deadline": "70ms", "retry": {"max_attempts": 5, "backoff": "none"}}}
    )
    # tries at 0, 30 and 60 ms; the third gets the 10 ms that are left
    assert result.requests["latency"].to_numpy() == pytest.approx(0.070)
    assert set(result.tries["attempt"]) == {1, 2, 3}

    overloaded = {"replicas": 1, "concurrency": 1}
    slow = {"dist": "deterministic", "value": "50ms"}
    plain = _run(None, slow, rate="40/s", api=overloaded)
    bounded = _run({"defaults": {"deadline": "200ms"}}, slow, rate="40/s", api=overloaded)
    spans = bounded.spans.merge(
        bounded.requests[["request", "arrival"]], on="request", suffixes=("", "_request")
    )
    served = spans[spans["status"] == "ok"]
    assert (served["start"] - served["arrival_request"] <= 0.2 + 1e-9).all()
    assert (spans["status"] == "expired").sum() > 0.3 * len(spans)
    # without deadlines the queue of a 2x overloaded server grows all run long
    assert plain.spans["wait"].max() > 5.0 > bounded.spans["wait"].max()


def test_a_retry_budget_caps_retries_at_its_ratio_of_calls() -> None:
    budget = {"ratio": 0.1, "min_per_second": 0.0, "window": "2s"}
    result = _run(
        {"defaults": {"timeout": "30ms", "retry": {"max_attempts": 5, "backoff": "none", "budget": budget}}},
        rate="100/s",
    )
    metrics = replication_metrics(result)
    # every try fails, so the budget is the only limit: long-run retries / calls -> ratio, never above
    assert 0.08 < metrics["client->api.retries"] <= 0.1 + 0.01
    uncapped = _run(
        {"defaults": {"timeout": "30ms", "retry": {"max_attempts": 5, "backoff": "none"}}}, rate="100/s"
    )
    assert replication_metrics(uncapped)["client->api.retries"] == 4


def test_a_breaker_opens_on_failures_and_lets_only_the_permitted_calls_through_half_open() -> None:
    breaker = {
        "window_size": 10,
        "minimum_calls": 10,
        "wait_in_open": "1s",
        "permitted_calls_in_half_open": 3,
    }
    result = _run({"defaults": {"timeout": "30ms", "breaker": breaker}}, rate="100/s")
    changes = result.breakers
    states = list(changes["to_state"].astype(str))
    assert states[:3] == ["open", "half_open", "open"]
    assert (changes["from_state"].astype(str).to_numpy()[1:] == np.array(states[:-1])).all()
    tries = result.tries
    sent = tries[tries["outcome"] != "breaker_open"]
    # at most 3 tries are let through in each half-open period (a try sent at the transition counts)
    half_open = changes[changes["to_state"] == "half_open"]["time"].to_numpy()
    reopened = changes[changes["from_state"] == "half_open"]["time"].to_numpy()
    for begin, end in zip(half_open, reopened, strict=False):
        inside = sent[(sent["start"] >= begin) & (sent["start"] <= end)]
        assert 1 <= len(inside) <= 3
    metrics = replication_metrics(result)
    # open for 1 s at a time, half-open only for the 30 ms its three probes take
    assert metrics["client->api.breaker_open"] > 0.9
    assert metrics["breaker_open"] > 0.9
    assert len(sent) < 0.05 * len(tries)


def test_a_bulkhead_bounds_the_tries_in_flight_on_the_edge() -> None:
    result = _run({"defaults": {"bulkhead": {"max_concurrent": 2}}}, rate="50/s")
    tries = result.tries
    sent = tries[tries["outcome"] == "ok"]
    assert _max_overlap(sent["start"].to_numpy(), sent["end"].to_numpy()) == 2
    # offered 50/s x 100 ms = 5 in flight on average: most find both permits taken
    assert replication_metrics(result)["bulkhead_full"] > 0.5
    waiting = _run(
        {"defaults": {"bulkhead": {"max_concurrent": 2, "max_waiting": 100, "max_wait": "50ms"}}}, rate="50/s"
    )
    requests = waiting.requests
    ok = requests[requests["status"] == "ok"]
    assert ok["latency"].max() <= 0.150 + 1e-9  # at most 50 ms waiting for a permit, then 100 ms served
    assert ok["latency"].max() > 0.100
    assert (requests["status"] == "bulkhead_full").any()


def test_a_default_fallback_answers_every_failed_call() -> None:
    result = _run({"defaults": {"timeout": "30ms", "fallback": {"kind": "default"}}})
    metrics = replication_metrics(result)
    assert set(result.requests["status"]) == {"fallback"}
    assert metrics["error_rate"] == 0
    assert metrics["fallback"] == 1


def test_a_cached_fallback_answers_only_for_keys_answered_recently() -> None:
    half_slow = {
        "dist": "mixture",
        "components": [
            {"weight": 0.5, "distribution": {"dist": "deterministic", "value": "10ms"}},
            {"weight": 0.5, "distribution": {"dist": "deterministic", "value": "100ms"}},
        ],
    }
    keys = {"count": 5, "zipf": 0.0}
    fresh = _run(
        {"defaults": {"timeout": "50ms", "fallback": {"kind": "cached", "ttl": "100s"}}},
        half_slow,
        keys=keys,
    )
    statuses = fresh.requests["status"].value_counts()
    # five keys, each answered within the first seconds: from then on every timeout has a stale answer
    assert statuses["ok"] + statuses["fallback"] > 0.99 * len(fresh.requests)
    assert 0.4 < statuses["fallback"] / len(fresh.requests) < 0.6
    stale = _run(
        {"defaults": {"timeout": "50ms", "fallback": {"kind": "cached", "ttl": "1ms"}}},
        half_slow,
        keys=keys,
    )
    assert (stale.requests["status"] == "fallback").mean() < 0.01
    assert (stale.requests["status"] == "timeout").mean() > 0.4


def _waiting(result: RunResult) -> int:
    served = result.spans[result.spans["status"] == "ok"]
    return _max_overlap(served["arrival"].to_numpy(), served["start"].to_numpy())


def test_queue_length_shedding_keeps_the_queue_short() -> None:
    overloaded = {"replicas": 1, "concurrency": 1, "shedding": {"queue_length": 3}}
    result = _run(None, {"dist": "deterministic", "value": "50ms"}, rate="40/s", api=overloaded)
    assert _waiting(result) == 3
    spans = result.spans
    shed = spans[spans["status"] == "shed"]
    assert len(shed) > 0.3 * len(spans)
    assert set(result.requests.loc[result.requests["request"].isin(shed["request"]), "status"]) == {"shed"}


def test_latency_shedding_keeps_the_queueing_delay_near_its_target() -> None:
    overloaded = {"replicas": 1, "concurrency": 1}
    slow = {"dist": "exponential", "mean": "50ms"}
    plain = _run(None, slow, rate="30/s", api=overloaded)
    shedding = {**overloaded, "shedding": {"target": "100ms", "interval": "500ms"}}
    shed = _run(None, slow, rate="30/s", api=shedding)
    assert plain.spans["wait"].mean() > 5.0
    assert shed.spans["wait"].mean() < 0.5
    assert replication_metrics(shed)["shed"] > 0.2


@pytest.mark.parametrize("kind", ["aimd", "gradient"])
def test_an_adaptive_concurrency_limit_refuses_work_under_overload(kind: str) -> None:
    overloaded = {"replicas": 1, "concurrency": 1}
    slow = {"dist": "exponential", "mean": "50ms"}
    limit = {"kind": kind, "initial": 10, "maximum": 50, "timeout": "200ms"}
    limited = _run(None, slow, rate="30/s", api={**overloaded, "concurrency_limit": limit})
    spans = limited.spans
    admitted = spans[spans["status"] != "concurrency_limited"]
    assert _max_overlap(admitted["arrival"].to_numpy(), admitted["end"].to_numpy()) <= 50
    assert replication_metrics(limited)["concurrency_limited"] > 0.1
    plain = _run(None, slow, rate="30/s", api=overloaded)
    assert limited.spans["wait"].mean() < 0.2 * plain.spans["wait"].mean()


def test_a_fixed_delay_hedge_backs_up_only_slow_calls_and_cancels_queued_losers() -> None:
    sometimes_slow = {
        "dist": "mixture",
        "components": [
            {"weight": 0.9, "distribution": {"dist": "deterministic", "value": "10ms"}},
            {"weight": 0.1, "distribution": {"dist": "deterministic", "value": "500ms"}},
        ],
    }
    result = _run({"defaults": {"hedge": {"delay": "50ms"}}}, sometimes_slow, rate="50/s")
    tries = result.tries
    metrics = replication_metrics(result)
    assert 0.07 < metrics["client->api.hedges"] < 0.13  # only the 10% slow first tries are backed up
    latency = result.requests["latency"]
    # a slow first try is answered by its backup: 50 ms + (10 ms, or 500 ms if it is slow too)
    assert (latency <= 0.060 + 1e-9).mean() > 0.98
    hedged = tries[tries["kind"] == "hedge"]["request"]
    firsts = tries[(tries["kind"] == "first") & tries["request"].isin(hedged)]
    assert set(firsts["outcome"]) <= {"cancelled", "ok"}
    assert (firsts["outcome"] == "cancelled").mean() > 0.9


def test_policies_that_are_all_unset_change_nothing() -> None:
    plain = _run(None, {"dist": "exponential", "mean": "40ms"})
    empty = _run({"defaults": {}, "edges": []}, {"dist": "exponential", "mean": "40ms"})
    pd.testing.assert_frame_equal(plain.requests, empty.requests)
    assert len(empty.tries) == 0
    assert empty.edges == ()


def test_retries_ride_out_errors_injected_on_the_edge_and_timeouts_end_a_partition_wait() -> None:
    fast = {"dist": "deterministic", "value": "10ms"}
    errors = {"kind": "errors", "from": "client", "to": "api", "rate": 0.5, "at": "0s"}
    retry = {"max_attempts": 3, "backoff": "none", "on": ["error"]}
    result = _run({"defaults": {"retry": retry}}, fast, rate="100/s", faults=[errors])
    # each try fails at once with probability 1/2, independently: a request fails only if all 3 do
    failed = (result.requests["status"] != "ok").mean()
    n = len(result.requests)
    assert abs(failed - 0.125) < 4 * (0.125 * 0.875 / n) ** 0.5
    assert replication_metrics(result)["client->api.tries"] == pytest.approx(1.75, rel=0.05)  # 1 + 1/2 + 1/4

    partition = {"kind": "partition", "between": ["client", "api"], "at": "5s", "duration": "5s"}
    cut = _run({"defaults": {"timeout": "50ms"}}, fast, faults=[partition])
    requests = cut.requests
    during = requests[(requests["arrival"] >= 5) & (requests["arrival"] < 9.9)]
    assert set(during["status"]) == {"timeout"}  # the caller gives up after its timeout, not at the heal
    assert during["latency"].to_numpy() == pytest.approx(0.050)
