"""Plots of a run's tables. Each takes a DataFrame (and an optional Axes), draws, and returns the Axes.

Frames with a ``replication`` column are averaged across replications bin by bin. Frames with a
``variant`` column holding several variants are drawn as a comparison: one line (or bar) per
variant. No function here calls ``plt.show()``: notebooks display the returned figure, the report
saves it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simulator.figures import axes_or_new
from simulator.records import ANSWERED
from simulator.releases import VERSION_SEPARATOR
from simulator.timeseries import DATABASE_PREFIX, REQUEST_SCOPE

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "is_channel",
    "is_edge",
    "is_version",
    "plot_backlog",
    "plot_breaker_open",
    "plot_cost",
    "plot_database_waits",
    "plot_edge_tries",
    "plot_latency_cdf",
    "plot_latency_percentiles",
    "plot_message_lag",
    "plot_replicas",
    "plot_response_surface",
    "plot_throughput",
    "plot_traffic_share",
    "plot_utilization",
    "plot_versions",
    "shade_windows",
]


def is_version(scopes: pd.Series) -> pd.Series:
    """Which time-series rows belong to a version of a service (scope ``service@version``)."""
    return scopes.astype(str).str.contains(VERSION_SEPARATOR, regex=False)


def is_edge(scopes: pd.Series) -> pd.Series:
    """Which time-series rows belong to a call edge (scope ``caller->callee``)."""
    return scopes.astype(str).str.contains("->", regex=False)


def is_channel(series: pd.DataFrame) -> pd.Series:
    """Which time-series rows belong to a message channel (a queue or ``topic:group``: with a backlog)."""
    if "backlog" not in series:
        return pd.Series(False, index=series.index)
    return series["backlog"].notna()


def variants_in(frame: pd.DataFrame) -> list[str]:
    """The variants a frame compares, in order of appearance; empty when it holds only one."""
    if "variant" not in frame:
        return []
    names = list(dict.fromkeys(frame["variant"]))
    return names if len(names) > 1 else []


def _by_time(frame: pd.DataFrame, scope: str | None = None) -> pd.DataFrame:
    rows = frame if scope is None else frame[frame["scope"] == scope]
    keys = ["variant", "time", "scope"] if "variant" in rows else ["time", "scope"]
    return rows.groupby(keys, sort=False).mean(numeric_only=True).reset_index()


def plot_latency_cdf(requests: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Empirical CDF of answered requests' latency (ok or fallback), log-scaled milliseconds.

    One line per variant when the frame compares variants, otherwise one per workload.
    """
    ax = axes_or_new(ax)
    ok = requests[requests["status"].isin(ANSWERED)]
    by = "variant" if variants_in(requests) else "workload"
    groups = ok.groupby(by, observed=True, sort=by == "workload")  # workloads in scenario order
    for name, group in groups:
        latency_ms = np.sort(group["latency"].to_numpy()) * 1e3
        ax.plot(latency_ms, np.arange(1, len(latency_ms) + 1) / len(latency_ms), label=str(name))
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of requests ≤ latency")
    ax.set_title("Latency CDF")
    ax.grid(True, which="both", alpha=0.3)
    if groups.ngroups > 1:
        ax.legend(title=by)
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


def _per_variant(
    rows: pd.DataFrame, column: str, scale: float = 1.0
) -> list[tuple[pd.Series, pd.Series, str]]:
    return [
        (group["time"], group[column] * scale, str(name))
        for name, group in rows.groupby("variant", sort=False)
    ]


def plot_latency_percentiles(series: pd.DataFrame, ax: Axes | None = None, log: bool = False) -> Axes:
    """End-to-end latency per time bin (requests that finished in it): p50/p90/p99, or p99 per variant;
    ``log`` puts the latency on a log scale (for variants orders of magnitude apart)."""
    rows = _by_time(series, REQUEST_SCOPE)
    unit = "ms, log scale" if log else "ms"
    if variants_in(series):
        lines = _per_variant(rows, "latency_p99", 1e3)
        ax = _over_time(axes_or_new(ax), lines, f"p99 latency ({unit})", "p99 latency over time")
    else:
        lines = [(rows["time"], rows[f"latency_{q}"] * 1e3, q) for q in ("p50", "p90", "p99")]
        ax = _over_time(axes_or_new(ax), lines, f"latency ({unit})", "Latency percentiles over time")
    if log:
        ax.set_yscale("log")
    return ax


