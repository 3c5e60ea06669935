"""Fault injection: each kind of fault against what it promises, with tolerances from its statistics.

Most scenarios here use deterministic service times and generous concurrency, so that nobody waits
and a request's latency is known exactly: then a fault's effect (added latency, a slower replica, a
partition's heal time) is checked to the nanosecond, inside its window and outside. Random faults
(crashes, the chaos monkey, error rates) are checked against their theory with a tolerance of four
standard deviations of the estimate, on fixed seeds.
"""

from __future__ import annotations

import hashlib
import math
import textwrap
from typing import Any

import numpy as np
import pandas as pd
import pytest

from simulator import Scenario, ScenarioError, parse_scenario, scenario_from_dict, simulate
from simulator.engine.build import Engine
from simulator.engine.faults import FaultEvent
from simulator.faults import fault_windows
from simulator.records import RunResult
from tests.simulator.bundled import bundled

EXACT = 1e-9  # float rounding of sums of a few times below 100 s


def deterministic(value: str) -> dict[str, Any]:
    return {"dist": "deterministic", "value": value}


def chain(faults: list[dict[str, Any]], **overrides: Any) -> Scenario:
    """client -> a (10 ms) -> b (5 ms), 1 ms a hop, no waiting: a request takes 19 ms exactly."""
    data: dict[str, Any] = {
        "name": "chain",
        "duration": "40s",
        "seed": 7,
        "network": {"latency": "1ms"},
        "services": {
            "a": {"concurrency": 1000, "service_time": deterministic("10ms")},
            "b": {"concurrency": 1000, "service_time": deterministic("5ms")},
        },
        "routes": {"main": [{"call": "a", "calls": [{"call": "b"}]}]},
        "workloads": [{"route": "main", "arrivals": {"process": "poisson", "rate": "50/s"}}],
        "faults": faults,
    }
    data.update(overrides)
    return scenario_from_dict(data)


def single(faults: list[dict[str, Any]], replicas: int = 1, **overrides: Any) -> Scenario:
    """client -> a (10 ms, ``replicas`` round robin), no network latency, no waiting."""
    return chain(
        faults,
        network={"latency": 0},
        services={"a": {"replicas": replicas, "concurrency": 1000, "service_time": deterministic("10ms")}},
        routes={"main": [{"call": "a"}]},
        **overrides,
    )


def run(scenario: Scenario) -> tuple[RunResult, list[FaultEvent]]:
    engine = Engine(scenario, scenario.seed, 0)
    result = engine.run()
    return result, [] if engine.faults is None else engine.faults.log


def inside(times: pd.Series, start: float, end: float) -> pd.Series:
    return (times >= start) & (times < end)


def binomial_slack(rate: float, n: int) -> float:
    return 4 * math.sqrt(rate * (1 - rate) / n)


# --- without faults nothing changes ------------------------------------------------------------


def digest(result: RunResult) -> str:
    recorder = result.recorder
    hasher = hashlib.sha256()
    for column in (recorder.request_codes, recorder.request_times, recorder.span_codes, recorder.span_times):
        hasher.update(column.tobytes())
    return hasher.hexdigest()


def test_without_faults_no_hook_is_installed() -> None:
    engine = Engine(bundled("shop"), 42, 0)
    assert engine.faults is None
    assert all(type(station).__name__ == "Station" for station in engine.stations.values())


def test_faults_that_never_open_leave_the_records_bit_identical() -> None:
    """Every kind of fault, on the shop's real services and edges, scheduled after the run ends.

    The hooks are then installed (the code path differs) but must neither draw a random number nor
    move an event: the records are the same bytes as without faults.
    """
    late = "1000s"
    faults = [
        {"service": "inventory", "replica": 0, "at": late},
        {"kind": "crashes", "service": "inventory", "mtbf": "1000s", "mttr": "1s", "start": late},
        {"kind": "chaos_monkey", "interval": "1s", "start": late},
        {"kind": "latency", "service": "inventory", "add": "5ms", "at": late},
        {"kind": "latency", "from": "gateway", "to": "inventory", "add": "5ms", "at": late},
        {"kind": "errors", "service": "database", "rate": 0.5, "at": late},
        {"kind": "errors", "from": "client", "to": "gateway", "rate": 0.5, "at": late},
        {"kind": "slow_replica", "service": "gateway", "replica": 1, "slowdown": 3, "at": late},
        {"kind": "partition", "between": ["payments", "database"], "at": late, "duration": "1s"},
        {"kind": "brownout", "service": "payments", "slowdown": 2, "rate": 0.1, "at": late},
    ]
    plain = simulate(bundled("shop", duration="30s"))
    faulted_scenario = bundled("shop", duration="30s", faults=faults)
    engine = Engine(faulted_scenario, faulted_scenario.seed, 0)
    hooked = engine.run()
    assert engine.faults is not None
    assert engine.faults.log == []
    assert digest(hooked) == digest(plain)
    assert plain.n_requests > 5_000


