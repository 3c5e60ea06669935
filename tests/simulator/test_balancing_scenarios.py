"""Load balancing in the simulator reproduces what the literature and practice report.

The policies are those of :mod:`patterns.balancing`, driven by the engine's stations. Comparisons
are paired (variants share their random numbers): a claim holds when the 99% Student-t interval of
the per-replication difference lies entirely on the claimed side of zero.
"""

from __future__ import annotations

import pytest

from simulator import apply_variant, scenario_from_dict, simulate
from simulator.comparison import Comparison, run_comparison
from tests.simulator.bundled import bundled


def assert_below_zero(comparison: Comparison, metric: str, variant: str) -> None:
    difference = comparison.differences(metric, level=0.99).loc[variant]
    assert difference["high"] < 0, (
        f"{variant} - {comparison.names[0]} on {metric}: {difference['mean']:.4g} "
        f"[{difference['low']:.4g}, {difference['high']:.4g}] does not exclude 0"
    )


@pytest.fixture(scope="module")
def moderate() -> Comparison:
    """One slow replica (2x) and a noisy neighbour at 500 requests/s: every policy is stable.

    At this load the slow replica runs at about 62% under blind policies, so round robin and random
    keep a finite but long tail; ten 30-second replications resolve the differences.
    """
    scenario = bundled(
        "balancing",
        duration="30s",
        warmup="3s",
        replications=10,
        workloads={0: {"arrivals": {"rate": "500/s"}}},
    )
    return run_comparison(scenario, ["random", "p2c", "base", "least-outstanding", "peak-ewma"])


@pytest.mark.slow
def test_power_of_two_choices_cuts_the_tail_that_random_leaves(moderate: Comparison) -> None:
    assert_below_zero(moderate, "latency_p99", "p2c")
    assert_below_zero(moderate, "latency_mean", "p2c")


@pytest.mark.slow
def test_least_outstanding_beats_round_robin_with_unequal_replicas(moderate: Comparison) -> None:
    reference = Comparison({name: moderate.experiments[name] for name in ("base", "least-outstanding")})
    assert_below_zero(reference, "latency_mean", "least-outstanding")


@pytest.mark.slow
def test_peak_ewma_avoids_the_slow_replica(moderate: Comparison) -> None:
    spans = moderate.experiments["peak-ewma"].spans
    blind = moderate.experiments["base"].spans
    share = (spans["replica"] == 0).mean()
    assert (blind["replica"] == 0).mean() == pytest.approx(1 / 8, abs=0.002)  # round robin: its share
    assert share < 0.8 / 8  # latency-aware: the 2x-slow replica gets well under its share


def test_consistent_hashing_keeps_sessions_on_one_replica() -> None:
    """Session affinity: a client's calls go to one replica, except when bounded loads spill them.

    Measured over clients with at least ten calls, the share of calls that reach each client's
    favourite replica: random spreads them (about 1/8 plus sampling noise), consistent hashing keeps
    most of them home; the hottest Zipf clients exceed 1.25x a replica's share and spill over.
    """
    scenario = bundled("balancing", duration="10s", replications=1)

    def loyalty(variant: str) -> float:
        result = simulate(apply_variant(scenario, variant))
        calls = result.spans[["request", "replica"]].merge(
            result.requests[["request", "client"]], on="request"
        )
        per_replica = calls.groupby(["client", "replica"]).size()
        total, favourite = per_replica.groupby("client").sum(), per_replica.groupby("client").max()
        regular = total >= 10
        return favourite[regular].sum() / total[regular].sum()

    assert loyalty("random") < 0.3
    assert loyalty("consistent-hash") > 0.6


def balls_into_bins(bins: int, policy: str) -> int:
    """Throw ``bins`` balls (requests that never leave during the throw) into ``bins`` replicas."""
    scenario = scenario_from_dict(
        {
            "name": "bins",
            "duration": "1s",
            "seed": 5,
            "services": {
                "bins": {
                    "replicas": bins,
                    "concurrency": 1000,
                    "service_time": {"dist": "deterministic", "value": "10s"},
                    "balancer": {"policy": policy},
                }
            },
            "routes": {"ball": [{"call": "bins"}]},
            "workloads": [{"route": "ball", "arrivals": {"process": "constant", "rate": bins}}],
        }
    )
    return int(simulate(scenario).spans.groupby("replica").size().max())


@pytest.mark.slow
def test_balls_into_bins_maximum_load() -> None:
    """n = 100,000 balls into as many bins: one random choice vs the lesser of two (Mitzenmacher).

    d = 1: each bin holds Poisson(1) balls, so P(max >= 11) ~ n P(X >= 11) ~ 1e-3 and
    P(max <= 5) ~ exp(-n P(X >= 6)) ~ exp(-59): the maximum lies in [6, 10] (about 8 here).
    d = 2: the fluid limit leaves ~1e-2 bins at load 4 and ~1e-7 at load 5 for this n, so the maximum
    is 3 or 4: ln ln n / ln 2 + O(1), exponentially better than d = 1.
    """
    one = balls_into_bins(100_000, "random")
    two = balls_into_bins(100_000, "p2c")
    assert 6 <= one <= 10
    assert 3 <= two <= 4
