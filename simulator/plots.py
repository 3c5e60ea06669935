"""Plots of a run's tables. Each takes a DataFrame (and an optional Axes), draws, and returns the Axes.

Frames with a ``replication`` column are averaged across replications bin by bin. No function here
calls ``plt.show()``: notebooks display the returned figure, the report saves it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simulator.figures import axes_or_new
from simulator.timeseries import REQUEST_SCOPE

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_latency_cdf", "plot_latency_percentiles", "plot_throughput", "plot_utilization"]


def _by_time(frame: pd.DataFrame, scope: str | None = None) -> pd.DataFrame:
    rows = frame if scope is None else frame[frame["scope"] == scope]
    return rows.groupby(["time", "scope"]).mean(numeric_only=True).reset_index()


def plot_latency_cdf(requests: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Empirical CDF of successful requests' latency, one line per workload, log-scaled milliseconds."""
    ax = axes_or_new(ax)
    ok = requests[requests["status"] == "ok"]
    for name, group in ok.groupby("workload", observed=True):
        latency_ms = np.sort(group["latency"].to_numpy()) * 1e3
        ax.plot(latency_ms, np.arange(1, len(latency_ms) + 1) / len(latency_ms), label=str(name))
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of requests ≤ latency")
    ax.set_title("Latency CDF")
    ax.grid(True, which="both", alpha=0.3)
    if ok["workload"].nunique() > 1:
        ax.legend(title="workload")
    return ax


def plot_latency_percentiles(series: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """End-to-end latency p50/p90/p99 per time bin (requests that finished in the bin)."""
    ax = axes_or_new(ax)
    rows = _by_time(series, REQUEST_SCOPE)
    for column, label in (("latency_p50", "p50"), ("latency_p90", "p90"), ("latency_p99", "p99")):
        ax.plot(rows["time"], rows[column] * 1e3, label=label)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("Latency percentiles over time")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


def plot_throughput(series: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Request arrivals, successful throughput and errors per second over time."""
    ax = axes_or_new(ax)
    rows = _by_time(series, REQUEST_SCOPE)
    ax.plot(rows["time"], rows["arrivals_per_s"], label="arrivals", alpha=0.6)
    ax.plot(rows["time"], rows["throughput_per_s"], label="successful")
    ax.plot(rows["time"], rows["errors_per_s"], label="errors")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("requests per second")
    ax.set_title("Throughput over time")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


def plot_utilization(series: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Fraction of each service's slots in use, over time."""
    ax = axes_or_new(ax)
    rows = _by_time(series[series["scope"] != REQUEST_SCOPE])
    for name, group in rows.groupby("scope"):
        ax.plot(group["time"], group["utilization"], label=str(name))
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("utilization (busy slots / slots)")
    ax.set_ylim(0, 1.05)
    ax.set_title("Utilization over time")
    ax.grid(True, alpha=0.3)
    ax.legend(title="service", fontsize=8)
    return ax
