"""Deployments in the simulator: the bounds of a rolling update, the clean switch of a blue-green,
a canary that stops a bad release at its first step and promotes a good one, replicas pending for
room on the nodes, and node failures that take down exactly the replicas placed on the node.

The reference service: ``D = 6`` replicas of one slot, exponential work of 40 ms (``mu = 25``/s
each), Poisson arrivals at 50/s, so each replica is busy ``rho = 1/3`` of the time -- low enough
that a canary sized to its share (``ceil(w D)`` replicas for ``w`` of the traffic) and a baseline
left at full size (its replicas get less, ``(1 - w) lambda / D``) have M/M/1 sojourns within the
analysis's latency ratio: ``(1 - rho (1 - w)) / (1 - rho) <= 1.25 < 1.5`` for any ``w``. The bad
release fails 20% of its calls; the good one behaves as the running version (0.1%).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from simulator import ScenarioError, scenario_from_dict, simulate
from simulator.engine.build import Engine
from simulator.engine.stations import Station
from simulator.records import RunResult
from simulator.releases import version_spans
from tests.simulator.bundled import bundled

DESIRED = 6
RATE = 50.0
AT = 30.0
GOOD, BAD = 0.001, 0.2
Z = 3.29  # one-sided 99.95% normal quantile: the binomial margins below


def scenario(
    deployment: dict[str, Any] | None = None, release: float = BAD, cpu: float = 1.0, **extra: Any
) -> Any:
    data: dict[str, Any] = {
        "name": "deployments",
        "duration": 240,
        "seed": 5,
        "services": {
            "api": {
                "replicas": DESIRED,
                "service_time": {"dist": "exponential", "mean": "40ms"},
                "startup_time": "5s",
                "cpu": cpu,
                "versions": {"v1": {"error_rate": GOOD}, "v2": {"error_rate": release}},
            }
        },
        "routes": {"r": [{"call": "api"}]},
        "workloads": [{"route": "r", "arrivals": {"process": "poisson", "rate": f"{RATE}/s"}}],
    }
    if deployment is not None:
        data["deployments"] = [{"service": "api", "version": "v2", "at": AT, **deployment}]
    data.update(extra)
    return scenario_from_dict(data)


CANARY = {
    "strategy": "canary",
    "steps": [
        {"weight": 0.1, "pause": "40s"},
        {"weight": 0.5, "pause": "30s"},
        {"weight": 1, "pause": "10s"},
    ],
    "analysis": {"min_calls": 100},
}


def lifecycle(result: RunResult) -> list[tuple[float, int, int]]:
    """After each scaling row: (time, replicas serving, replicas starting or serving)."""
    state: dict[int, str] = {}
    counts = []
    for row in result.scaling.itertuples():
        state[row.replica] = str(row.event)
        serving = sum(s == "ready" for s in state.values())
        counts.append((row.time, serving, serving + sum(s == "start" for s in state.values())))
    return counts


def final_versions(result: RunResult) -> list[str]:
    """The versions of the replicas that never stopped."""
    stopped = set(result.scaling.loc[result.scaling["event"] == "stop", "replica"])
    versions = result.versions.set_index("replica")["version"]
    return [str(versions[r]) for r in versions.index if r not in stopped]


def events(result: RunResult) -> list[tuple[str, float]]:
    return [
        (str(e), w) for e, w in zip(result.deployments["event"], result.deployments["weight"], strict=True)
    ]


@pytest.mark.parametrize(("surge", "unavailable"), [(1, 0), (2, 1), (0, 2)])
def test_a_rolling_update_stays_within_its_bounds_and_replaces_every_replica(
    surge: int, unavailable: int
) -> None:
    result = simulate(scenario({"max_surge": surge, "max_unavailable": unavailable}))
    during = [(t, s, n) for t, s, n in lifecycle(result) if t >= AT]
    assert during, "the rollout changed nothing"
    assert min(s for _, s, _ in during) >= DESIRED - unavailable
    assert max(n for _, _, n in during) <= DESIRED + surge
    assert events(result) == [("started", 0.0), ("completed", 1.0)]
    assert final_versions(result) == ["v2"] * DESIRED
    # a rolling update has no analysis: the bad release ends up serving everything
    spans = version_spans(result)
    late = spans[spans["arrival"] > result.deployments["time"].iloc[-1]]
    assert (late["version"] == "v2").all()
    assert late["status"].ne("ok").mean() == pytest.approx(
        BAD, abs=Z * math.sqrt(BAD * (1 - BAD) / len(late))
    )


def test_blue_green_never_serves_two_versions_at_once() -> None:
    result = simulate(scenario({"strategy": "blue_green"}))
    assert [e for e, _ in events(result)] == ["started", "promoted", "completed"]
    switch = float(result.deployments["time"].iloc[1])
    assert switch == pytest.approx(AT + 5.0)  # the green set is ready after one start-up time
    spans = version_spans(result)
    assert not ((spans["version"] == "v1") & (spans["arrival"] > switch)).any()
    assert not ((spans["version"] == "v2") & (spans["arrival"] < switch)).any()
    assert max(n for _, _, n in lifecycle(result)) == 2 * DESIRED  # the price: double capacity
    assert final_versions(result) == ["v2"] * DESIRED


def test_canary_rolls_a_bad_release_back_before_it_reaches_more_than_its_share() -> None:
    result = simulate(scenario(CANARY))
    assert [e for e, _ in events(result)] == ["started", "step", "rolled_back"]
    assert result.deployments["weight"].iloc[1] == 0.1
    started, ended = result.deployments["time"].iloc[[0, -1]]
    spans = version_spans(result)
    during = spans[(spans["arrival"] >= started) & (spans["arrival"] < ended)]
    share = float((during["version"] == "v2").mean())
    assert share <= 0.1 + Z * math.sqrt(0.1 * 0.9 / len(during))
    # the bad calls: about 20% of the canary's few, none after the rollback
    bad = spans[spans["version"] == "v2"]
    assert len(bad) > 0
    assert bad["arrival"].max() < ended
    assert "v2" not in final_versions(result)
    assert final_versions(result) == ["v1"] * DESIRED


def test_canary_promotes_a_good_release_through_every_step() -> None:
    result = simulate(scenario(CANARY, release=GOOD))
    assert events(result) == [
        ("started", 0.0),
        ("step", 0.1),
        ("promoted", 0.1),
        ("step", 0.5),
        ("promoted", 0.5),
        ("step", 1.0),
        ("completed", 1.0),
    ]
    assert final_versions(result) == ["v2"] * DESIRED
    steps = result.deployments[result.deployments["event"] == "step"]
    # the canary set is sized to its share: ceil(0.1 * 6) = 1, then ceil(0.5 * 6) = 3 replicas
    spans = version_spans(result)
    first, second = steps["time"].iloc[0], steps["time"].iloc[1]
    canaries = spans[(spans["arrival"] >= first) & (spans["arrival"] < second) & (spans["version"] == "v2")]
    assert canaries["replica"].nunique() == 1
    window = spans[(spans["arrival"] >= first) & (spans["arrival"] < first + 40)]
    share = float((window["version"] == "v2").mean())
    assert share == pytest.approx(0.1, abs=Z * math.sqrt(0.1 * 0.9 / len(window)))


def test_canary_waits_for_enough_calls_before_judging() -> None:
    """At 10% of 50/s a 5 s pause sees ~25 canary calls: fewer than min_calls, so the analysis
    continues (re-arms the pause) instead of deciding on noise, and rolls back once it has enough."""
    steps = [{"weight": 0.1, "pause": "5s"}, {"weight": 1, "pause": "5s"}]
    result = simulate(scenario({**CANARY, "steps": steps}))
    assert [e for e, _ in events(result)] == ["started", "step", "rolled_back"]
    judged = float(result.deployments["time"].iloc[-1] - result.deployments["time"].iloc[1])
    assert judged >= 15.0  # 100 canary calls need ~20 s at 5/s: at least three pauses


def test_replicas_wait_for_room_on_the_nodes() -> None:
    """Six replicas of 1.5 cpu fill three nodes of 3 cpu: the surge replica is pending until an old
    replica has drained and stopped, and no node ever holds more than it has."""
    nodes = {"count": 3, "cpu": 3, "placement": "pack"}
    data = scenario({"max_surge": 1, "max_unavailable": 1}, release=GOOD, cpu=1.5, nodes=nodes)
    engine = Engine(data, 5, 0)
    result = engine.run()
    assert [e for e, _ in events(result)] == ["started", "completed"]
    scaling = result.scaling
    first_stop = scaling.loc[scaling["event"] == "stop", "time"].min()
    new_starts = scaling[(scaling["event"] == "start") & (scaling["replica"] >= DESIRED)]
    assert new_starts["time"].min() >= first_stop
    assert all(used <= 3 + 1e-9 for used in engine.placement.pool.used)  # type: ignore[union-attr]
    assert final_versions(result) == ["v2"] * DESIRED


def node_scenario(placement: str) -> Any:
    return scenario_from_dict(
        {
            "name": "nodes",
            "duration": 60,
            "seed": 2,
            "services": {
                name: {"replicas": 4, "service_time": {"dist": "exponential", "mean": "20ms"}}
                for name in ("web", "api")
            },
            "routes": {"r": [{"call": "web", "calls": [{"call": "api"}]}]},
            "workloads": [{"route": "r", "arrivals": {"process": "poisson", "rate": "40/s"}}],
            "nodes": {"count": 4, "cpu": 4, "placement": placement},
            "faults": [{"kind": "node_failure", "node": 0, "at": 20, "restart_after": 20}],
        }
    )


@pytest.mark.parametrize(
    ("placement", "down"), [("spread", {("web", 0), ("api", 0)}), ("pack", {("web", r) for r in range(4)})]
)
def test_a_node_failure_takes_down_exactly_the_replicas_on_it(
    placement: str, down: set[tuple[str, int]]
) -> None:
    engine = Engine(node_scenario(placement), 2, 0)
    on_node = set(engine.placement.replicas(0))  # type: ignore[union-attr]
    assert on_node == down
    result = engine.run()
    log = engine.faults.log  # type: ignore[union-attr]
    crashes = {(e.service, e.replica) for e in log if e.event == "crash"}
    restarts = {(e.service, e.replica) for e in log if e.event == "restart"}
    assert crashes == restarts == down
    assert {e.time for e in log if e.event == "crash"} == {20.0}  # all at once
    assert {e.time for e in log if e.event == "restart"} == {40.0}
    spans = result.spans
    out = spans[(spans["arrival"] > 20) & (spans["arrival"] < 40)]
    refused = out[out["status"] == "refused"]
    assert set(zip(refused["service"].astype(str), refused["replica"], strict=True)) <= down
    web = out[out["service"] == "web"]
    share = float((web["status"] == "refused").mean())
    # round robin over 4 replicas: spread loses one of web's four (a quarter of its calls), pack all
    expected = len([d for d in down if d[0] == "web"]) / 4
    assert share == pytest.approx(expected, abs=0.02)


def test_unused_features_leave_the_records_bit_identical() -> None:
    """Versions nobody deploys and ample nodes change nothing: the shop's records are the same."""
    shop = bundled("shop")
    services = {name: {"versions": {"v9": {"error_rate": 0.5}}, "cpu": 0.5} for name in shop.services}
    extended = bundled("shop", services=services, nodes={"count": 50, "cpu": 64})
    plain, other = simulate(shop), simulate(extended)
    engine = Engine(extended, extended.seed, 0)
    assert all(type(s) is Station for s in engine.stations.values())
    for table in ("requests", "spans", "scaling"):
        assert getattr(plain, table).equals(getattr(other, table)), table
    assert other.versions.empty
    assert other.deployments.empty


