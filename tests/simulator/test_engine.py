"""The engine's mechanics: reproducibility, common random numbers and each route construct."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from simulator import apply_variant, scenario_from_dict, simulate
from simulator.experiment import run_experiment
from simulator.summary import confidence_interval


def scenario(**overrides: Any) -> Any:
    """A one-service M/M/1 scenario (mean service 10 ms, 50 requests/s), with fields replaced."""
    data: dict[str, Any] = {
        "name": "unit",
        "duration": "200s",
        "seed": 7,
        "services": {"server": {"service_time": {"dist": "exponential", "mean": "10ms"}}},
        "routes": {"main": [{"call": "server"}]},
        "workloads": [{"route": "main", "arrivals": {"process": "poisson", "rate": "50/s"}}],
    }
    data.update(overrides)
    return scenario_from_dict(data)


def test_same_seed_gives_identical_records_and_another_seed_does_not() -> None:
    first, again, other = simulate(scenario()), simulate(scenario()), simulate(scenario(), seed=8)
    pd.testing.assert_frame_equal(first.requests, again.requests)
    pd.testing.assert_frame_equal(first.spans, again.spans)
    assert not first.requests["latency"].equals(other.requests["latency"])


def test_replications_are_different_samples() -> None:
    a, b = simulate(scenario(), replication=0), simulate(scenario(), replication=1)
    assert not np.array_equal(a.requests["arrival"].to_numpy()[:100], b.requests["arrival"].to_numpy()[:100])


def test_variants_share_arrivals_and_demands() -> None:
    """Common random numbers: doubling the slots changes waits, not who arrives when or needs what."""
    base = scenario(variants={"wide": {"services": {"server": {"concurrency": 2}}}})
    wide = apply_variant(base, "wide")
    a, b = simulate(base).spans.sort_values("request"), simulate(wide).spans.sort_values("request")
    np.testing.assert_array_equal(a["arrival"].to_numpy(), b["arrival"].to_numpy())
    np.testing.assert_allclose(
        (a["end"] - a["start"]).to_numpy(), (b["end"] - b["start"]).to_numpy(), rtol=1e-9
    )
    assert b["wait"].mean() < a["wait"].mean()


def test_every_arrival_before_the_horizon_is_served_to_the_end() -> None:
    result = simulate(scenario())
    requests = result.requests
    assert requests["arrival"].max() < 200
    assert (requests["end"] >= requests["arrival"]).all()
    assert len(result.spans) == len(requests)  # one call each, none lost in the drain
    assert requests["request"].is_unique


def test_limit_stops_arrivals_and_shortens_the_horizon() -> None:
    workloads = [{"route": "main", "arrivals": {"process": "poisson", "rate": "50/s"}, "limit": 500}]
    result = simulate(scenario(workloads=workloads))
    assert result.n_requests == 500
    assert result.horizon == pytest.approx(result.requests["arrival"].max())


def test_bounded_queue_rejects_as_mm1k_predicts() -> None:
    """M/M/1/K (K = 1 in service + 3 waiting) at rho = 1.5: P(block) = (1 - rho) rho^K / (1 - rho^(K+1))."""
    services = {"server": {"queue_capacity": 3, "service_time": {"dist": "exponential", "mean": "10ms"}}}
    workloads = [{"route": "main", "arrivals": {"process": "poisson", "rate": "150/s"}}]
    run = run_experiment(scenario(services=services, workloads=workloads, replications=8))
    rho, k = 1.5, 4
    theory = (1 - rho) * rho**k / (1 - rho ** (k + 1))
    mean, half = confidence_interval(run.per_replication["server.rejected"].to_numpy(), 0.99)
    assert abs(mean - theory) <= half
    assert run.per_replication["error_rate"].to_numpy() == pytest.approx(
        run.per_replication["server.rejected"]
    )


def test_network_latency_is_paid_both_ways() -> None:
    services = {"server": {"service_time": {"dist": "deterministic", "value": "10ms"}}}
    workloads = [{"route": "main", "arrivals": {"process": "constant", "rate": "10/s"}}]
    result = simulate(scenario(services=services, workloads=workloads, network={"latency": "3ms"}))
    np.testing.assert_allclose(result.requests["latency"], 0.016, rtol=1e-9)
    np.testing.assert_allclose(result.spans["sojourn"], 0.010, rtol=1e-9)


def test_nested_calls_hold_the_callers_slot() -> None:
    services = {
        "front": {"service_time": {"dist": "deterministic", "value": "1ms"}},
        "back": {"service_time": {"dist": "deterministic", "value": "5ms"}},
    }
    routes = {"main": [{"call": "front", "calls": [{"call": "back"}]}]}
    workloads = [{"route": "main", "arrivals": {"process": "constant", "rate": "10/s"}}]
    spans = simulate(scenario(services=services, routes=routes, workloads=workloads)).spans
    front, back = spans[spans["service"] == "front"], spans[spans["service"] == "back"]
    np.testing.assert_allclose(front["end"] - front["start"], 0.006, rtol=1e-9)
    np.testing.assert_allclose(back["end"] - back["start"], 0.005, rtol=1e-9)


def test_parallel_fan_out_waits_for_the_slowest_branch() -> None:
    services = {
        name: {"service_time": {"dist": "deterministic", "value": f"{ms}ms"}}
        for name, ms in (("a", 2), ("b", 7), ("c", 4))
    }
    routes = {"main": [{"parallel": [{"call": "a"}, {"call": "b"}, {"call": "c"}]}]}
    workloads = [{"route": "main", "arrivals": {"process": "constant", "rate": "10/s"}}]
    result = simulate(scenario(services=services, routes=routes, workloads=workloads))
    np.testing.assert_allclose(result.requests["latency"], 0.007, rtol=1e-9)


def test_branch_and_loop_visit_counts() -> None:
    """A branch taken with p = 0.25 and a loop run twice then repeated with p = 0.5 (mean 2 + 1 = 3 runs)."""
    services = {name: {"service_time": {"dist": "exponential", "mean": "1ms"}} for name in ("rare", "often")}
    routes = {
        "main": [
            {"branch": [{"probability": 0.25, "steps": [{"call": "rare"}]}]},
            {"loop": [{"call": "often"}], "times": 2, "repeat_probability": 0.5},
        ]
    }
    result = simulate(scenario(services=services, routes=routes))
    counts = result.spans.groupby("service", observed=False).size() / result.n_requests
    # Binomial and geometric counts over ~10,000 requests: 4 standard errors.
    n = result.n_requests
    assert abs(counts["rare"] - 0.25) < 4 * np.sqrt(0.25 * 0.75 / n)
    assert abs(counts["often"] - 3.0) < 4 * np.sqrt(2.0 / n)  # extra runs: geometric, variance p/(1-p)^2 = 2


def test_replicas_share_the_load_round_robin() -> None:
    services = {"server": {"replicas": 3, "service_time": {"dist": "exponential", "mean": "10ms"}}}
    spans = simulate(scenario(services=services)).spans
    per_replica = spans.groupby("replica").size()
    assert list(per_replica.index) == [0, 1, 2]
    assert per_replica.max() - per_replica.min() <= 1


def test_closed_loop_keeps_each_user_to_one_request_at_a_time() -> None:
    workloads = [{"route": "main", "users": 5, "think_time": {"dist": "exponential", "mean": "100ms"}}]
    requests = simulate(scenario(workloads=workloads)).requests.sort_values("arrival")
    starts = requests["arrival"].to_numpy()
    ends = requests["end"].to_numpy()
    in_flight = np.array([((starts <= t) & (ends > t)).sum() for t in starts[::50]])
    assert in_flight.max() <= 5
    assert requests["arrival"].max() < 200


def test_progress_reports_reach_completion() -> None:
    seen: list[float] = []
    simulate(scenario(), progress=seen.append)
    assert seen == sorted(seen)
    assert seen[-1] == pytest.approx(1.0)


def test_a_rate_that_falls_to_zero_ends_the_arrivals_not_the_run() -> None:
    workloads = [
        {
            "route": "main",
            "arrivals": {"process": "step", "steps": [{"at": 0, "rate": "50/s"}, {"at": "20s", "rate": 0}]},
        }
    ]
    result = simulate(scenario(workloads=workloads))
    assert result.requests["arrival"].max() < 20
    assert result.horizon == 200
