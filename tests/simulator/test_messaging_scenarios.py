"""Asynchronous messaging in the simulator: the guarantees and trade-offs each pattern promises.

Small scenarios with known answers: at-least-once delivery through consumer crashes with the poison
messages (and only they) dead-lettered; per-partition order in a consumer group; queue-based load
levelling (the backlog absorbs a burst, lag grows with it, Little's law holds); TTL expiry; and the
synchronous and asynchronous designs of the same order flow compared. Tolerances come from the
statistics of each estimate (binomial or Student-t), on fixed seeds.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pytest

from simulator import Scenario, ScenarioError, scenario_from_dict, simulate
from simulator.engine.build import Engine
from simulator.experiment import run_experiment
from simulator.loader import apply_variant
from simulator.summary import completion_times, replication_metrics
from simulator.timeseries import timeseries
from tests.simulator.bundled import bundled, span_codes_before_span_ids


def exponential(mean: str) -> dict[str, Any]:
    return {"dist": "exponential", "mean": mean}


def deterministic(value: str) -> dict[str, Any]:
    return {"dist": "deterministic", "value": value}


def pipeline(**overrides: Any) -> Scenario:
    """client -> orders, which publishes one message per request to ``jobs``; ``worker`` consumes it."""
    data: dict[str, Any] = {
        "name": "pipeline",
        "duration": "40s",
        "seed": 3,
        "network": {"latency": "1ms"},
        "services": {
            "orders": {"concurrency": 1000, "service_time": deterministic("5ms")},
            "worker": {"replicas": 3, "concurrency": 1, "service_time": exponential("50ms")},
        },
        "brokers": {"bus": {"publish_time": "1ms", "queues": {"jobs": {"max_deliveries": 4}}}},
        "routes": {"main": [{"call": "orders", "calls": [{"publish": {"broker": "bus", "queue": "jobs"}}]}]},
        "consumers": [
            {"name": "worker", "service": "worker", "broker": "bus", "queue": "jobs", "ack_timeout": "2s"}
        ],
        "workloads": [{"route": "main", "arrivals": {"process": "poisson", "rate": "20/s"}}],
    }
    data.update(overrides)
    return scenario_from_dict(data)


# --- schema and references --------------------------------------------------------------------


def test_unknown_queue_and_clashing_names_are_reported_with_their_path() -> None:
    with pytest.raises(ScenarioError) as error:
        pipeline(
            routes={"main": [{"call": "orders", "calls": [{"publish": {"broker": "bus", "queue": "nope"}}]}]},
            brokers={"bus": {"queues": {"jobs": {}, "worker": {}}}},
        )
    rendered = error.value.render()
    assert "routes.main[0].calls[0].publish.queue" in rendered
    assert "broker 'bus' has no queue 'nope'" in rendered
    assert "'worker' is already the name of a service" in rendered


def test_a_consumer_needs_a_queue_or_a_topic() -> None:
    with pytest.raises(ScenarioError, match="exactly one of 'queue' or 'topic'"):
        pipeline(consumers=[{"name": "w", "service": "worker", "broker": "bus"}])


def test_scenarios_without_brokers_keep_bit_identical_records() -> None:
    """The shop's records hash as they did before messaging existed (digest taken on the parent commit)."""
    result = simulate(bundled("shop"))
    recorder = result.recorder
    digest = hashlib.sha256(
        b"".join(
            bytes(a)
            for a in (
                recorder.request_codes,
                recorder.request_times,
                span_codes_before_span_ids(recorder),
                recorder.span_times,
            )
        )
    ).hexdigest()[:16]
    assert digest == "eaba7b6f978aa63c"
    assert len(recorder.message_codes) == 0
    assert "completion_mean" not in replication_metrics(result)


# --- at-least-once delivery and the dead-letter queue ----------------------------------------


def test_crashing_consumers_redeliver_every_message_and_only_poison_ones_are_dead_lettered() -> None:
    """Replicas crash every 2 s on average (down 0.5 s); what they held comes back after the 2 s ack
    timeout.

    Every message is delivered at least once and ends acked or dead-lettered; some are delivered
    more than once (crashes); the dead-lettered set is exactly the poison set (a healthy message
    would need 4 failed deliveries in a row: ~4e-7 at a 2.5% chance of a crash per handling).
    """
    scenario = pipeline(
        consumers=[
            {
                "name": "worker",
                "service": "worker",
                "broker": "bus",
                "queue": "jobs",
                "ack_timeout": "2s",
                "poison": 0.05,
            }
        ],
        faults=[{"kind": "crashes", "service": "worker", "mtbf": "2s", "mttr": "0.5s"}],
    )
    engine = Engine(scenario, scenario.seed, 0)
    result = engine.run()
    messages = result.messages
    assert engine.faults is not None
    assert sum(event.event == "crash" for event in engine.faults.log) > 10
    assert len(messages) == len(result.requests)  # one message per request, none lost on the way
    assert (messages["deliveries"] >= 1).all()
    assert set(messages["outcome"]) <= {"acked", "dead_lettered"}
    healthy = messages[~messages["poison"]]
    assert (healthy["deliveries"] > 1).sum() > 10  # redelivered after crashes
    assert (healthy["outcome"] == "acked").all()
    poison = set(messages.loc[messages["poison"], "message"])
    dead = set(messages.loc[messages["outcome"] == "dead_lettered", "message"])
    assert dead == poison
    assert len(poison) > 0
    assert (messages.loc[messages["poison"], "deliveries"] == 4).all()  # exactly max_deliveries
    # some handlings were done twice or more: the consumer's spans outnumber the messages
    handled = result.spans[result.spans["service"] == "worker"]
    assert len(handled) > len(messages)


