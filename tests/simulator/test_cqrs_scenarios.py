"""CQRS in the simulator: a write side that appends to an event store, whose appends are published
to a queue (``event_store.publish``); a projector that applies each event to a read database; a query
route that reads it. The read model's staleness (publication to the projector's acknowledgement of
its write) and the stale queries (reads that miss an event of their key not applied yet) are
measured, and checked against the M/M/c queue the projector is.

The reference: the write side publishes a Poisson stream of ``LAMBDA`` events/s over ``KEYS``
uniform keys; the projector has ``C`` replicas of one slot, prefetch 1, exponential work of mean
``1 / MU`` plus a 0.1 ms write to the read model (no network latency). Prefetch 1 makes the broker
hand a message only to an idle replica: the queue with its replicas is exactly an M/M/c queue (plus
the 0.1 ms), so the mean staleness is the M/M/c sojourn time, and the number of events published
and not yet applied is the M/M/c number in system ``N``. Queries arrive as an independent Poisson
stream (PASTA), each event in flight has the query's key with probability ``1 / KEYS``
independently, so a query is stale with probability ``1 - E[(1 - 1/KEYS)^N]``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import yaml

from simulator import Scenario, ScenarioError, scenario_from_dict, simulate
from simulator.analytic import mmc
from simulator.comparison import run_comparison
from simulator.loader import merge_overrides
from simulator.report import summary_document
from simulator.summary import confidence_interval, replication_metrics
from simulator.tables import format_interval, metric_row, split_summary
from simulator.topology import build_topology, read_models
from tests.simulator.bundled import SCENARIOS, bundled

LAMBDA, MU, C, KEYS = 60.0, 50.0, 2, 50
WRITE = 0.0001  # the projector's write to the read model, seconds


def poisson(rate: float) -> dict[str, Any]:
    return {"process": "poisson", "rate": rate}


def cqrs(**overrides: Any) -> Scenario:
    data: dict[str, Any] = {
        "name": "cqrs",
        "duration": "40s",
        "warmup": "5s",
        "seed": 9,
        "services": {
            "orders": {"concurrency": 100, "service_time": {"dist": "exponential", "mean": "5ms"}},
            "events": {
                "kind": "database",
                "concurrency": 16,
                "service_time": {"dist": "deterministic", "value": "1ms"},
                "event_store": {
                    "append_time": {"dist": "exponential", "mean": "2ms"},
                    "publish": {"broker": "bus", "queue": "order-events"},
                },
            },
            "projector": {
                "replicas": C,
                "concurrency": 1,
                "service_time": {"dist": "exponential", "mean": f"{1 / MU}s"},
            },
            "queries": {"concurrency": 100, "service_time": {"dist": "exponential", "mean": "1ms"}},
            "orders-view": {
                "kind": "database",
                "concurrency": 64,
                "service_time": {"dist": "deterministic", "value": "0.1ms"},
                "database": {
                    "read_time": {"dist": "exponential", "mean": "1ms"},
                    "write_time": {"dist": "deterministic", "value": f"{WRITE}s"},
                },
            },
        },
        "brokers": {"bus": {"queues": {"order-events": {}}}},
        "routes": {
            "place-order": [{"call": "orders", "calls": [{"call": "events", "op": "append"}]}],
            "order-status": [{"call": "queries", "calls": [{"call": "orders-view", "op": "read"}]}],
            "project": [{"call": "orders-view", "op": "write"}],
        },
        "consumers": [
            {
                "name": "projector",
                "service": "projector",
                "broker": "bus",
                "queue": "order-events",
                "route": "project",
            }
        ],
        "workloads": [
            {
                "route": "place-order",
                "arrivals": {"process": "poisson", "rate": LAMBDA},
                "keys": {"count": KEYS},
            },
            {
                "route": "order-status",
                "arrivals": {"process": "poisson", "rate": 100},
                "keys": {"count": KEYS},
            },
        ],
    }
    data.update(overrides)
    return scenario_from_dict(data)


def stale_share(arrival_rate: float, service_rate: float, servers: int, keys: int) -> float:
    """``1 - E[(1 - 1/keys)^N]`` for the number in system ``N`` of an M/M/c queue."""
    a = arrival_rate / service_rate
    rho = a / servers
    n = np.arange(0, 5000)
    log_terms = np.where(
        n < servers,
        n * math.log(a) - np.array([math.lgamma(k + 1) for k in n]),
        n * math.log(a) - math.lgamma(servers + 1) - (n - servers) * math.log(servers),
    )
    weights = np.exp(log_terms - log_terms.max())
    assert rho < 1
    p = weights / weights.sum()
    return float(1 - (p * (1 - 1 / keys) ** n).sum())


SLOW = {"faults": [{"kind": "brownout", "service": "projector", "slowdown": 1.5, "rate": 0, "at": "0s"}]}


def metrics(scenario: Scenario, replications: int) -> list[dict[str, float]]:
    return [replication_metrics(simulate(scenario, replication=r)) for r in range(replications)]


@pytest.mark.parametrize(("overrides", "service_rate"), [({}, MU), (SLOW, MU / 1.5)])
def test_read_model_staleness_is_the_projector_queue_and_stale_queries_follow_from_it(
    overrides: dict[str, Any], service_rate: float
) -> None:
    """Mean staleness = M/M/c sojourn (+ the write), stale queries = ``1 - E[(1 - 1/KEYS)^N]``: each
    within the Student-t interval of 4 replications (99%) plus 3% of the value for the 0.1 ms write
    and the window's edges. The brownout (1.5x slower projector: utilization 0.6 -> 0.9) multiplies
    both, as the same formulas say."""
    runs = metrics(cqrs(**overrides), 4)
    theory = mmc(LAMBDA, service_rate, C)
    mean, half = confidence_interval(
        np.array([m["orders-view.read_model_staleness_mean"] for m in runs]), 0.99
    )
    assert abs(mean - (theory.sojourn + WRITE)) <= half + 0.03 * theory.sojourn
    stale, half = confidence_interval(np.array([m["orders-view.stale_queries"] for m in runs]), 0.99)
    expected = stale_share(LAMBDA, service_rate, C, KEYS)
    assert abs(stale - expected) <= half + 0.03 * expected
    for m in runs:  # the explicit name is the projected channel's lag
        assert m["orders-view.read_model_staleness_mean"] == m["order-events.lag_mean"]


def test_a_slower_projector_makes_the_read_model_staler_and_leaves_the_write_side_alone() -> None:
    """Same seed, projector 1.5x slower: staleness and stale queries grow (M/M/2 sojourn 33 ms ->
    158 ms), while every write request's latency is the same to the bit (the write side never waits
    for the read side: appends are published by the store)."""
    base, slow = simulate(cqrs()), simulate(cqrs(**SLOW))
    fast_m, slow_m = replication_metrics(base), replication_metrics(slow)
    assert (
        slow_m["orders-view.read_model_staleness_mean"] > 3 * fast_m["orders-view.read_model_staleness_mean"]
    )
    assert slow_m["orders-view.stale_queries"] > 2 * fast_m["orders-view.stale_queries"]

    def writes(result: Any) -> np.ndarray:
        requests = result.requests
        return requests.loc[requests["workload"] == "place-order", "latency"].to_numpy()

    assert np.array_equal(writes(base), writes(slow))


def test_every_append_is_published_once_with_its_request() -> None:
    result = simulate(cqrs(duration="5s", warmup="0s"))
    appends = result.db_ops[(result.db_ops["op"] == "append") & (result.db_ops["outcome"] == "ok")]
    messages = result.messages
    assert sorted(messages["request"]) == sorted(appends["request"])
    commit = appends.set_index("request")["end"]  # the answer is back a moment after the commit
    published = messages.set_index("request")["published"]
    assert (published <= commit[published.index]).all()


def test_read_models_are_the_databases_projectors_write() -> None:
    scenario = cqrs()
    assert read_models(scenario) == {"orders-view": ("order-events",)}
    graph = build_topology(scenario)
    assert graph.has_edge("events", "bus")
    assert graph.edges["events", "bus"]["used"]
    assert graph.has_edge("bus", "projector")


def test_an_event_store_publishing_to_an_unknown_queue_is_reported_with_its_path() -> None:
    with pytest.raises(ScenarioError) as error:
        cqrs(brokers={"bus": {"queues": {"other": {}}}})
    rendered = error.value.render()
    assert "services.events.event_store.publish.queue" in rendered
    assert "broker 'bus' has no queue 'order-events'" in rendered


def test_the_bundled_data_scenario_has_a_cqrs_variant_whose_view_answers_tracking() -> None:
    """``cqrs`` tracks orders by reading the view instead of rehydrating the stream: no more loads,
    the view is read for each tracking request and stays fresh within the projector's lag."""
    data = yaml.safe_load((SCENARIOS / "data.yaml").read_text(encoding="utf-8"))
    scenario = scenario_from_dict({**merge_overrides(data, data["variants"]["cqrs"]), "duration": "10s"})
    metrics = replication_metrics(simulate(scenario))
    assert "events.rehydration_mean" not in metrics
    assert metrics["orders-view.read_model_staleness_mean"] < 0.05
    assert 0 < metrics["orders-view.stale_queries"] < 0.2
    assert metrics["error_rate"] < 0.01


def test_a_comparison_whose_base_has_no_brokers_reports_the_cqrs_variant() -> None:
    """The headline gains flow completion for ``cqrs`` only: the base shows it as missing ("–")."""
    comparison = run_comparison(
        bundled("data", duration="3s", warmup="1s", replications=2), variants=["base", "cqrs"]
    )
    document = summary_document(comparison)
    assert "completion_mean" in document["differences"]  # type: ignore[operator]
    assert math.isnan(comparison.differences("completion_mean").loc["cqrs", "mean"])
    overall = split_summary(comparison.experiments["base"].summary)[0]
    assert format_interval(metric_row(overall, "completion_mean"), 1e3) == "–"
