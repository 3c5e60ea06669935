"""The notebook API: ``simulator.run`` and ``simulator.compare`` give real numbers, tidy frames,
plots on Axes (never shown) and the report folder."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path
from typing import Any
from unittest.mock import patch

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.axes import Axes

import simulator
from simulator import CompareResults, RunResults, ScenarioError, scenario_from_dict
from simulator.comparison import UnknownVariantError
from tests.simulator.bundled import bundled

LOADED: dict[str, Any] = {
    "name": "loaded",
    "duration": "20s",
    "warmup": "2s",
    "seed": 5,
    "replications": 5,
    "services": {
        "server": {
            "replicas": 1,
            "service_time": {"dist": "exponential", "mean": "10ms"},
            "price_per_replica_hour": 1.0,
        }
    },
    "routes": {"main": [{"call": "server"}]},
    "workloads": [{"route": "main", "arrivals": {"process": "poisson", "rate": "90/s"}}],
    "variants": {
        "same": {"services": {"server": {"replicas": 1}}},
        "doubled": {"services": {"server": {"replicas": 2}}},
    },
}


@pytest.fixture(scope="module")
def compared() -> CompareResults:
    return simulator.compare(scenario_from_dict(LOADED))


def test_run_on_mm1_matches_the_theory() -> None:
    """M/M/1 at rho = 0.5 with 10 ms service: mean response time W = 10 ms / (1 - 0.5) = 20 ms, and
    utilization 0.5; the 95% intervals of five 100-second replications must cover both."""
    results = simulator.run(bundled("mm1", duration="100s"), replications=5, variants=["rho-0.5"])
    assert isinstance(results, RunResults)
    assert results.names == ["rho-0.5"]
    frame = results.to_frame()
    assert list(frame.columns) == ["variant", "metric", "mean", "low", "high", "n"]
    rows = frame.set_index("metric")
    latency = rows.loc["latency_mean"]
    assert latency["low"] <= 0.020 <= latency["high"]
    assert latency["high"] - latency["low"] < 0.004  # and the interval is informative: within ±10%
    utilization = rows.loc["server.utilization"]
    assert utilization["low"] <= 0.5 <= utilization["high"]
    assert (rows["n"] == 5).all()
    per_replication = results.per_replication()
    assert list(per_replication["replication"]) == [0, 1, 2, 3, 4]
    assert per_replication["latency_mean"].mean() == pytest.approx(latency["mean"])


def test_run_from_a_path_resolves_its_variants(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: tiny
            duration: 5s
            replications: 2
            services:
              server: {service_time: {dist: exponential, mean: 10ms}}
            routes:
              main: [{call: server}]
            workloads:
              - {route: main, arrivals: {process: poisson, rate: 20/s}}
            variants:
              busy: {workloads: {0: {arrivals: {rate: 40/s}}}}
            """
        ),
        encoding="utf-8",
    )
    results = simulator.run(str(path), seed=3)
    assert results.names == ["base", "busy"]
    assert set(results.requests["variant"]) == {"base", "busy"}
    throughput = results.to_frame().set_index(["variant", "metric"])["mean"]
    assert throughput[("busy", "throughput")] > throughput[("base", "throughput")]


def test_compare_of_a_variant_that_changes_nothing_differs_by_exactly_zero(compared: CompareResults) -> None:
    """Common random numbers: the same system on the same numbers gives the same records, so every
    paired difference is 0 with a zero-width interval, and none is significant."""
    same = compared.differences().query("variant == 'same'")
    assert set(same["metric"]) == {"latency_mean", "latency_p99", "error_rate", "throughput", "cost"}
    assert (same[["difference", "low", "high"]] == 0).all().all()
    assert not same["significant"].any()


def test_compare_finds_doubled_replicas_cut_p99_and_cost_more(compared: CompareResults) -> None:
    """Two replicas at rho 0.45 each instead of one at 0.9: p99 falls significantly (M/M/1 p99 is
    ln(100) x S / (1 - rho): 461 ms against ~84 ms), and the replicas cost exactly twice as much
    (1 price unit per replica-hour over the same 18-second window: 0.005 more per replication)."""
    table = compared.differences().set_index(["variant", "metric"])
    p99 = table.loc[("doubled", "latency_p99")]
    assert p99["significant"]
    assert p99["high"] < 0
    assert p99["relative"] < -0.5
    cost = table.loc[("doubled", "cost")]
    assert cost["difference"] == pytest.approx(18 / 3600, rel=1e-6)
    assert cost["relative"] == pytest.approx(1.0, rel=1e-6)
    assert compared.baseline == "base"


def test_compare_against_another_baseline() -> None:
    results = simulator.compare(
        scenario_from_dict(LOADED), baseline="doubled", variants=["base"], replications=3
    )
    assert results.names == ["doubled", "base"]  # the baseline runs even when not named
    p99 = results.differences(["latency_p99"]).iloc[0]
    assert p99["variant"] == "base"
    assert p99["significant"]
    assert p99["low"] > 0