def plot_throughput(series: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Arrivals, successful throughput and errors per second; successful throughput per variant."""
    rows = _by_time(series, REQUEST_SCOPE)
    if variants_in(series):
        lines = _per_variant(rows, "throughput_per_s")
        return _over_time(axes_or_new(ax), lines, "successful requests per second", "Throughput over time")
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
    """Fraction of each service's slots in use: over time, or as mean bars per variant when comparing."""
    scopes = series["scope"].astype(str)
    services = series[
        (scopes != REQUEST_SCOPE)
        & ~is_edge(scopes)
        & ~is_channel(series)
        & ~scopes.str.startswith(DATABASE_PREFIX)
        & ~is_version(scopes)
    ]
    variants = variants_in(series)
    if not variants:
        rows = _by_time(services)
        lines = [(group["time"], group["utilization"], str(name)) for name, group in rows.groupby("scope")]
        ax = _over_time(axes_or_new(ax), lines, "utilization (busy slots / slots)", "Utilization over time")
        ax.set_ylim(0, 1.05)
        return ax
    ax = axes_or_new(ax)
    means = services.groupby(["scope", "variant"], sort=False)["utilization"].mean().unstack("variant")
    names = list(means.index)
    width = 0.8 / len(variants)
    for offset, variant in enumerate(variants):
        ax.bar(np.arange(len(names)) + offset * width, means[variant], width, label=variant)
    ax.set_xticks(np.arange(len(names)) + width * (len(variants) - 1) / 2, names)
    ax.set_ylabel("mean utilization (busy slots / slots)")
    ax.set_ylim(0, 1.05)
    ax.set_title("Utilization by service and variant")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(title="variant", fontsize=8)
    return ax


def _edge_lines(
    series: pd.DataFrame, column: str, scale: float = 1.0
) -> list[tuple[pd.Series, pd.Series, str]]:
    """One line per edge for a single variant; per variant (summed over edges) when comparing."""
    rows = _by_time(series[is_edge(series["scope"])])
    if not variants_in(series):
        return [(g["time"], g[column] * scale, str(name)) for name, g in rows.groupby("scope", sort=False)]
    total = rows.groupby(["variant", "time"], sort=False)[column].sum().reset_index()
    return _per_variant(total, column, scale)


def plot_edge_tries(series: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Tries sent per second on the guarded call edges: the work that retries and hedges add.

    Per edge for one variant; summed over the edges, one line per variant, when comparing.
    """
    title = "Tries sent on call edges (retries and hedges included)"
    return _over_time(axes_or_new(ax), _edge_lines(series, "tries_per_s"), "tries per second", title)


def plot_breaker_open(series: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Fraction of each time bin the circuit breakers spent open (per edge, or summed per variant)."""
    lines = _edge_lines(series, "breaker_open")
    ax = _over_time(axes_or_new(ax), lines, "time open (fraction of the bin)", "Circuit breakers open")
    ax.set_ylim(bottom=0)
    return ax


def _channel_lines(
    series: pd.DataFrame, column: str, scale: float = 1.0
) -> list[tuple[pd.Series, pd.Series, str]]:
    """One line per channel for a single variant; one per variant and channel when comparing."""
    rows = _by_time(series[is_channel(series)])
    if not variants_in(series):
        return [(g["time"], g[column] * scale, str(name)) for name, g in rows.groupby("scope", sort=False)]
    return [
        (g["time"], g[column] * scale, f"{variant}: {scope}" if rows["scope"].nunique() > 1 else str(variant))
        for (variant, scope), g in rows.groupby(["variant", "scope"], sort=False)
    ]


def plot_backlog(series: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Messages waiting in each queue or consumer group (ready plus unacknowledged) over time."""
    ax = _over_time(
        axes_or_new(ax),
        _channel_lines(series, "backlog"),
        "backlog (messages, mean per bin)",
        "Backlog of queues and consumer groups",
    )
    ax.set_ylim(bottom=0)
    return ax


def _service_rows(series: pd.DataFrame, services: list[str] | None) -> pd.DataFrame:
    rows = series[
        (series["scope"] != REQUEST_SCOPE) & ~is_edge(series["scope"]) & ~is_version(series["scope"])
    ]
    return rows if services is None else rows[rows["scope"].isin(services)]


def plot_replicas(
    series: pd.DataFrame, services: list[str] | None = None, ax: Axes | None = None, total: bool = False
) -> Axes:
    """Mean replicas getting traffic per time bin, for ``services`` (default all): one line per
    service, or per variant and service when comparing (just per variant for a single service).
    With ``total``, one line per variant: the replicas of all those services together (what a fleet
    of fixed services costs in machines, side by side)."""
    rows = _by_time(_service_rows(series, services))
    if total:
        keys = ["variant", "time"] if variants_in(series) else ["time"]
        summed = rows.groupby(keys, sort=False)["replicas"].sum().reset_index()
        lines = (
            _per_variant(summed, "replicas")
            if variants_in(series)
            else [(summed["time"], summed["replicas"], "all services")]
        )
        ax = _over_time(axes_or_new(ax), lines, "replicas of all services", "Replicas over time")
        ax.set_ylim(bottom=0)
        return ax
    scopes = list(dict.fromkeys(rows["scope"]))
    lines = []
    keys = ["variant", "scope"] if variants_in(series) else ["scope"]
    for key, group in rows.groupby(keys, sort=False):
        parts = key if isinstance(key, tuple) else (key,)
        label = str(parts[0]) if len(scopes) == 1 else ": ".join(str(p) for p in parts)
        lines.append((group["time"], group["replicas"], label))
    ax = _over_time(axes_or_new(ax), lines, "replicas getting traffic (mean per bin)", "Replicas over time")
    ax.set_ylim(bottom=0)
    return ax


def _version_lines(series: pd.DataFrame, column: str, keep: Callable[[str], bool]) -> list:
    rows = _by_time(series[is_version(series["scope"])])
    keys = ["variant", "scope"] if variants_in(series) else ["scope"]
    lines = []
    for key, group in rows.groupby(keys, sort=False):
        parts = key if isinstance(key, tuple) else (key,)
        if keep(str(parts[-1])):
            lines.append((group["time"], group[column], ": ".join(str(p) for p in parts)))
    return lines


def plot_versions(series: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Mean replicas of each version getting traffic, per time bin: a line per ``service@version``
    (per variant and version when comparing)."""
    lines = _version_lines(series, "replicas", lambda scope: True)
    ax = _over_time(axes_or_new(ax), lines, "replicas getting traffic (mean per bin)", "Replicas by version")
    ax.set_ylim(bottom=0)
    return ax


def plot_traffic_share(series: pd.DataFrame, versions: list[str], ax: Axes | None = None) -> Axes:
    """Share of a service's calls that went to ``versions`` (``service@version`` scopes: the new
    ones), per time bin: a line per version, or per variant when comparing."""
    lines = _version_lines(series, "traffic_share", lambda scope: scope in versions)
    ax = _over_time(axes_or_new(ax), lines, "share of the service's calls", "Traffic to the new version")
    ax.set_ylim(-0.02, 1.02)
    return ax


def plot_message_lag(series: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """p99 of the time from publication to acknowledgement, of the messages acked in each bin."""
    ax = _over_time(
        axes_or_new(ax),
        _channel_lines(series, "lag_p99", 1e3),
        "publish-to-ack lag p99 (ms)",
        "Message lag (publication to acknowledgement)",
    )
    ax.set_ylim(bottom=0)
    return ax


def plot_database_waits(series: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Mean time database operations waited for a connection and for a row lock, per time bin.

    One variant: a line per database and kind of wait. Comparing variants: a line per variant, the
    total wait (connection plus lock) averaged over its databases' operations.
    """
    rows = series[series["scope"].astype(str).str.startswith(DATABASE_PREFIX)]
    rows = rows.assign(lock_wait=rows["lock_wait"].fillna(0.0), pool_wait=rows["pool_wait"].fillna(0.0))
    title, ylabel = "Waiting at the databases", "mean wait per operation (ms)"
    if not variants_in(series):
        rows = _by_time(rows)
        lines = [
            (group["time"], group[column] * 1e3, f"{str(name).removeprefix(DATABASE_PREFIX)}: {label}")
            for name, group in rows.groupby("scope", sort=False)
            for column, label in (("pool_wait", "connection"), ("lock_wait", "row lock"))
        ]
        return _over_time(axes_or_new(ax), lines, ylabel, title)
    rows = _by_time(rows)
    rows = rows.assign(weighted=(rows["pool_wait"] + rows["lock_wait"]) * rows["ops_per_s"])
    total = rows.groupby(["variant", "time"], sort=False)[["weighted", "ops_per_s"]].sum().reset_index()
    total["wait"] = total["weighted"] / total["ops_per_s"].where(total["ops_per_s"] > 0)
    lines = _per_variant(total, "wait", 1e3)
    return _over_time(axes_or_new(ax), lines, "mean connection + lock wait per operation (ms)", title)


def plot_cost(series: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Cumulative cost of the replicas (all services), one line per variant when comparing."""
    rows = _by_time(_service_rows(series, None))
    keys = ["variant", "time"] if variants_in(series) else ["time"]
    total = rows.groupby(keys, sort=False)["cost"].sum().reset_index()
    if variants_in(series):
        lines = [
            (g["time"] + _bin_width(g["time"]), g["cost"].cumsum(), str(name))
            for name, g in total.groupby("variant", sort=False)
        ]
    else:
        lines = [(total["time"] + _bin_width(total["time"]), total["cost"].cumsum(), "cost")]
    ax = _over_time(axes_or_new(ax), lines, "cumulative cost (price units)", "Cost of the replicas")
    ax.set_ylim(bottom=0)
    return ax


def _bin_width(times: pd.Series) -> float:
    """Width of the bins (cumulative cost is plotted at each bin's end)."""
    return float(np.diff(times.to_numpy())[0]) if len(times) > 1 else 0.0


def shade_windows(ax: Axes, windows: list[tuple[float, float, str]]) -> Axes:
    """Shade the time ``windows`` (``start, end, label``: faults, from :func:`simulator.faults.fault_windows`)
    on an over-time plot, labelled in its legend."""
    for start, end, label in windows:
        ax.axvspan(start, end, color="grey", alpha=0.15, linewidth=0, label=label)
    if windows:
        ax.legend(fontsize=8)
    return ax


def plot_response_surface(
    summary: pd.DataFrame, params: list[str], metric: str = "latency_p99", ax: Axes | None = None
) -> Axes:
    """A sweep's ``metric`` (mean and 95% CI band) against its first param: one line per variant and
    per value of the second param (others averaged), each line's knee marked (:func:`simulator.slo.knee`).

    ``summary`` is :attr:`simulator.sweeps.Sweep.summary`. Latencies are drawn in milliseconds.
    """
    from simulator.slo import knee, numeric

    ax = axes_or_new(ax)
    rows = summary[summary["metric"] == metric]
    x_param = params[0]
    lines = ["variant", *params[1:2]]
    scale, unit = (1e3, " (ms)") if metric.startswith("latency") else (1.0, "")
    labelled = set()
    for key, group in rows.groupby(lines, sort=False):
        mean = group.groupby(x_param, sort=False)[["mean", "low", "high"]].mean()
        x = np.array([numeric(v) for v in mean.index])
        categorical = bool(np.isnan(x).any())
        if categorical:
            x = np.arange(len(mean), dtype=float)
            ax.set_xticks(x, [str(v) for v in mean.index])
        order = np.argsort(x, kind="stable")
        x, mean = x[order], mean.iloc[order]
        key = key if isinstance(key, tuple) else (key,)
        name = str(key[0]) if len(params) == 1 else f"{key[0]}, {params[1]}={key[1]}"
        (line,) = ax.plot(x, mean["mean"] * scale, marker="o", label=name)
        ax.fill_between(x, mean["low"] * scale, mean["high"] * scale, color=line.get_color(), alpha=0.15)
        at = knee(x, mean["mean"].to_numpy())
        if at is not None:
            label = None if "knee" in labelled else "knee"
            labelled.add("knee")
            ax.plot(
                x[at], mean["mean"].iloc[at] * scale, marker="X", markersize=12, color="black", label=label
            )
    ax.set_xlabel(x_param)
    ax.set_ylabel(f"{metric}{unit}")
    ax.set_title(f"{metric} against {x_param}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return ax