@pytest.mark.parametrize(
    ("deployment", "extra", "message"),
    [
        ({"service": "nope"}, {}, "unknown service 'nope'"),
        ({"version": "v3"}, {}, "has no version 'v3'"),
        ({"version": "v1"}, {}, "already runs 'v1'"),
        ({}, {"nodes": {"count": 2, "cpu": 2}}, "cannot hold the replicas"),
        ({}, {"faults": [{"kind": "node_failure", "node": 0, "at": 1}]}, "needs the scenario's 'nodes'"),
    ],
)
def test_mistakes_in_deployments_are_reported_with_their_path(
    deployment: dict[str, Any], extra: dict[str, Any], message: str
) -> None:
    raw = scenario(None).model_dump(by_alias=True)
    raw.update(extra)
    raw["deployments"] = [{"service": "api", "version": "v2", "at": AT, **deployment}]
    with pytest.raises(ScenarioError, match=message) as caught:
        scenario_from_dict(raw)
    assert "•" in str(caught.value)


def test_version_spans_and_series_add_up() -> None:
    result = simulate(scenario(CANARY, release=GOOD))
    spans = version_spans(result)
    assert len(spans) == len(result.spans)
    from simulator.timeseries import timeseries

    series = timeseries(result)
    rows = series[series["scope"].str.contains("@")]
    shares = rows.groupby("time")["traffic_share"].sum(min_count=1).dropna()
    assert np.allclose(shares, 1.0)


