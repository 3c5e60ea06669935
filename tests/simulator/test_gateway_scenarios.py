"""The API gateway model against what its mechanisms promise and what cache theory predicts."""

from __future__ import annotations

import numpy as np
import pytest

from simulator import apply_variant, simulate
from simulator.analytic import lru_hit_ratio
from simulator.experiment import run_experiment
from simulator.summary import confidence_interval
from tests.simulator.bundled import bundled


@pytest.mark.slow
def test_cache_hit_ratio_and_backend_relief_match_the_zipf_lru_model() -> None:
    """LRU cache of 2,000 entries, 20,000 products with Zipf(0.9) popularity, no expiry, no coalescing.

    Che's approximation gives the steady-state hit ratio h of an LRU cache under independent
    requests; it is accurate to well under 1% for Zipf popularity at this size (Fricker, Robert and
    Roberts 2012). The measured share of cache hits must lie within 0.01 plus the 99% interval of
    the replications of h, and the catalog must see (1 - h) of the product traffic.
    """
    scenario = bundled(
        "gateway",
        duration="60s",
        warmup="20s",
        replications=4,
        services={
            "gateway": {
                "gateway": {
                    "cache": {"routes": ["product"], "capacity": 2000, "ttl": "1h", "coalesce": False}
                }
            }
        },
    )
    product = scenario.workloads[0]
    predicted = lru_hit_ratio(product.keys.probabilities, 2000)
    table = run_experiment(scenario).per_replication
    product_calls = table["gateway.arrival_rate"] - table["orders.arrival_rate"]
    hits = (table["gateway.cache_hits"] * table["gateway.arrival_rate"]) / product_calls
    mean, half = confidence_interval(hits.to_numpy(), 0.99)
    assert abs(mean - predicted) < 0.01 + half, f"hit ratio {mean:.4f} ± {half:.4f} vs Che {predicted:.4f}"
    relief = table["catalog.arrival_rate"] / product_calls
    np.testing.assert_allclose(relief, 1 - hits, atol=0.005)


def test_a_rate_limit_caps_admitted_throughput_at_its_rate() -> None:
    """One client sends 200 requests/s through a 50/s token bucket with a burst of 10.

    A token bucket admits at most burst + rate x t over any t seconds, and under constant overload
    it admits at the rate: over 30 s that is between 50/s and 50/s + 10/30.
    """
    scenario = bundled(
        "gateway",
        duration="30s",
        warmup="0s",
        replications=1,
        services={"gateway": {"gateway": {"rate_limits": [{"per": "client", "rate": "50/s", "burst": 10}]}}},
        workloads={
            0: {"arrivals": {"rate": "200/s"}, "clients": {"count": 1}},
            1: {"arrivals": {"rate": "1/s"}, "clients": {"count": 1}},
        },
    )
    requests = simulate(scenario).requests
    admitted = (requests["status"] == "ok").sum() / 30
    assert 0.97 * 50 <= admitted <= 50 + 10 / 30
    limited = requests[requests["status"] == "limited"]
    assert len(limited) > 0.7 * len(requests)
    assert (limited["latency"] < 0.01).all()  # refused at the door, without reaching a backend


def test_per_client_limits_leave_quiet_clients_alone() -> None:
    """Zipf(1.2) clients: the heaviest exceed 20/s and are cut to it; the long tail is never limited."""
    scenario = apply_variant(bundled("gateway", duration="20s", warmup="0s", replications=1), "rate-limited")
    requests = simulate(scenario).requests
    per_client = requests.groupby("client").agg(
        sent=("status", "size"), admitted=("status", lambda s: (s == "ok").sum())
    )
    assert (per_client["admitted"] <= 20 * 20 + 40).all()
    quiet = per_client[per_client["sent"] <= 20 * 20 * 0.5]
    assert (quiet["admitted"] == quiet["sent"]).all()
    assert (per_client["admitted"] < per_client["sent"]).any()


def test_coalescing_sends_one_fetch_per_key_at_a_time() -> None:
    """Single flight: with a cold cache, concurrent misses for one key share one backend call."""
    base = {
        "duration": "5s",
        "warmup": "0s",
        "replications": 1,
        "workloads": {0: {"keys": {"count": 5, "zipf": 0.0}}},
    }
    cache = {"routes": ["product"], "capacity": 100, "ttl": "50ms"}
    alone = simulate(
        bundled("gateway", **base, services={"gateway": {"gateway": {"cache": {**cache, "coalesce": False}}}})
    )
    shared = simulate(
        bundled("gateway", **base, services={"gateway": {"gateway": {"cache": {**cache, "coalesce": True}}}})
    )
    fetches = {
        name: (r.spans["service"] == "catalog").sum() for name, r in (("alone", alone), ("shared", shared))
    }
    coalesced = (shared.spans["status"] == "coalesced").sum()
    assert coalesced > 0
    assert fetches["shared"] < fetches["alone"]
    assert (alone.spans["status"] == "coalesced").sum() == 0
