"""KEDA-style scaling of consumers on a broker's backlog (``autoscaling: {policy: queue, metric: backlog}``).

The reference pipeline: ``orders`` publishes one message per request to the queue ``jobs``; the
``worker`` replicas (one slot each, exponential work of 50 ms: ``mu = 20`` messages/s a replica,
prefetch 2) consume it. The publish rate steps from 30/s to 100/s. Two fixed replicas (40/s) then
fall behind by 60 messages a second, for ever; the queue scaler (target 10 messages a replica,
5 s sync period, replicas ready 10 s after they start) adds replicas that subscribe to the queue
when ready. Replicas it drains stop taking deliveries and finish those they hold.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pytest

from simulator import Scenario, ScenarioError, scenario_from_dict, simulate
from simulator.engine.build import Engine
from simulator.records import RunResult
from simulator.summary import replication_metrics
from tests.simulator.bundled import bundled, span_codes_before_span_ids

MU = 20.0  # messages per second one worker replica handles
SYNC, STARTUP, TARGET = 5.0, 10.0, 10.0


def publish(queue: str) -> dict[str, Any]:
    return {"publish": {"broker": "bus", "queue": queue}}


def pipeline(rates: list[tuple[float, float]], duration: float, **autoscaling: Any) -> Scenario:
    """The reference pipeline; ``autoscaling`` (when given) is merged into a queue-on-backlog block."""
    worker: dict[str, Any] = {
        "replicas": 2,
        "concurrency": 1,
        "service_time": {"dist": "exponential", "mean": f"{1 / MU}s"},
        "startup_time": f"{STARTUP}s",
    }
    if autoscaling:
        worker["autoscaling"] = {
            "policy": "queue",
            "metric": "backlog",
            "target": TARGET,
            "min": 2,
            "max": 20,
            "sync_period": f"{SYNC}s",
            **autoscaling,
        }
    steps = [{"at": t, "rate": r} for t, r in rates]
    return scenario_from_dict(
        {
            "name": "keda",
            "duration": duration,
            "seed": 5,
            "network": {"latency": "1ms"},
            "services": {
                "orders": {"concurrency": 1000, "service_time": {"dist": "deterministic", "value": "2ms"}},
                "worker": worker,
            },
            "brokers": {"bus": {"queues": {"jobs": {}}}},
            "routes": {"main": [{"call": "orders", "calls": [publish("jobs")]}]},
            "consumers": [
                {"name": "worker", "service": "worker", "broker": "bus", "queue": "jobs", "prefetch": 2}
            ],
            "workloads": [{"route": "main", "arrivals": {"process": "step", "steps": steps}}],
        }
    )


def backlog_at(result: RunResult, t: float) -> int:
    """Messages published by ``t`` and not settled by then (from the records)."""
    messages = result.messages
    published = int((messages["published"] <= t).sum())
    settled = int((messages["settled"] <= t).sum())
    return published - settled


STEP_AT, LOW, HIGH = 30.0, 30.0, 100.0


def test_queue_scaling_keeps_lag_bounded_where_fixed_consumers_fall_behind_linearly() -> None:
    """Fixed: two always-busy replicas complete a Poisson stream of 40/s, so between t1 = 60 s and
    t2 = 150 s the backlog grows by (100 - 40) x 90 = 5400, give or take 4 standard deviations of the
    difference of two Poisson counts (sqrt((100 + 40) x 90) = 112).

    Scaled: the scaler sees the growing backlog at the first sync after the step (at most ``SYNC``
    later) and its replicas serve after ``STARTUP``; from then on it keeps about ``TARGET``
    messages per replica, each waiting ~``TARGET / MU`` behind them. So no message waits much
    longer than the reaction time plus that: the lag p99 of the messages published after the step
    stays below ``SYNC + STARTUP + TARGET / MU`` (15.5 s), and once the replicas are up (the last
    60 s) the backlog stays below ``TARGET`` per replica of the maximum, as the rule wants.
    """
    rates = [(0.0, LOW), (STEP_AT, HIGH)]
    fixed = simulate(pipeline(rates, 150))
    growth = backlog_at(fixed, 150) - backlog_at(fixed, 60)
    expected = (HIGH - 2 * MU) * 90
    assert abs(growth - expected) <= 4 * math.sqrt((HIGH + 2 * MU) * 90)
    late = fixed.messages[fixed.messages["published"] >= STEP_AT]
    assert late["lag"].quantile(0.99) > 60  # and its lag grows without bound

    scaled = simulate(pipeline(rates, 150, max=20))
    after = scaled.messages[scaled.messages["published"] >= STEP_AT]
    assert (after["outcome"] == "acked").all()
    bound = SYNC + STARTUP + TARGET / MU
    assert after["lag"].quantile(0.99) < bound
    assert max(backlog_at(scaled, t) for t in np.arange(90, 150, 1.0)) < TARGET * 20
    assert int(scaled.scaling["ready"].max()) >= math.ceil(HIGH / MU)  # it did add replicas
    new = scaled.scaling[(scaled.scaling["event"] == "ready") & (scaled.scaling["replica"] >= 2)]
    handled = scaled.spans[scaled.spans["service"] == "worker"].groupby("replica").size()
    assert set(new["replica"]) <= set(handled.index)  # every new replica took deliveries


def test_new_replicas_get_deliveries_only_once_ready_and_drained_ones_finish_what_they_hold() -> None:
    """Up at 100/s, then down to 5/s with no scale-down window: replicas drain one sync at a time.
    Every message is acknowledged at its first delivery (a drained replica finishes and acks what it
    holds; nothing waits for an ack timeout), nothing reaches a replica before it is ready or after
    its drain (but the 1 ms hop of one already sent), and all its handling ends by its stop."""
    result = simulate(pipeline([(0.0, HIGH), (40.0, 5.0)], 120, stabilization={"down": "0s"}))
    messages, scaling = result.messages, result.scaling
    assert (messages["outcome"] == "acked").all()
    assert (messages["deliveries"] == 1).all()
    ready = scaling[scaling["event"] == "ready"].set_index("replica")["time"]
    drained = scaling[scaling["event"] == "drain"].set_index("replica")["time"]
    stopped = scaling[scaling["event"] == "stop"].set_index("replica")["time"]
    assert len(drained) >= 5
    spans = result.spans[result.spans["service"] == "worker"]
    assert (spans["arrival"] >= spans["replica"].map(ready)).all()
    gone = spans[spans["replica"].isin(drained.index)]
    assert (gone["arrival"] <= gone["replica"].map(drained) + 0.001 + 1e-9).all()
    assert (gone["end"] <= gone["replica"].map(stopped)).all()
    assert (spans["status"] == "ok").all()


def test_scale_to_zero_keeps_the_messages_until_a_consumer_starts() -> None:
    """``min: 0``: without messages for the 10 s cooldown the consumers go to zero; the queue keeps
    what is published meanwhile, and the first message after the pause waits for a replica's start:
    at least the start-up time, at most one sync period more (plus its own handling)."""
    rates = [(0.0, 20.0), (20.0, 0.0), (80.0, 20.0)]
    result = simulate(pipeline(rates, 120, min=0, max=10, cooldown="10s"))
    scaling, messages = result.scaling, result.messages
    assert int(scaling[(scaling["time"] > 20) & (scaling["time"] < 80)]["ready"].min()) == 0
    assert (messages["outcome"] == "acked").all()
    assert (messages["deliveries"] == 1).all()
    first = messages[messages["published"] >= 80].sort_values("published").iloc[0]
    assert STARTUP <= first["lag"] <= STARTUP + SYNC + 1.0
    assert not (result.spans["status"] == "refused").any()


def test_the_scaler_reads_the_backlog_of_its_channel() -> None:
    engine = Engine(pipeline([(0.0, HIGH)], 20, max=20), 5, 0)
    scaler = engine.scalers["worker"]
    seen: list[tuple[float, float]] = []

    def probe(_: object) -> None:
        seen.append((scaler.backlog(), engine.backlog("jobs")))  # type: ignore[misc]

    for t in (3.0, 7.0, 12.0):
        engine.env.timeout(t).callbacks.append(probe)
    engine.run()
    assert len(seen) == 3
    assert all(a == b for a, b in seen)


def scenario_with(consumers: list[dict[str, Any]], **autoscaling: Any) -> dict[str, Any]:
    return {
        "name": "x",
        "duration": "10s",
        "services": {
            "worker": {
                "replicas": 1,
                "service_time": {"dist": "exponential", "mean": "10ms"},
                "autoscaling": {"policy": "queue", "target": 5, **autoscaling},
            }
        },
        "brokers": {"bus": {"queues": {"a": {}, "b": {}}}},
        "routes": {"main": [publish("a"), publish("b")]},
        "consumers": consumers,
        "workloads": [{"route": "main", "arrivals": {"process": "poisson", "rate": "1/s"}}],
    }


def consumer(name: str, queue: str) -> dict[str, Any]:
    return {"name": name, "service": "worker", "broker": "bus", "queue": queue}


@pytest.mark.parametrize(
    ("consumers", "autoscaling", "message"),
    [
        (
            [consumer("x", "a"), consumer("y", "b")],
            {"metric": "backlog"},
            "metric: backlog is ambiguous: 'worker' consumes 'a', 'b'; name one with 'channel'",
        ),
        (
            [consumer("x", "a")],
            {"metric": "backlog", "channel": "nope"},
            "unknown queue or consumer group 'nope'; known: a, b",
        ),
        (
            [consumer("x", "a")],
            {"channel": "a"},
            "it needs metric: backlog, not metric: queue_length",
        ),
        ([consumer("x", "a")], {"min": 0}, "min: 0 needs metric: backlog"),
    ],
)
def test_backlog_scaling_mistakes_are_reported_with_their_path(
    consumers: list[dict[str, Any]], autoscaling: dict[str, Any], message: str
) -> None:
    with pytest.raises(ScenarioError) as error:
        scenario_from_dict(scenario_with(consumers, **autoscaling))
    rendered = error.value.render()
    assert message in rendered
    assert "services.worker.autoscaling" in rendered


def test_an_inferred_channel_needs_a_consumer() -> None:
    data = scenario_with([], metric="backlog")
    data["services"]["other"] = {"service_time": {"dist": "exponential", "mean": "10ms"}}
    data["consumers"] = [{"name": "x", "service": "other", "broker": "bus", "queue": "a"}]
    with pytest.raises(ScenarioError, match="'worker' consumes no queue or topic"):
        scenario_from_dict(data)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("messaging", "0464123767d0f083"), ("data", "83d4c59fbce608d7"), ("autoscaling", "c2739a5121a4eff1")],
)
def test_bundled_scenarios_without_queue_scaling_or_cqrs_keep_bit_identical_records(
    name: str, expected: str
) -> None:
    """Their base records (30 s) hash as on the commit before queue scaling and CQRS existed: consumers
    that autoscalers never touch, stores nobody subscribes to and prices change nothing."""
    recorder = simulate(bundled(name, duration="30s")).recorder
    columns = (
        recorder.request_codes,
        recorder.request_times,
        span_codes_before_span_ids(recorder),
        recorder.span_times,
        recorder.message_codes,
        recorder.message_times,
        recorder.db_codes,
        recorder.db_times,
        recorder.scaling_codes,
        recorder.scaling_times,
    )
    assert hashlib.sha256(b"".join(bytes(c) for c in columns)).hexdigest()[:16] == expected


def test_the_bundled_queue_scaled_burst_adds_consumers_and_pays_for_them() -> None:
    """The burst (60/s for 20 s against 40/s of shipping) scales shipping out and back to its two
    replicas; the lag p99 stays below that of the burst on fixed consumers, at a higher cost."""
    variants = bundled("messaging").variants
    fixed = simulate(bundled("messaging", duration="100s", **variants["burst"]))
    scaled = simulate(bundled("messaging", duration="100s", **variants["queue-scaled-burst"]))
    assert int(scaled.scaling["ready"].max()) > 2
    assert int(scaled.scaling["ready"].iloc[-1]) == 2
    fixed_m, scaled_m = replication_metrics(fixed), replication_metrics(scaled)
    assert scaled_m["order-placed.lag_p99"] < fixed_m["order-placed.lag_p99"] / 2
    assert scaled_m["cost"] > fixed_m["cost"] > 0