@pytest.mark.slow
def test_the_bundled_comparison_tells_the_story(tmp_path: Any) -> None:
    """deployments.yaml: the canary keeps the error rate near v1's while rolling and blue-green let
    the bad release serve everything; packing puts all of web on the failed node."""
    from simulator.comparison import run_comparison
    from simulator.report import write_report

    comparison = run_comparison(bundled("deployments"), replications=1)
    rate = {name: e.per_replication["error_rate"].iloc[0] for name, e in comparison.experiments.items()}
    assert rate["canary"] < 0.01 < 0.1 < rate["base"]
    assert rate["blue-green"] > 0.1
    assert rate["canary-good"] < 0.005
    assert rate["nodes-spread"] < rate["nodes-pack"]
    rolled = comparison.experiments["canary"].per_replication["api.rolled_back"].iloc[0]
    assert rolled == 1.0
    written = {path.name for path in write_report(comparison, tmp_path)}
    assert {"deployments.csv", "versions.csv", "versions.png", "traffic_share.png", "cost.png"} <= written


def test_version_plots_draw_a_line_per_version() -> None:
    from matplotlib.figure import Figure

    from simulator.plots import plot_traffic_share, plot_versions
    from simulator.timeseries import timeseries

    series = timeseries(simulate(scenario(CANARY, release=GOOD)))
    figure = Figure()
    replicas = plot_versions(series, figure.subplots())
    assert [line.get_label() for line in replicas.get_lines()] == ["api@v1", "api@v2"]
    last = replicas.get_lines()[1].get_ydata()[-1]
    assert last == pytest.approx(DESIRED)
    share = plot_traffic_share(series, ["api@v2"], Figure().subplots())
    assert [line.get_label() for line in share.get_lines()] == ["api@v2"]
    assert share.get_ylabel() == "share of the service's calls"