# --- random crashes ---------------------------------------------------------------------------


def down_intervals(log: list[FaultEvent], horizon: float) -> dict[int, list[tuple[float, float]]]:
    """Per replica, the (crash, restart) intervals, the last one cut at the horizon."""
    intervals: dict[int, list[tuple[float, float]]] = {}
    crashed: dict[int, float] = {}
    for event in log:
        if event.event == "crash":
            crashed[event.replica] = event.time
        else:
            intervals.setdefault(event.replica, []).append((crashed.pop(event.replica), event.time))
    for replica, time in crashed.items():
        intervals.setdefault(replica, []).append((time, horizon))
    return intervals


def test_crashes_keep_a_replica_up_mtbf_over_mtbf_plus_mttr_of_the_time() -> None:
    """An alternating renewal process: up ``mtbf / (mtbf + mttr)`` of the time in the long run.

    Over n cycles of exponential up (mean u) and down (mean d) times the fraction of time up has a
    standard deviation of about sqrt(2 / n) * u * d / (u + d)**2 (the delta method).
    """
    mtbf, mttr, horizon, replicas = 9.0, 1.0, 1000.0, 10
    fault = {"kind": "crashes", "service": "a", "mtbf": f"{mtbf}s", "mttr": f"{mttr}s"}
    result, log = run(single([fault], replicas=replicas, duration=f"{horizon}s"))
    down = down_intervals(log, horizon)
    total_down = sum(min(end, horizon) - start for spans in down.values() for start, end in spans)
    up_fraction = 1 - total_down / (replicas * horizon)
    cycles = sum(len(spans) for spans in down.values())
    expected = mtbf / (mtbf + mttr)
    assert cycles == pytest.approx(replicas * horizon / (mtbf + mttr), rel=0.15)
    sd = math.sqrt(2 / cycles) * mtbf * mttr / (mtbf + mttr) ** 2
    assert abs(up_fraction - expected) < 4 * sd

    spans = result.spans
    refused, failed = spans[spans["status"] == "refused"], spans[spans["status"] == "failed"]
    assert len(refused) > 100
    assert len(failed) > 10
    for row in refused.itertuples():  # sent to a replica while it was down
        assert any(start <= row.arrival < end for start, end in down[row.replica])
    for row in failed.itertuples():  # in service when its replica crashed
        assert any(row.arrival <= start <= row.end for start, _ in down[row.replica])
    assert set(spans["status"].unique()) == {"ok", "refused", "failed"}


def test_a_crashed_replica_registers_again_when_it_restarts() -> None:
    """With discovery, a restart must register the replica again, or it would never be chosen again."""
    discovery = {"mode": "server_side", "heartbeat_interval": "1s", "ttl": "3s", "sweep_interval": "1s"}
    fault = {"kind": "crashes", "service": "a", "mtbf": "20s", "mttr": "5s", "end": "30s"}
    scenario = single([fault], replicas=4, duration="60s")
    scenario = scenario_from_dict(
        {
            **scenario.model_dump(by_alias=True),
            "services": {"a": {**scenario.services["a"].model_dump(), "discovery": discovery}},
        }
    )
    result, log = run(scenario)
    restarts = [event for event in log if event.event == "restart"]
    assert restarts
    spans = result.spans
    for event in restarts:
        later = spans[(spans["replica"] == event.replica) & (spans["arrival"] > event.time)]
        assert (later["status"] == "ok").sum() > 100


# --- chaos monkey -----------------------------------------------------------------------------


