"""Autoscaling in the simulator: what the HPA converges to, that it does not flap, what a slow start
costs in latency, schedules, cost accounting, and that replicas that come and go keep every balancing
policy, discovery and the capacity figures right.

The reference service: replicas of one slot each, exponential work of 40 ms, so one replica serves
``mu = 25`` calls/s. At an arrival rate ``lambda`` the offered load is ``a = lambda / mu`` busy slots,
and the utilization of ``N`` replicas is ``a / N``. The HPA's rule ``ceil(N * (a / N) / target)`` is
at rest where ``|a / (N * target) - 1| <= tolerance``: for ``a = 6`` (150/s), target 0.5 and
tolerance 0.1 that is ``N`` in ``[6 / 0.55, 6 / 0.45] = [10.9, 13.3]``, i.e. 11, 12 or 13 --
``ceil(a / target) = 12`` plus or minus one; for ``a = 2`` (50/s) it is 4 (``[3.6, 4.4]``), and 5 for
a while when a noisy period recommended it (the scale-down window keeps the highest recommendation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simulator import Scenario, ScenarioError, scenario_from_dict, simulate
from simulator.comparison import run_comparison
from simulator.engine.build import Engine
from simulator.engine.stations import Station
from simulator.plots import plot_cost, plot_replicas
from simulator.provisioning import provisioning
from simulator.records import RunResult
from simulator.report import write_report
from simulator.summary import replication_metrics
from simulator.timeseries import timeseries
from tests.simulator.bundled import bundled

MEAN_WORK = 0.04


def service(replicas: int = 4, startup: object = 0, **autoscaling: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"policy": "hpa", "target": 0.5, "min": 1, "max": 40}
    config.update(autoscaling)
    return {
        "replicas": replicas,
        "concurrency": 1,
        "service_time": {"dist": "exponential", "mean": f"{MEAN_WORK}s"},
        "startup_time": startup,
        "autoscaling": config,
    }


def scenario(
    rates: list[tuple[float, float]], duration: float, api: dict[str, Any], **extra: Any
) -> Scenario:
    data: dict[str, Any] = {
        "name": "autoscaling",
        "duration": duration,
        "seed": 11,
        "services": {"api": api},
        "routes": {"r": [{"call": "api"}]},
        "workloads": [
            {"route": "r", "arrivals": {"process": "step", "steps": [{"at": t, "rate": r} for t, r in rates]}}
        ],
    }
    data.update(extra)
    return scenario_from_dict(data)


def serving(result: RunResult, at: float, name: str = "api") -> int:
    """Replicas getting traffic at time ``at`` (after every change made then)."""
    rows = result.scaling[(result.scaling["service"] == name) & (result.scaling["time"] <= at)]
    return int(rows["ready"].iloc[-1])


def scale_events(result: RunResult, after: float) -> int:
    rows = result.scaling[result.scaling["time"] > after]
    return int(rows["event"].isin(("start", "drain")).sum())


STEP = [(0.0, 50.0), (300.0, 150.0)]


def test_hpa_on_a_step_settles_where_its_rule_is_at_rest() -> None:
    """50/s -> 150/s at t = 300 s: 4 replicas (a = 2), then 12 +- 1 (a = 6) once the overshoot of the
    backlog has left the scale-down window."""
    result = simulate(scenario(STEP, 600, service(stabilization={"down": "120s"})))
    assert serving(result, 299) in (4, 5)
    settled = [serving(result, t) for t in np.arange(480, 600, 15)]
    assert all(11 <= n <= 13 for n in settled), settled
    assert scale_events(result, 480) == 0


def test_tolerance_and_stabilization_stop_flapping() -> None:
    """A stationary Poisson load at the resting count (a = 6, 12 replicas): the utilization measured
    over 15 s wanders by a few percent around 0.5. With the 10% tolerance and the 300 s scale-down
    window nothing changes in 10 minutes; with neither, the noise alone moves the count every few
    periods (about one scale event a period in trial runs: 31 to 38 in 15 minutes, 4 seeds)."""
    calm = simulate(scenario([(0, 150)], 600, service(replicas=12)))
    nervous = simulate(
        scenario([(0, 150)], 600, service(replicas=12, tolerance=0, stabilization={"down": 0}))
    )
    assert scale_events(calm, 0) <= 1
    assert scale_events(nervous, 0) >= 10


def test_start_up_delay_worsens_the_tail_after_the_step() -> None:
    """After the step the 4 replicas get 150/s for 100/s of capacity: the backlog grows by 50 calls a
    second until new replicas are ready. They are, one sync period later (<= 15 s) with no start-up
    delay; 60 s later with a 60 s start-up -- at least 5 times the backlog, so the p99 of the requests
    of the minute after the step is several times higher."""

    def p99_after_step(startup: str) -> float:
        result = simulate(scenario(STEP, 420, service(startup=startup)))
        assert serving(result, 299) == 4  # the same starting point
        requests = result.requests
        minute = requests[(requests["arrival"] >= 300) & (requests["arrival"] < 360)]
        return float(np.percentile(minute["latency"], 99))

    fast, slow = p99_after_step("0s"), p99_after_step("60s")
    assert slow > 2.5 * fast, (fast, slow)


def test_replicas_get_no_traffic_before_they_are_ready() -> None:
    result = simulate(scenario(STEP, 420, service(startup={"dist": "uniform", "low": "20s", "high": "40s"})))
    scaling, spans = result.scaling, result.spans
    ready = scaling[scaling["event"] == "ready"].set_index("replica")["time"]
    start = scaling[scaling["event"] == "start"].set_index("replica")["time"]
    delays = (ready - start)[start > 0]
    assert len(delays) > 0
    assert ((delays >= 20) & (delays <= 40)).all()
    first_call = spans.groupby("replica")["arrival"].min()
    called = ready.index.intersection(first_call.index)
    assert len(called) > 4
    assert (first_call[called] >= ready[called]).all()


def test_a_drained_replica_finishes_its_work_and_gets_no_new_calls() -> None:
    result = simulate(
        scenario([(0, 150), (200, 25)], 500, service(replicas=12, stabilization={"down": "30s"}))
    )
    scaling, spans = result.scaling, result.spans
    drained = scaling[scaling["event"] == "drain"].set_index("replica")["time"]
    stopped = scaling[scaling["event"] == "stop"].set_index("replica")["time"]
    assert len(drained) >= 6
    calls = spans[spans["replica"].isin(drained.index)]
    assert (calls["arrival"] <= calls["replica"].map(drained)).all()  # nothing new after the drain
    assert (calls["end"] <= calls["replica"].map(stopped)).all()  # everything done before the stop
    assert (spans["status"] == "ok").all()


def test_scheduled_scaling_applies_its_schedule() -> None:
    api = service(
        replicas=2,
        policy="scheduled",
        min=2,
        max=2,
        schedule=[{"at": "100s", "min": 6, "max": 6}, {"at": "200s", "min": 3, "max": 3}],
        sync_period="10s",
    )
    del api["autoscaling"]["target"]
    result = simulate(scenario([(0, 50)], 300, api))
    assert [serving(result, t) for t in (95, 105, 195, 205, 299)] == [2, 6, 6, 3, 3]


def test_schedule_with_a_period_repeats() -> None:
    api = service(replicas=2, min=2, max=2, policy="scheduled", sync_period="10s")
    api["autoscaling"].update(schedule=[{"at": "30s", "min": 5, "max": 5}, {"at": "60s", "min": 2, "max": 2}])
    api["autoscaling"]["schedule_period"] = "100s"
    del api["autoscaling"]["target"]
    result = simulate(scenario([(0, 20)], 300, api))
    assert [serving(result, t) for t in (25, 45, 75, 135, 165, 235)] == [2, 5, 2, 5, 2, 5]


def test_cost_is_replica_seconds_times_price_for_fixed_replicas() -> None:
    fixed = scenario(
        [(0, 50)],
        200,
        {
            "replicas": 3,
            "service_time": {"dist": "exponential", "mean": "40ms"},
            "price_per_replica_hour": 0.36,
        },
        warmup="20s",
    )
    metrics = replication_metrics(simulate(fixed))
    assert metrics["api.replica_seconds"] == 3 * 180
    assert metrics["cost"] == pytest.approx(3 * 180 / 3600 * 0.36, rel=1e-12)
    assert metrics["api.replicas_mean"] == 3


def test_cost_of_an_autoscaled_service_counts_start_up_and_drain() -> None:
    api = service(startup="30s", stabilization={"down": "30s"})
    api["price_per_replica_hour"] = 1.2
    result = simulate(scenario([(0, 50), (100, 150), (250, 50)], 400, api))
    rows = result.scaling.pivot_table(index="replica", columns="event", values="time", aggfunc="first")
    paid = (rows["stop"].fillna(400).clip(upper=400) - rows["start"]).sum()
    metrics = replication_metrics(result)
    assert metrics["api.replica_seconds"] == pytest.approx(paid, rel=1e-12)
    assert metrics["cost"] == pytest.approx(paid / 3600 * 1.2, rel=1e-12)
    series = timeseries(result)
    assert series.loc[series["scope"] == "api", "cost"].sum() == pytest.approx(metrics["cost"], rel=1e-9)


def test_utilization_is_over_the_slots_held() -> None:
    """Little's law on the slots: busy slots on average = arrival rate x mean work, whatever the count
    of replicas, so utilization x mean slots held = arrivals x 40 ms (a 3% tolerance: ~30k calls of
    exponential work give a relative standard error of the mean work of 0.6%)."""
    result = simulate(scenario(STEP, 600, service(startup="20s")))
    metrics = replication_metrics(result)
    series = timeseries(result)
    api = series[series["scope"] == "api"]
    assert (api["utilization"].dropna() <= 1 + 1e-9).all()
    assert (api["replicas"] <= api["replicas_total"] + 1e-9).all()
    held_busy = metrics["api.utilization"] * _mean_slots_held(result)
    assert held_busy == pytest.approx(metrics["api.arrival_rate"] * MEAN_WORK, rel=0.03)


def _mean_slots_held(result: RunResult) -> float:
    return float(provisioning(result, "api", np.array([0.0, result.horizon])).slots[0])


@pytest.mark.parametrize(
    "balancer",
    [
        {"policy": "round_robin"},
        {"policy": "random"},
        {"policy": "weighted_round_robin", "weights": {0: 3}},
        {"policy": "least_outstanding"},
        {"policy": "p2c"},
        {"policy": "peak_ewma"},
        {"policy": "consistent_hash", "affinity": "client"},
        {"policy": "round_robin", "outlier_ejection": {"consecutive_errors": 3}},
    ],
)
def test_every_balancing_policy_uses_new_replicas_and_forgets_drained_ones(balancer: dict[str, Any]) -> None:
    api = service(stabilization={"down": "20s"})
    api["balancer"] = balancer
    workload = {
        "route": "r",
        "arrivals": {
            "process": "step",
            "steps": [{"at": 0, "rate": 50}, {"at": 60, "rate": 150}, {"at": 150, "rate": 25}],
        },
        "clients": {"count": 200},
    }
    result = simulate(scenario([], 240, api, workloads=[workload]))
    scaling, spans = result.scaling, result.spans
    new = set(scaling.loc[(scaling["event"] == "ready") & (scaling["time"] > 0), "replica"])
    assert new
    assert new <= set(spans["replica"])
    drained = scaling[scaling["event"] == "drain"].set_index("replica")["time"]
    assert len(drained) > 0
    late = spans[spans["replica"].isin(drained.index)]
    assert (late["arrival"] <= late["replica"].map(drained)).all()
    assert (spans["status"] == "ok").all()


@pytest.mark.parametrize("mode", ["server_side", "client_side"])
def test_discovery_registers_new_replicas_and_deregisters_drained_ones(mode: str) -> None:
    api = service(stabilization={"down": "20s"})
    api["discovery"] = {"mode": mode, "refresh_interval": "5s", "heartbeat_interval": "2s", "ttl": "10s"}
    result = simulate(scenario([(0, 50), (60, 150), (150, 25)], 240, api))
    scaling, spans = result.scaling, result.spans
    new = set(scaling.loc[(scaling["event"] == "ready") & (scaling["time"] > 0), "replica"])
    assert new
    assert new <= set(spans["replica"])
    assert (scaling["event"] == "stop").any()
    assert (spans["status"] == "ok").all()  # client side: the pre-stop wait outlasts stale views


def test_an_autoscaler_that_never_acts_leaves_the_records_identical() -> None:
    """min = max = replicas: the metered station and the control loop change nothing that is recorded."""
    plain = {"replicas": 3, "concurrency": 1, "service_time": {"dist": "exponential", "mean": "40ms"}}
    scaled = service(replicas=3, min=3, max=3)
    one = simulate(scenario(STEP, 400, plain))
    two = simulate(scenario(STEP, 400, scaled))
    for name in ("request_codes", "request_times", "span_codes", "span_times"):
        assert getattr(one.recorder, name) == getattr(two.recorder, name)
    assert len(two.scaling) == 6  # start and ready for each replica at t = 0


def test_vertical_scaling_resizes_replicas_by_rolling_restart() -> None:
    """Vertical: 2 replicas of 2 slots at a = 6 (utilization 1.5 / 2 = 0.75 -> saturated) grow to
    ceil(2 * util / 0.5) slots each; every old replica is drained once a successor is ready."""
    api = service(replicas=2, policy="vertical", target=0.5, max_size=16, cooldown="60s")
    api["concurrency"] = 2
    result = simulate(scenario([(0, 150)], 300, api))
    scaling = result.scaling
    sizes = scaling.loc[scaling["event"] == "ready", "slots"]
    assert sizes.max() >= 6
    final = scaling[scaling["time"] <= 299]
    assert int(final["ready"].iloc[-1]) == 2
    assert (scaling.loc[scaling["event"] == "drain", "slots"] < sizes.max()).all()


def test_replicas_outside_the_bounds_are_a_clear_error() -> None:
    with pytest.raises((ValueError, ScenarioError), match=r"replicas \(1\) must lie within"):
        scenario([(0, 10)], 10, service(replicas=1, min=2))


def test_bundled_scenario_reports_replicas_and_cost(tmp_path: Path) -> None:
    """The bundled comparison, cut to 2 minutes: every variant runs, and the report has the scaling
    table, the replica and cost plots and the cost in its headline (fixed-14: 14 x 120 s / 3600 x 1)."""
    comparison = run_comparison(bundled("autoscaling", duration="120s", replications=1))
    written = {path.name for path in write_report(comparison, tmp_path)}
    assert {"scaling.csv", "replicas.png", "cost.png"} <= written
    assert comparison.experiments["fixed-14"].per_replication["cost"].iloc[0] == pytest.approx(
        14 * 120 / 3600
    )
    assert "| cost (price units) |" in (tmp_path / "report.md").read_text()


def test_plots_of_replicas_and_cost_return_their_axes() -> None:
    from matplotlib.figure import Figure

    api = service(startup="10s")
    api["price_per_replica_hour"] = 2.0
    series = timeseries(simulate(scenario(STEP, 400, api)))
    figure = Figure()
    replicas = plot_replicas(series, ["api"], figure.subplots())
    assert replicas.get_ylabel().startswith("replicas")
    cost = plot_cost(series, figure.subplots())
    final = cost.get_lines()[0].get_ydata()[-1]
    assert final == pytest.approx(series["cost"].sum())


def test_the_shop_without_autoscaling_has_no_scaler_and_plain_stations() -> None:
    engine = Engine(bundled("shop"), 42, 0)
    assert engine.scalers == {}
    assert all(type(station) is Station for station in engine.stations.values())


def test_a_pinned_autoscaler_on_the_shop_leaves_its_records_bit_identical() -> None:
    """The shop's inventory (2 replicas) under an HPA pinned to 2: metering, a control loop and the
    scaling station run, yet the requests and spans are the same bytes as the plain shop's."""
    plain = simulate(bundled("shop", duration="20s"))
    pinned = simulate(
        bundled(
            "shop",
            duration="20s",
            services={"inventory": {"autoscaling": {"policy": "hpa", "target": 0.5, "min": 2, "max": 2}}},
            variants={"more-inventory": {"services": {"inventory": {"autoscaling": None}}}},
        )
    )
    for name in ("request_codes", "request_times", "span_codes", "span_times"):
        assert getattr(plain.recorder, name).tobytes() == getattr(pinned.recorder, name).tobytes()
    assert set(pinned.scaling["event"]) == {"start", "ready"}