# --- per-partition order in a consumer group --------------------------------------------------


def test_a_consumer_group_processes_each_partition_in_publish_order() -> None:
    """4 partitions, 2 replicas x 2 slots with prefetch 2, random handling times and 20% of handlings
    failing (so messages are retried in place): the first processing start of each partition's
    messages follows their publication order."""
    scenario = pipeline(
        brokers={"bus": {"topics": {"events": {"partitions": 4}}}},
        routes={"main": [{"call": "orders", "calls": [{"publish": {"broker": "bus", "topic": "events"}}]}]},
        services={
            "orders": {"concurrency": 1000, "service_time": deterministic("5ms")},
            "worker": {"replicas": 2, "concurrency": 2, "service_time": exponential("40ms")},
        },
        consumers=[
            {"name": "billing", "service": "worker", "broker": "bus", "topic": "events", "prefetch": 2}
        ],
        workloads=[
            {
                "route": "main",
                "arrivals": {"process": "poisson", "rate": "40/s"},
                "keys": {"count": 50, "zipf": 0.5},
            }
        ],
        faults=[{"kind": "errors", "service": "worker", "rate": 0.2}],
    )
    result = simulate(scenario)
    messages = result.messages
    assert set(messages["channel"]) == {"events:billing"}
    assert set(messages["partition"]) == {0, 1, 2, 3}
    assert (messages["deliveries"] > 1).sum() > 50
    starts = result.spans[result.spans["service"] == "worker"].groupby("request")["start"].min()
    for _, partition in messages.groupby("partition"):
        ordered = partition.sort_values("message")
        assert ordered["published"].is_monotonic_increasing
        assert starts.loc[ordered["request"]].is_monotonic_increasing
        assert ordered["delivered"].is_monotonic_increasing


# --- queue-based load levelling ---------------------------------------------------------------


def levelling(seed: int = 5) -> Scenario:
    """10/s, then 60/s for 20 s, then 10/s; one worker of 4 slots at 100 ms: 40 messages/s at most.

    Its prefetch (8) exceeds its slots, so a freed slot finds the next message already there instead
    of idling for the ack and delivery round trip (2 ms of every 100 with a prefetch of 4).
    """
    return pipeline(
        duration="120s",
        seed=seed,
        services={
            "orders": {"concurrency": 1000, "service_time": deterministic("5ms")},
            "worker": {"replicas": 1, "concurrency": 4, "service_time": deterministic("100ms")},
        },
        consumers=[{"name": "worker", "service": "worker", "broker": "bus", "queue": "jobs", "prefetch": 8}],
        workloads=[
            {
                "route": "main",
                "arrivals": {
                    "process": "step",
                    "steps": [{"at": 0, "rate": 10}, {"at": 20, "rate": 60}, {"at": 40, "rate": 10}],
                },
            }
        ],
        sample_interval="2s",
    )


def test_the_queue_absorbs_a_burst_while_the_consumer_works_at_its_steady_rate() -> None:
    """During the burst the publisher's latency stays at its 10 ms floor (two hops, orders' 5 ms, the
    publish: hop, 1 ms at the broker, confirm), the consumer never acks faster than its 40/s
    capacity and stays fully busy while the backlog lasts, and the backlog peaks near
    (60 - 40) x 20 = 400 messages (Poisson arrivals: about 1200 in the burst, sd ~35)."""
    result = simulate(levelling())
    series = timeseries(result)
    jobs = series[series["scope"] == "jobs"].set_index("time")
    worker = series[series["scope"] == "worker"].set_index("time")
    np.testing.assert_allclose(result.requests["latency"], 0.010, atol=1e-9)
    assert (jobs["acked_per_s"] <= 40 + 0.5).all()  # a 2 s bin holds at most 80 acks (+1 at an edge)
    assert jobs.loc[24:38, "published_per_s"].mean() > 50
    backlogged = jobs.index[(jobs["backlog"] > 20) & (jobs.index >= 24)]
    assert len(backlogged) >= 10
    assert (worker.loc[backlogged, "utilization"] > 0.999).all()  # flat at capacity
    peak = jobs["backlog"].max()
    assert 400 - 4 * 35 < peak < 400 + 4 * 35
    assert jobs.loc[100:, "backlog"].max() < 5  # drained