def test_chaos_monkey_kills_about_duration_over_interval_replicas() -> None:
    """Kills are the events of a Poisson process of rate 1 / interval: count n ~ Poisson(T / interval).

    Ten replicas in two services, each back a second later: the victim is uniform over the live
    ones, so each service takes about half the kills (binomial).
    """
    horizon, interval = 2000.0, 5.0
    monkey = {"kind": "chaos_monkey", "interval": f"{interval}s", "restart_after": "1s"}
    scenario = chain(
        [monkey],
        duration=f"{horizon}s",
        services={
            "a": {"replicas": 5, "concurrency": 100, "service_time": deterministic("1ms")},
            "b": {"replicas": 5, "concurrency": 100, "service_time": deterministic("1ms")},
        },
        workloads=[{"route": "main", "arrivals": {"process": "poisson", "rate": "2/s"}}],
    )
    _, log = run(scenario)
    kills = [event for event in log if event.event == "crash"]
    expected = horizon / interval
    assert abs(len(kills) - expected) < 4 * math.sqrt(expected)
    assert len([event for event in log if event.event == "restart"]) == len(kills)
    in_a = sum(event.service == "a" for event in kills)
    assert abs(in_a - len(kills) / 2) < 4 * math.sqrt(len(kills)) / 2
    assert len({(event.service, event.replica) for event in kills}) == 10
    assert run(scenario)[1] == log  # reproducible: the same stream, the same victims


def test_chaos_monkey_without_restarts_leaves_its_victims_down_and_stops_at_its_end() -> None:
    monkey = {"kind": "chaos_monkey", "interval": "2s", "start": "5s", "end": "15s"}
    result, log = run(single([monkey], replicas=50, duration="30s"))
    assert log
    assert all(event.event == "crash" and 5 <= event.time < 15 for event in log)
    spans = result.spans
    dead = {event.replica: event.time for event in log}
    for replica, time in dead.items():
        after = spans[(spans["replica"] == replica) & (spans["arrival"] > time)]
        assert (after["status"] == "refused").all()
        assert len(after) > 0


# --- latency ----------------------------------------------------------------------------------


def test_latency_on_a_service_adds_exactly_its_delay_to_calls_starting_in_the_window() -> None:
    fault = {"kind": "latency", "service": "a", "add": "5ms", "at": "10s", "duration": "10s"}
    requests = run(single([fault]))[0].requests
    window = inside(requests["arrival"], 10, 20)
    assert window.sum() > 300
    assert np.allclose(requests.loc[window, "latency"], 0.015, rtol=0, atol=EXACT)
    assert np.allclose(requests.loc[~window, "latency"], 0.010, rtol=0, atol=EXACT)


def test_latency_from_a_distribution_has_its_mean() -> None:
    """Uniform 0-10 ms added: in-window means differ from 5 ms by less than four standard errors."""
    add = {"dist": "uniform", "low": 0, "high": "10ms"}
    fault = {"kind": "latency", "service": "a", "add": add, "at": "10s"}
    requests = run(single([fault]))[0].requests
    extra = requests.loc[requests["arrival"] >= 10, "latency"] - 0.010
    assert extra.between(0, 0.010).all()
    assert abs(extra.mean() - 0.005) < 4 * (0.010 / math.sqrt(12)) / math.sqrt(len(extra))
    assert np.allclose(requests.loc[requests["arrival"] < 10, "latency"], 0.010, rtol=0, atol=EXACT)


@pytest.mark.parametrize(("source", "target"), [("a", "b"), ("client", "a")])
def test_latency_on_an_edge_adds_it_to_both_hops(source: str, target: str) -> None:
    """Request and response hop each pay ``add``: 19 ms becomes 23 ms with 2 ms added.

    Near the window's edges one hop may fall inside and the other outside, so those 0.1 s are left out.
    """
    fault = {"kind": "latency", "from": source, "to": target, "add": "2ms", "at": "10s", "duration": "10s"}
    requests = run(chain([fault]))[0].requests
    arrival = requests["arrival"]
    window, outside = inside(arrival, 10.1, 19.9), (arrival < 9.9) | (arrival >= 20.1)
    assert np.allclose(requests.loc[window, "latency"], 0.023, rtol=0, atol=EXACT)
    assert np.allclose(requests.loc[outside, "latency"], 0.019, rtol=0, atol=EXACT)


# --- errors -----------------------------------------------------------------------------------


def test_errors_on_a_service_fail_a_share_rate_of_its_calls_in_the_window_only() -> None:
    rate = 0.3
    fault = {"kind": "errors", "service": "a", "rate": rate, "at": "20s", "duration": "40s"}
    result = run(single([fault], duration="80s"))[0]
    spans = result.spans
    window = inside(spans["end"], 20, 60)  # judged when the work ends
    failed = spans["status"] == "failed"
    share = failed[window].mean()
    assert abs(share - rate) < binomial_slack(rate, int(window.sum()))
    assert not failed[~window].any()
    assert np.allclose(spans["end"] - spans["start"], 0.010, rtol=0, atol=EXACT)  # the work was done
    assert (result.requests["status"] == "error").sum() == failed.sum()


