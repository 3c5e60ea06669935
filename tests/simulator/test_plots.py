"""Plots draw what their frames hold, on the Axes they are given, labelled, without showing anything."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulator import scenario_from_dict
from simulator.experiment import Experiment, run_experiment
from simulator.plots import (
    plot_latency_cdf,
    plot_latency_percentiles,
    plot_replicas,
    plot_throughput,
    plot_utilization,
)


@pytest.fixture(scope="module")
def experiment() -> Experiment:
    scenario = scenario_from_dict(
        {
            "name": "plots",
            "duration": "30s",
            "sample_interval": "5s",
            "replications": 2,
            "services": {
                "front": {"service_time": {"dist": "exponential", "mean": "2ms"}},
                "back": {"concurrency": 2, "service_time": {"dist": "exponential", "mean": "5ms"}},
            },
            "routes": {"read": [{"call": "front", "calls": [{"call": "back"}]}], "ping": [{"call": "front"}]},
            "workloads": [
                {"route": "read", "arrivals": {"process": "poisson", "rate": "40/s"}},
                {"route": "ping", "arrivals": {"process": "poisson", "rate": "20/s"}},
            ],
        }
    )
    return run_experiment(scenario)


def fresh_axes() -> Axes:
    return Figure().subplots()


def test_latency_cdf_has_one_rising_line_per_workload(experiment: Experiment) -> None:
    ax = plot_latency_cdf(experiment.requests, fresh_axes())
    assert [line.get_label() for line in ax.get_lines()] == ["read", "ping"]
    for line in ax.get_lines():
        y = line.get_ydata()
        assert np.all(np.diff(y) > 0)
        assert y[-1] == pytest.approx(1.0)
    assert "ms" in ax.get_xlabel()
    assert ax.get_xscale() == "log"


def test_series_plots_draw_one_point_per_bin(experiment: Experiment) -> None:
    series = experiment.timeseries
    bins = series["time"].nunique()
    for plot, labels in (
        (plot_latency_percentiles, ["p50", "p90", "p99"]),
        (plot_throughput, ["arrivals", "successful", "errors"]),
        (plot_utilization, ["back", "front"]),
    ):
        ax = plot(series, fresh_axes())
        assert [line.get_label() for line in ax.get_lines()] == labels
        assert all(len(line.get_xdata()) == bins for line in ax.get_lines())
        assert ax.get_xlabel() == "simulated time (s)"
        assert ax.get_ylabel()


def test_utilization_is_averaged_over_replications(experiment: Experiment) -> None:
    ax = plot_utilization(experiment.timeseries, fresh_axes())
    back = next(line for line in ax.get_lines() if line.get_label() == "back")
    expected = experiment.timeseries.query("scope == 'back'").groupby("time")["utilization"].mean().to_numpy()
    np.testing.assert_allclose(back.get_ydata(), expected)


def test_without_axes_a_new_figure_is_made() -> None:
    frame = scenario_from_dict(
        {
            "name": "one",
            "duration": "5s",
            "services": {"s": {"service_time": {"dist": "deterministic", "value": "1ms"}}},
            "routes": {"r": [{"call": "s"}]},
            "workloads": [{"route": "r", "arrivals": {"process": "constant", "rate": "10/s"}}],
        }
    )
    ax = plot_latency_cdf(run_experiment(frame).requests)
    assert ax.figure is not None
    plt.close(ax.figure)


def test_total_replicas_add_up_the_services_per_variant(experiment: Experiment) -> None:
    series = experiment.timeseries
    compared = pd.concat(
        [series.assign(variant="one"), series.assign(variant="two", replicas=series["replicas"] * 2)]
    )
    figure = Figure()
    ax = plot_replicas(compared, ["front", "back"], figure.subplots(), total=True)
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    assert set(lines) == {"one", "two"}
    assert np.allclose(lines["one"], 2)  # one replica of each service
    assert np.allclose(lines["two"], 4)
