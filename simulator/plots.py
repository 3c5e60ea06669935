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


def _over_time(ax: Axes, lines: list[tuple[pd.Series, pd.Series, str]], ylabel: str, title: str) -> Axes:
    """Draw ``(time, value, label)`` lines against simulated time, labelled and with a legend."""
    for time, value, label in lines:
        ax.plot(time, value, label=label)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_latency_percentiles(series: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """End-to-end latency p50/p90/p99 per time bin (requests that finished in the bin)."""
    rows = _by_time(series, REQUEST_SCOPE)
    lines = [(rows["time"], rows[f"latency_{q}"] * 1e3, q) for q in ("p50", "p90", "p99")]
    return _over_time(axes_or_new(ax), lines, "latency (ms)", "Latency percentiles over time")


def plot_throughput(series: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Request arrivals, successful throughput and errors per second over time."""
    rows = _by_time(series, REQUEST_SCOPE)
    lines = [
        (rows["time"], rows[column], label)
        for column, label in (
            ("arrivals_per_s", "arrivals"),
            ("throughput_per_s", "successful"),
            ("errors_per_s", "errors"),
        )
    ]
    return _over_time(axes_or_new(ax), lines, "requests per second", "Throughput over time")


def plot_utilization(series: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Fraction of each service's slots in use, over time."""
    rows = _by_time(series[series["scope"] != REQUEST_SCOPE])
    lines = [(group["time"], group["utilization"], str(name)) for name, group in rows.groupby("scope")]
    ax = _over_time(axes_or_new(ax), lines, "utilization (busy slots / slots)", "Utilization over time")
    ax.set_ylim(0, 1.05)
    return ax