def test_errors_on_an_edge_fail_calls_at_once_without_reaching_the_callee() -> None:
    rate = 0.5
    result = run(chain([{"kind": "errors", "from": "a", "to": "b", "rate": rate}]))[0]
    spans, requests = result.spans, result.requests
    failed = requests.loc[requests["status"] == "error", "request"]
    assert abs(len(failed) / len(requests) - rate) < binomial_slack(rate, len(requests))
    at_b = spans[spans["service"] == "b"]
    assert not at_b["request"].isin(failed).any()
    assert len(at_b) + len(failed) == len(requests)
    a_failed = spans[(spans["service"] == "a") & spans["request"].isin(failed)]
    assert (a_failed["status"] == "failed").all()
    assert np.allclose(a_failed["end"] - a_failed["start"], 0.010, rtol=0, atol=EXACT)  # at once
    latency = requests.set_index("request")["latency"]
    assert np.allclose(latency[failed], 0.012, rtol=0, atol=EXACT)  # two hops and a's work


# --- slow replica -----------------------------------------------------------------------------


def test_a_slow_replica_takes_slowdown_times_longer_in_the_window() -> None:
    fault = {
        "kind": "slow_replica",
        "service": "a",
        "replica": 1,
        "slowdown": 3,
        "at": "10s",
        "duration": "10s",
    }
    spans = run(single([fault], replicas=2))[0].spans
    work = spans["end"] - spans["start"]
    slowed = (spans["replica"] == 1) & inside(spans["start"], 10, 20)
    assert slowed.sum() > 150
    assert np.allclose(work[slowed], 0.030, rtol=0, atol=EXACT)
    assert np.allclose(work[~slowed], 0.010, rtol=0, atol=EXACT)


# --- partition --------------------------------------------------------------------------------


def test_a_partition_fails_calls_across_it_when_it_heals() -> None:
    """a calls b 10 ms after it starts; the call is lost if sent, or its answer arrives, in 10-15 s."""
    fault = {"kind": "partition", "between": ["b", "a"], "at": "10s", "duration": "5s"}
    result = run(chain([fault]))[0]
    spans = result.spans.set_index(["request", "service"])
    requests = result.requests.set_index("request")
    a = spans.xs("a", level="service")
    sent = a["start"] + 0.010
    b_end = spans.xs("b", level="service")["end"].reindex(a.index)
    lost = inside(sent, 10, 15) | inside(b_end + 0.001, 10, 15)
    assert lost.sum() > 200
    assert (requests.loc[lost, "status"] == "error").all()
    assert (requests.loc[~lost, "status"] == "ok").all()
    assert np.allclose(a.loc[lost, "end"], 15.0, rtol=0, atol=EXACT)  # the caller learns at the heal
    assert (a.loc[lost, "status"] == "failed").all()


def test_a_partition_from_the_client_fails_requests_sent_in_it_at_the_heal() -> None:
    fault = {"kind": "partition", "between": ["client", "a"], "at": "10s", "duration": "5s"}
    requests = run(chain([fault]))[0].requests
    sent = inside(requests["arrival"], 10, 15)
    assert (requests.loc[sent, "status"] == "error").all()
    assert np.allclose(requests.loc[sent, "end"], 15.0, rtol=0, atol=EXACT)
    clear = (requests["arrival"] < 10 - 0.019) | (requests["arrival"] >= 15)
    assert (requests.loc[clear, "status"] == "ok").all()


# --- brownout ---------------------------------------------------------------------------------


def test_a_brownout_slows_every_replica_and_fails_a_share_of_calls() -> None:
    rate = 0.2
    fault = {"kind": "brownout", "service": "a", "slowdown": 2, "rate": rate, "at": "20s", "duration": "40s"}
    spans = run(single([fault], replicas=3, duration="80s"))[0].spans
    work = spans["end"] - spans["start"]
    slowed = inside(spans["start"], 20, 60)
    assert np.allclose(work[slowed], 0.020, rtol=0, atol=EXACT)
    assert np.allclose(work[~slowed], 0.010, rtol=0, atol=EXACT)
    assert set(spans.loc[slowed, "replica"]) == {0, 1, 2}
    failed = spans["status"] == "failed"
    window = inside(spans["end"], 20, 60)
    assert abs(failed[window].mean() - rate) < binomial_slack(rate, int(window.sum()))
    assert not failed[~window].any()


# --- schema and cross-reference errors ---------------------------------------------------------

