"""Parameter sweeps: the param grammar and its validation, the grid, self-contained tasks, the tidy
results and their summary, common random numbers across points, and resuming an interrupted sweep.

The scenario is a small M/M/c (20 s at 60/s: about 1,200 requests a run), so every sweep here
takes a fraction of a second in this process.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pandas.testing as pdt
import pytest

from simulator import scenario_from_dict
from simulator.errors import ScenarioError
from simulator.experiment import run_experiment
from simulator.loader import merge_overrides
from simulator.sweeps import parse_param, plan_sweep, run_sweep, run_task

DATA: dict[str, Any] = {
    "name": "small",
    "duration": "20s",
    "warmup": "2s",
    "seed": 11,
    "replications": 2,
    "services": {"api": {"replicas": 2, "service_time": {"dist": "exponential", "mean": "25ms"}}},
    "routes": {"main": [{"call": "api"}]},
    "workloads": [{"route": "main", "arrivals": {"process": "poisson", "rate": "60/s"}}],
    "variants": {"slow": {"services": {"api": {"service_time": {"mean": "30ms"}}}}},
}
SMALL = scenario_from_dict(DATA)
OnResult = Callable[[Any, Any], None]


# --- the param grammar ---------------------------------------------------------------------------


def test_a_range_is_inclusive_and_a_list_is_read_as_yaml() -> None:
    replicas = parse_param("services.api.replicas=1..4", SMALL)
    assert replicas.path == ("services", "api", "replicas")
    assert replicas.values == (1, 2, 3, 4)
    rates = parse_param("workloads.0.arrivals.rate=30/s, 45/s,50", SMALL)
    assert rates.path == ("workloads", 0, "arrivals", "rate")
    assert rates.values == ("30/s", "45/s", 50)


def test_workload_rate_is_the_first_workloads_arrival_rate() -> None:
    alias = parse_param("workload.rate=30/s,40/s", SMALL)
    assert alias.name == "workload.rate"
    assert alias.path == ("workloads", 0, "arrivals", "rate")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("services.apj.replicas=1..2", "no field 'apj' under services; known: api"),
        ("services.api.replica=1..2", "no field 'replica' under services.api"),
        ("workloads.3.arrivals.rate=1/s", "workloads is a list of 1; index it with 0..0"),
        ("duration.seconds=1", "duration is a value"),
        ("services.api.replicas=0..2", "the value 0 is refused: services.api.replicas: must be at least 1"),
        ("workload.rate=fast", "the value 'fast' is refused"),
        ("services.api.replicas=3..1", "is empty"),
        ("services.api.replicas=1..x", "a range is two integers"),
        ("services.api.replicas=1,,2", "empty value"),
        ("services.api.replicas=1,1", "repeated"),
        ("services.api.replicas", "write PATH=VALUES"),
        ("variants.slow=1", "cannot be swept"),
    ],
)
def test_a_bad_param_is_a_scenario_error_naming_it(text: str, says: str) -> None:
    with pytest.raises(ScenarioError) as raised:
        parse_param(text, SMALL)
    message = raised.value.render()
    assert f"--param {text}" in message
    assert says in message


# --- the grid and its tasks ----------------------------------------------------------------------


def test_the_grid_is_params_times_variants_times_replications() -> None:
    tasks = plan_sweep(SMALL, ["services.api.replicas=2..4", "workload.rate=40/s,60/s"], replications=3)
    assert len(tasks) == 3 * 2 * 2 * 3
    assert [t.index for t in tasks] == list(range(len(tasks)))
    first = tasks[0]
    assert first.values == (("services.api.replicas", 2), ("workload.rate", "40/s"))
    assert (first.variant, first.replication, first.seed) == ("base", 0, 11)
    assert {t.variant for t in tasks} == {"base", "slow"}
    assert len({t.key for t in tasks}) == len(tasks)
    only = plan_sweep(SMALL, ["services.api.replicas=2..3"], variants=["slow"], seed=5)
    assert {(t.variant, t.seed) for t in only} == {("slow", 5)}
    assert len(only) == 2 * SMALL.replications


def test_an_unknown_variant_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="no variant 'fast'; known: base, slow"):
        plan_sweep(SMALL, ["services.api.replicas=2..3"], variants=["fast"])


def test_a_task_is_self_contained_and_equals_a_direct_run() -> None:
    """A task survives pickling (as executors send it) and gives exactly the metrics of running its
    scenario directly with the same seed and replication index."""
    task = plan_sweep(SMALL, ["services.api.replicas=3"], variants=["slow"])[1]
    shipped = pickle.loads(pickle.dumps(task))
    direct = scenario_from_dict(
        merge_overrides(DATA, {"services": {"api": {"replicas": 3, "service_time": {"mean": "30ms"}}}})
    )
    expected = run_experiment(direct, replications=2).per_replication.iloc[1].to_dict()
    assert run_task(shipped) == pytest.approx(expected, rel=0, abs=0, nan_ok=True)


def test_params_override_what_a_variant_sets() -> None:
    """The variant sets the service time; a param on the same field is swept in the variant too."""
    tasks = plan_sweep(SMALL, ["services.api.service_time.mean=20ms"], replications=1)
    base, slow = (t.scenario() for t in tasks)
    assert base.services["api"].service_time.mean == slow.services["api"].service_time.mean == 0.02


# --- results -------------------------------------------------------------------------------------


def test_results_are_tidy_and_the_summary_averages_them() -> None:
    sweep = run_sweep(plan_sweep(SMALL, ["services.api.replicas=2..3"], replications=3))
    results = sweep.results
    assert list(results.columns[:4]) == ["services.api.replicas", "variant", "replication", "seed"]
    assert {"throughput", "error_rate", "latency_p99", "api.utilization"} <= set(results.columns)
    assert len(results) == 2 * 2 * 3
    summary = sweep.summary
    assert list(summary.columns) == ["services.api.replicas", "variant", "metric", "mean", "low", "high", "n"]
    rows = results[(results["services.api.replicas"] == 3) & (results["variant"] == "slow")]
    row = summary[
        (summary["services.api.replicas"] == 3)
        & (summary["variant"] == "slow")
        & (summary["metric"] == "latency_p99")
    ].iloc[0]
    assert row["mean"] == pytest.approx(rows["latency_p99"].mean())
    assert row["n"] == 3
    assert row["low"] < row["mean"] < row["high"]


def test_points_share_their_random_numbers() -> None:
    """Common random numbers: replicas do not change arrivals, so every point of replication i saw
    the same requests; and more replicas (same service demands) can only cut the mean sojourn."""
    results = run_sweep(plan_sweep(SMALL, ["services.api.replicas=2..4"], variants=["base"])).results
    counts = results.pivot(index="replication", columns="services.api.replicas", values="requests")
    assert (counts.nunique(axis=1) == 1).all()
    sojourn = results.pivot(index="replication", columns="services.api.replicas", values="api.sojourn")
    assert (sojourn.diff(axis=1).iloc[:, 1:] <= 1e-12).all().all()


# --- journal and resume --------------------------------------------------------------------------


class Interrupting:
    """Runs tasks here, then raises KeyboardInterrupt (as Ctrl-C would) after ``after`` of them."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.ran: list[int] = []

    def map(
        self, fn: Callable[[Any], Any], tasks: Sequence[Any], on_result: Callable[[Any, Any], None]
    ) -> None:
        for task in tasks:
            if len(self.ran) == self.after:
                raise KeyboardInterrupt
            self.ran.append(task.index)
            on_result(task, fn(task))


