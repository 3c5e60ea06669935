"""The summary as tables a person reads: which metrics, in which units, formatted how.

Shared by the command line's rich tables and the Markdown report, so both show the same figures.
"""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["HEADLINE", "SERVICE_COLUMNS", "format_interval", "split_summary"]

HEADLINE = {
    "throughput": ("throughput", "req/s", 1.0),
    "error_rate": ("error rate", "%", 100.0),
    "limited": ("rate limited", "%", 100.0),
    "latency_mean": ("latency mean", "ms", 1e3),
    "latency_p50": ("latency p50", "ms", 1e3),
    "latency_p90": ("latency p90", "ms", 1e3),
    "latency_p99": ("latency p99", "ms", 1e3),
    "latency_p999": ("latency p99.9", "ms", 1e3),
}
SERVICE_COLUMNS = {
    "utilization": ("utilization", "%", 100.0),
    "arrival_rate": ("calls", "/s", 1.0),
    "wait": ("wait", "ms", 1e3),
    "sojourn": ("sojourn", "ms", 1e3),
    "rejected": ("rejected", "%", 100.0),
    "limited": ("limited", "%", 100.0),
    "cache_hits": ("cache hits", "%", 100.0),
}


def split_summary(summary: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Separate end-to-end metrics from per-service ones (``service.metric`` rows)."""
    overall = summary[~summary.index.str.contains(".", regex=False)]
    services: dict[str, pd.DataFrame] = {}
    for name in summary.index[summary.index.str.contains(".", regex=False)]:
        service, metric = name.rsplit(".", 1)
        services.setdefault(service, pd.DataFrame(columns=summary.columns))
        services[service].loc[metric] = summary.loc[name]
    return overall, services


def format_interval(row: pd.Series, scale: float, brackets: bool = False) -> str:
    """``mean ± half-width`` (or ``mean [low, high]``) of a summary row, times ``scale``, 3 digits."""
    mean, low, high = (row[k] * scale for k in ("mean", "low", "high"))
    if math.isnan(mean):
        return "–"
    if math.isnan(low) or high == low:
        return f"{mean:.3g}"
    return f"{mean:.3g} [{low:.3g}, {high:.3g}]" if brackets else f"{mean:.3g} ± {(high - low) / 2:.2g}"