BASE = """\
name: t
duration: 20s
services:
  a:
    replicas: 2
    service_time: {dist: exponential, mean: 10ms}
  b:
    service_time: {dist: exponential, mean: 1ms}
routes:
  main:
    - call: a
      calls:
        - call: b
workloads:
  - route: main
    arrivals: {process: poisson, rate: 50/s}
faults:
"""


def only_problem(faults: str) -> tuple[str, str, int | None]:
    text = BASE + textwrap.indent(textwrap.dedent(faults), "  ")
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, source="s.yaml")
    problems = caught.value.problems
    assert len(problems) == 1, [p.render() for p in problems]
    problem = problems[0]
    return problem.path, problem.message, problem.line


FIRST_FAULT_LINE = BASE.count("\n") + 1


@pytest.mark.parametrize(
    ("faults", "path", "words", "line_offset"),
    [
        ("- {kind: meltdown, service: a}\n", "faults[0]", "unknown kind 'meltdown'", 0),
        (
            "- {kind: latency, service: a, from: a, to: b, add: 1ms}\n",
            "faults[0]",
            "either 'service' or an edge",
            0,
        ),
        ("- {kind: errors, from: a, rate: 0.1}\n", "faults[0]", "both 'from' and 'to'", 0),
        (
            "- {kind: brownout, service: c, slowdown: 2, rate: 0.1}\n",
            "faults[0].service",
            "unknown service 'c'",
            0,
        ),
        (
            "- {kind: slow_replica, service: a, replica: 2, slowdown: 2}\n",
            "faults[0].replica",
            "0..1, not 2",
            0,
        ),
        (
            "- kind: crashes\n  service: a\n  replicas: [0, 5]\n  mtbf: 10s\n  mttr: 1s\n",
            "faults[0].replicas[1]",
            "0..1, not 5",
            2,
        ),
        (
            "- {kind: chaos_monkey, services: [a, x], interval: 1s}\n",
            "faults[0].services[1]",
            "unknown service 'x'",
            0,
        ),
        ("- {kind: latency, from: b, to: a, add: 1ms}\n", "faults[0].from", "no route has 'b' call 'a'", 0),
        (
            "- {kind: partition, between: [client, b], duration: 1s}\n",
            "faults[0].between",
            "call each other",
            0,
        ),
        ("- {kind: partition, between: [a, b]}\n", "faults[0].duration", "required", 0),
        (
            "- {kind: slow_replica, service: a, replica: 0, slowdown: 1}\n",
            "faults[0].slowdown",
            "more than 1",
            0,
        ),
        (
            "- {kind: crashes, service: a, mtbf: 1s, mttr: 1s, start: 5s, end: 2s}\n",
            "faults[0]",
            "after start",
            0,
        ),
        ("- {service: a, replica: 3, at: 1s}\n", "faults[0].replica", "0..1, not 3", 0),
    ],
)
def test_mistakes_in_faults_are_reported_with_their_path_and_line(
    faults: str, path: str, words: str, line_offset: int
) -> None:
    found_path, message, line = only_problem(faults)
    assert found_path == path
    assert words in message
    assert line == FIRST_FAULT_LINE + line_offset


def test_the_crash_kind_is_still_the_default() -> None:
    scenario = parse_scenario(BASE + "  - {service: a, replica: 1, at: 5s, restart_after: 2s}\n")
    assert scenario.faults[0].kind == "crash"
    spans = simulate(scenario).spans
    refused = spans[spans["status"] == "refused"]
    assert len(refused) > 10
    assert (refused["replica"] == 1).all()
    assert refused["arrival"].between(5, 7).all()


def test_fault_windows_say_when_each_fault_is_on_for_the_plots() -> None:
    scenario = bundled(
        "shop",
        faults=[
            {"service": "inventory", "replica": 0, "at": "10s", "restart_after": "5s"},
            {
                "kind": "latency",
                "from": "gateway",
                "to": "inventory",
                "add": "5ms",
                "at": "20s",
                "duration": "3s",
            },
            {"kind": "partition", "between": ["gateway", "payments"], "at": "30s", "duration": "1s"},
            {"kind": "chaos_monkey", "interval": "10s", "start": "40s"},
            {"kind": "brownout", "service": "payments", "slowdown": 2, "rate": 0.1, "at": "500s"},
        ],
    )
    assert fault_windows(scenario.faults, horizon=60.0) == [
        (10.0, 15.0, "crash inventory/0"),
        (20.0, 23.0, "latency gateway->inventory"),
        (30.0, 31.0, "partition gateway & payments"),
        (40.0, 60.0, "chaos monkey"),
    ]  # the brownout starts after the horizon: nothing to shade