def test_unknown_names_raise() -> None:
    with pytest.raises(UnknownVariantError, match="no variant 'triple'; known: base, same, doubled"):
        simulator.run(scenario_from_dict(LOADED), variants=["triple"])
    with pytest.raises(UnknownVariantError, match="no variant 'triple' to compare with"):
        simulator.compare(scenario_from_dict(LOADED), baseline="triple")


def test_a_bad_scenario_file_raises_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nduration: 10 parsecs\n", encoding="utf-8")
    with pytest.raises(ScenarioError):
        simulator.run(path)


@pytest.mark.parametrize(
    "plot",
    ["latency_cdf", "latency_over_time", "throughput", "utilization", "replicas", "cost"],
)
def test_plots_return_axes_and_never_show(compared: CompareResults, plot: str) -> None:
    with patch.object(plt, "show", side_effect=AssertionError("plt.show called")):
        ax = getattr(compared, f"plot_{plot}")()
    assert isinstance(ax, Axes)
    assert ax.get_lines() or ax.patches
    labels = {line.get_label() for line in ax.get_lines()}
    assert labels & {"base", "same", "doubled"} or ax.get_legend() is not None
    given = plt.figure().subplots()
    assert getattr(compared, f"plot_{plot}")(ax=given) is given
    plt.close("all")


@pytest.mark.slow
def test_report_writes_the_folder_and_compare_csv(compared: CompareResults, tmp_path: Path) -> None:
    written = compared.report(tmp_path / "cmp")
    assert tmp_path / "cmp" / "compare.csv" in written
    assert (tmp_path / "cmp" / "report.md").exists()
    with (tmp_path / "cmp" / "compare.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = compared.differences()
    assert [(r["variant"], r["metric"]) for r in rows] == list(
        zip(expected["variant"], expected["metric"], strict=True)
    )
    assert [r["significant"] == "True" for r in rows] == list(expected["significant"])
    plain = RunResults(compared.comparison).report(tmp_path / "run")
    assert not (tmp_path / "run" / "compare.csv").exists()
    assert {p.name for p in plain} == {p.name for p in written} - {"compare.csv"}


def test_to_frame_is_tidy(compared: CompareResults) -> None:
    frame = compared.to_frame()
    assert not frame.duplicated(["variant", "metric"]).any()
    assert set(frame["variant"]) == {"base", "same", "doubled"}
    assert isinstance(frame, pd.DataFrame)


@pytest.mark.parametrize(
    ("plot", "what"),
    [
        ("backlog", "queues or consumer groups"),
        ("message_lag", "queues or consumer groups"),
        ("tries", "call edges with resilience policies"),
        ("breakers", "call edges with resilience policies"),
        ("database_waits", "database operations"),
        ("versions", "deployed versions"),
    ],
)
def test_plots_of_a_feature_the_run_lacks_say_so(compared: CompareResults, plot: str, what: str) -> None:
    with pytest.raises(ValueError, match=f"nothing to plot: this run has no {what}"):
        getattr(compared, f"plot_{plot}")()


def test_feature_plots_draw_when_the_feature_is_there() -> None:
    """The bundled resilience scenario has guarded edges: tries and breakers plot a line each."""
    results = simulator.run(bundled("resilience", duration="10s"), replications=1, variants=["base"])
    assert results.plot_tries().get_lines()
    assert results.plot_breakers().get_lines()
    plt.close("all")


def test_sweep_over_replicas_finds_the_smallest_that_meets_the_slo() -> None:
    """90 calls/s of 10 ms: one replica is an M/M/1 at rho 0.9 (mean 100 ms); two replicas, each with
    its own queue, are about M/M/1 at 0.45 (18 ms), so a mean under 50 ms needs two."""
    scenario = scenario_from_dict(
        {
            "name": "sized",
            "duration": "60s",
            "warmup": "5s",
            "seed": 3,
            "replications": 3,
            "services": {"server": {"service_time": {"dist": "exponential", "mean": "10ms"}}},
            "routes": {"main": [{"call": "server"}]},
            "workloads": [{"route": "main", "arrivals": {"process": "poisson", "rate": "90/s"}}],
        }
    )
    result = simulator.sweep(scenario, ["services.server.replicas=1..3"])
    frame = result.to_frame()
    means = frame[frame["metric"] == "latency_mean"].set_index("services.server.replicas")["mean"]
    assert list(means.index) == [1, 2, 3]
    assert means[1] > means[2] > means[3]  # more replicas, less waiting (same random numbers)
    assert len(result.results) == 3 * 3  # points x replications
    best = result.smallest_meeting("mean<50ms")
    assert list(best["services.server.replicas"]) == [2]
    ax = result.plot_surface("latency_mean")
    assert len(ax.get_lines()) >= 1
    plt.close(ax.figure)
