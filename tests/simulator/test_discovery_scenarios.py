"""Service discovery after a crash: the stale window in which callers still pick a dead replica.

In ``discovery.yaml`` replica 1 of four crashes at t = 30 s. A heartbeat every ``h`` seconds means
its last one came at most ``h`` before the crash; the registry evicts it once ``ttl`` has passed since
then, at the next sweep (every ``s`` seconds). So with server-side discovery calls to it are refused
from the crash for between ``ttl - h`` and ``ttl + s`` seconds; client-side discovery adds up to one
refresh interval ``r``. The bounds are exact (no statistics), up to the spacing of arrivals.
"""

from __future__ import annotations

import pytest

from simulator import Scenario, apply_variant, simulate
from simulator.records import RunResult
from tests.simulator.bundled import bundled

CRASH = 30.0
GAP = 0.05  # arrivals at 400/s, a quarter of them to the dead replica: well under 50 ms apart


def refused_window(result: RunResult) -> tuple[float, float]:
    spans = result.spans
    refused = spans[spans["status"] == "refused"]["arrival"]
    return float(refused.min()), float(refused.max())


@pytest.fixture(scope="module")
def discovery() -> Scenario:
    return bundled("discovery")


@pytest.mark.parametrize("variant", ["base", "short-ttl"])
def test_server_side_window_lies_between_ttl_minus_a_heartbeat_and_ttl_plus_a_sweep(
    discovery: Scenario, variant: str
) -> None:
    scenario = discovery if variant == "base" else apply_variant(discovery, variant)
    config = scenario.services["orders"].discovery
    for replication in range(scenario.replications):
        first, last = refused_window(simulate(scenario, replication=replication))
        assert CRASH <= first < CRASH + GAP
        window = last - CRASH
        assert config.ttl - config.heartbeat_interval - GAP <= window <= config.ttl + config.sweep_interval


def test_a_shorter_ttl_means_fewer_refused_calls(discovery: Scenario) -> None:
    refused = {
        name: (
            simulate(discovery if name == "base" else apply_variant(discovery, name)).spans["status"]
            == "refused"
        ).sum()
        for name in ("base", "short-ttl")
    }
    assert 0 < refused["short-ttl"] < refused["base"] / 2  # ttl 4 s against 10 s


def test_client_side_discovery_adds_up_to_a_refresh_interval(discovery: Scenario) -> None:
    scenario = apply_variant(discovery, "client-side")
    config = scenario.services["orders"].discovery
    _, last = refused_window(simulate(scenario))
    window = last - CRASH
    assert config.ttl - config.heartbeat_interval - GAP <= window
    assert window <= config.ttl + config.sweep_interval + config.refresh_interval


def test_a_graceful_stop_loses_nothing_and_the_restarted_replica_serves_again(discovery: Scenario) -> None:
    result = simulate(apply_variant(discovery, "graceful-stop"))
    spans = result.spans
    assert not spans["status"].isin(["refused", "failed"]).any()
    back = spans[(spans["replica"] == 1) & (spans["arrival"] > CRASH + 2 + 40)]
    assert len(back) > 1000  # registered again on restart, and chosen again


def test_calls_in_flight_at_a_crash_fail(discovery: Scenario) -> None:
    spans = simulate(discovery).spans
    failed = spans[spans["status"] == "failed"]
    assert len(failed) > 0
    assert (failed["replica"] == 1).all()
    assert (failed["arrival"] <= CRASH).all()


def test_health_checks_catch_a_crash_within_their_failure_threshold(discovery: Scenario) -> None:
    """Probed every second, critical after two failures: the dead replica is dropped within ~3 s."""
    scenario = apply_variant(discovery, "health-checked")
    check = scenario.services["orders"].discovery.health_check
    _, last = refused_window(simulate(scenario))
    assert last - CRASH <= check.interval * (check.failures + 1)


def test_outlier_ejection_spares_client_side_callers_the_stale_window(discovery: Scenario) -> None:
    """Ejected after three failures in a row, the dead replica costs a handful of calls, not seconds.

    The calls that died in the crash count as failures too, so fewer than three may be refused.
    """
    plain = simulate(apply_variant(discovery, "client-side")).spans
    ejecting = simulate(apply_variant(discovery, "client-side-ejection")).spans
    refused = (ejecting["status"] == "refused").sum()
    assert (ejecting["status"].isin(["refused", "failed"])).sum() >= 3
    assert refused <= 10
    assert refused < (plain["status"] == "refused").sum() / 100