def test_a_resumed_sweep_runs_only_the_missing_points_and_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    tasks = plan_sweep(SMALL, ["services.api.replicas=2..3", "workload.rate=40/s,60/s"], replications=1)
    journal = tmp_path / "sweep.csv"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(tasks, Interrupting(after=3), journal=journal)
    kept = pd.read_csv(journal)
    assert len(kept) == 3  # every finished task was written before the interruption

    second = Interrupting(after=len(tasks))
    resumed = run_sweep(tasks, second, journal=journal, resume=True)
    assert second.ran == [t.index for t in tasks[3:]]
    assert resumed.ran == len(tasks) - 3

    fresh = run_sweep(tasks)
    pdt.assert_frame_equal(resumed.results, fresh.results)
    pdt.assert_frame_equal(resumed.summary, fresh.summary)
    assert len(pd.read_csv(journal)) == len(tasks)


def test_without_resume_the_journal_starts_afresh(tmp_path: Path) -> None:
    journal = tmp_path / "sweep.csv"
    tasks = plan_sweep(SMALL, ["services.api.replicas=2"], variants=["base"], replications=1)
    run_sweep(tasks, journal=journal)
    run_sweep(tasks, journal=journal)
    assert len(pd.read_csv(journal)) == 1


def test_resuming_from_another_sweeps_file_is_refused(tmp_path: Path) -> None:
    journal = tmp_path / "sweep.csv"
    run_sweep(plan_sweep(SMALL, ["services.api.replicas=2"], replications=1), journal=journal)
    with pytest.raises(ScenarioError, match="columns of another sweep"):
        run_sweep(plan_sweep(SMALL, ["workload.rate=40/s"], replications=1), journal=journal, resume=True)


def test_progress_counts_tasks_including_resumed_ones(tmp_path: Path) -> None:
    tasks = plan_sweep(SMALL, ["services.api.replicas=2..3"], variants=["base"], replications=1)
    journal = tmp_path / "sweep.csv"
    run_sweep(tasks[:1], journal=journal)
    seen: list[tuple[int, int]] = []
    run_sweep(tasks, progress=lambda done, total: seen.append((done, total)), journal=journal, resume=True)
    assert seen == [(1, 2), (2, 2)]