def test_lag_grows_with_the_backlog_met_on_publication() -> None:
    """FIFO with 4 slots at 100 ms: a message that finds n messages ahead is acked about n / 40 s later."""
    result = simulate(levelling())
    messages = result.messages.sort_values("message")
    published, settled = messages["published"].to_numpy(), messages["settled"].to_numpy()
    ahead = np.array([np.sum((published < t) & (settled > t)) for t in published])
    slope, _ = np.polyfit(ahead, messages["lag"].to_numpy(), 1)
    assert slope == pytest.approx(1 / 40, rel=0.05)
    assert np.corrcoef(ahead, messages["lag"])[0, 1] > 0.99


def test_littles_law_holds_for_the_backlog() -> None:
    """Mean backlog = publish rate x mean time in the queue (publication to ack), within the Student-t
    interval of the paired differences over 5 replications (or 1% of the backlog: the window's edges)."""
    experiment = run_experiment(levelling(), replications=5)
    differences = []
    for result in experiment.results:
        metrics = replication_metrics(result)
        window = result.horizon - result.warmup
        messages = result.messages
        inside = messages[(messages["published"] >= result.warmup) & (messages["published"] < result.horizon)]
        little = len(inside) / window * inside["lag"].mean()
        differences.append(metrics["jobs.backlog_mean"] - little)
        assert metrics["jobs.backlog_mean"] > 50
    mean = float(np.mean(differences))
    half = 2.776 * float(np.std(differences, ddof=1)) / math.sqrt(5)
    assert abs(mean) <= max(half, 0.01 * 50)


# --- time to live ------------------------------------------------------------------------------


def test_ttl_removes_messages_older_than_ttl_unserved() -> None:
    """A 5 s TTL on a queue fed at 20/s and drained at 10/s: the excess expires. No message is handed
    out older than the TTL; each expired one was never delivered and expired exactly 5 s after its
    publication; in steady state about half expire."""
    scenario = pipeline(
        brokers={"bus": {"queues": {"jobs": {"ttl": "5s"}}}},
        services={
            "orders": {"concurrency": 1000, "service_time": deterministic("5ms")},
            "worker": {"replicas": 1, "concurrency": 1, "service_time": deterministic("100ms")},
        },
    )
    messages = simulate(scenario).messages
    delivered = messages[messages["deliveries"] > 0]
    assert (delivered["wait"] <= 5 + 1e-9).all()
    expired = messages[messages["outcome"] == "expired"]
    assert len(expired) > 200
    assert (expired["deliveries"] == 0).all()
    np.testing.assert_allclose(expired["settled"] - expired["published"], 5.0, atol=1e-9)
    late = messages[messages["published"] >= 10]
    assert 0.4 < (late["outcome"] == "expired").mean() < 0.6


# --- synchronous vs asynchronous ---------------------------------------------------------------


def test_async_answers_faster_and_stays_available_when_shipping_fails_but_completes_later() -> None:
    """The bundled order flow, shipping failing 30% of its calls. Sync: the client waits for shipping
    and sees its failures (error rate 0.3, binomial sd ~0.01 over ~1,800 requests). Async: the client
    waits only for orders and payments; shipping's failures are redelivered (a message fails 5 times
    in a row with probability 0.3^5 = 0.24%), so the flow completes later but nearly always."""
    metrics = {}
    for variant in ("sync", "sync-shipping-errors", "base", "shipping-errors"):
        scenario = bundled("messaging", duration="100s", replications=1)
        if variant != "base":
            scenario = apply_variant(scenario, variant)
        metrics[variant] = replication_metrics(simulate(scenario))
    sync, sync_failing = metrics["sync"], metrics["sync-shipping-errors"]
    async_, async_failing = metrics["base"], metrics["shipping-errors"]
    assert async_["latency_mean"] < sync["latency_mean"] / 2
    assert async_["latency_p99"] < sync["latency_p99"] / 2
    assert sync_failing["error_rate"] == pytest.approx(0.3, abs=4 * 0.011)
    assert async_failing["error_rate"] == 0
    assert async_failing["completed"] > 0.99
    assert sync_failing["completed"] < 0.75
    assert async_["completion_mean"] > async_["latency_mean"]
    assert async_failing["completion_mean"] > sync["completion_mean"]
    assert async_failing["completion_p99"] > sync["completion_p99"]
    assert async_failing["order-placed.redelivered"] == pytest.approx(0.3, abs=0.05)


def test_completion_of_a_flow_ends_with_its_last_acked_message() -> None:
    result = simulate(pipeline(duration="5s"))
    times = completion_times(result, result.requests)
    messages = result.messages.set_index("request")
    requests = result.requests.set_index("request")
    expected = messages["settled"] - requests.loc[messages.index, "arrival"]
    np.testing.assert_allclose(times.loc[messages.index], expected, atol=1e-12)


def test_the_engine_exposes_each_backlog_for_an_autoscaler() -> None:
    scenario = levelling()
    engine = Engine(scenario, scenario.seed, 0)
    seen = []
    for t in (10, 30, 39, 90):
        engine.env.run(until=t)
        seen.append(engine.backlog("jobs"))
    assert seen[0] < 5
    assert seen[1] > 100
    assert seen[2] > seen[1]
    assert seen[3] < 5
    with pytest.raises(KeyError, match="no queue or consumer group 'nope'"):
        engine.backlog("nope")
