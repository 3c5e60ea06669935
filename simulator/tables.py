"""The summary as tables a person reads: which metrics, in which units, formatted how.

Shared by the command line's rich tables and the Markdown report, so both show the same figures.
"""

from __future__ import annotations

import math

import pandas as pd

__all__ = [
    "CHANNEL_COLUMNS",
    "COMPLETION_ROWS",
    "COST_ROW",
    "DATABASE_COLUMNS",
    "EDGE_COLUMNS",
    "HEADLINE",
    "OUTCOME_ROWS",
    "SERVICE_COLUMNS",
    "VERSION_COLUMNS",
    "channel_frames",
    "database_columns",
    "database_frames",
    "edge_frames",
    "format_interval",
    "headline_rows",
    "metric_row",
    "split_summary",
    "version_frames",
]

HEADLINE = {
    "throughput": ("throughput", "req/s", 1.0),
    "error_rate": ("error rate", "%", 100.0),
    "latency_mean": ("latency mean", "ms", 1e3),
    "latency_p50": ("latency p50", "ms", 1e3),
    "latency_p90": ("latency p90", "ms", 1e3),
    "latency_p99": ("latency p99", "ms", 1e3),
    "latency_p999": ("latency p99.9", "ms", 1e3),
}
OUTCOME_ROWS = {
    "limited": ("rate limited", "%", 100.0),
    "fallback": ("fallback answers", "%", 100.0),
    "timeout": ("timed out", "%", 100.0),
    "rejected": ("rejected (queue full)", "%", 100.0),
    "shed": ("shed", "%", 100.0),
    "concurrency_limited": ("concurrency limited", "%", 100.0),
    "breaker_open": ("breaker open", "%", 100.0),
    "bulkhead_full": ("bulkhead full", "%", 100.0),
    "pool_exhausted": ("pool exhausted", "%", 100.0),
}
"""Shares of request outcomes, shown only when some variant has any."""
COST_ROW = {"cost": ("cost", "price units", 1.0)}
"""Shown when some variant prices its replicas (``price_per_replica_hour``)."""
EDGE_COLUMNS = {
    "tries": ("tries/call", "", 1.0),
    "retries": ("retries/call", "", 1.0),
    "hedges": ("hedges/call", "", 1.0),
    "timeouts": ("timed out", "% of tries", 100.0),
    "refused": ("refused", "% of tries", 100.0),
    "breaker_open": ("breaker open", "% of time", 100.0),
}
CHANNEL_COLUMNS = {
    "publish_rate": ("published", "/s", 1.0),
    "backlog_mean": ("backlog", "msgs", 1.0),
    "wait_mean": ("wait", "ms", 1e3),
    "lag_mean": ("lag mean", "ms", 1e3),
    "lag_p99": ("lag p99", "ms", 1e3),
    "redelivered": ("redelivered", "%", 100.0),
    "dead_lettered": ("dead-lettered", "%", 100.0),
    "expired": ("expired", "%", 100.0),
}
"""Columns of the queue and consumer-group table (``<channel>.<metric>`` rows of the summary)."""
COMPLETION_ROWS = {
    "completion_mean": ("flow completion mean", "ms", 1e3),
    "completion_p99": ("flow completion p99", "ms", 1e3),
    "completed": ("flows completed", "%", 100.0),
}
"""End-to-end completion of asynchronous flows, shown when the scenario has brokers."""
DATABASE_COLUMNS = {
    "ops_per_s": ("operations", "/s", 1.0),
    "pool_wait": ("pool wait", "ms", 1e3),
    "pool_exhausted": ("pool exhausted", "%", 100.0),
    "lock_wait": ("lock wait", "ms", 1e3),
    "lock_wait_p99": ("lock wait p99", "ms", 1e3),
    "lock_contention": ("writes that waited", "%", 100.0),
    "staleness_mean": ("staleness", "ms", 1e3),
    "stale_reads": ("stale reads", "%", 100.0),
    "read_model_staleness_mean": ("read-model staleness", "ms", 1e3),
    "read_model_staleness_p99": ("read-model staleness p99", "ms", 1e3),
    "stale_queries": ("stale queries", "%", 100.0),
    "rehydration_mean": ("rehydration", "ms", 1e3),
    "replayed_mean": ("events replayed", "", 1.0),
}
"""Per database with ``op`` calls; a column is shown when some database has it."""
SERVICE_COLUMNS = {
    "utilization": ("utilization", "%", 100.0),
    "arrival_rate": ("calls", "/s", 1.0),
    "wait": ("wait", "ms", 1e3),
    "sojourn": ("sojourn", "ms", 1e3),
    "rejected": ("rejected", "%", 100.0),
    "limited": ("limited", "%", 100.0),
    "cache_hits": ("cache hits", "%", 100.0),
    "replicas_mean": ("replicas", "mean", 1.0),
}
VERSION_COLUMNS = {
    "share": ("share of calls", "%", 100.0),
    "error_rate": ("errors", "%", 100.0),
    "sojourn": ("sojourn", "ms", 1e3),
}
"""Columns of the per-version table (:mod:`simulator.releases`)."""


def headline_rows(overall: list[pd.DataFrame]) -> dict[str, tuple[str, str, float]]:
    """The headline metrics to show for these variants: :data:`HEADLINE`, then the outcome shares
    (:data:`OUTCOME_ROWS`) that are above zero in at least one of them, and ``cost`` when above zero."""
    rows = dict(HEADLINE)
    if any("completion_mean" in frame.index for frame in overall):
        rows.update(COMPLETION_ROWS)
    for key, row in {**OUTCOME_ROWS, **COST_ROW}.items():
        if any(key in frame.index and frame.loc[key, "mean"] > 0 for frame in overall):
            rows[key] = row
    return rows


def _channels(summary: pd.DataFrame) -> set[str]:
    """Scopes that are message channels: they have a ``backlog_mean``."""
    return {name.rsplit(".", 1)[0] for name in summary.index if name.endswith(".backlog_mean")}


def _scoped(summary: pd.DataFrame, edges: bool, channels: bool = False) -> dict[str, pd.DataFrame]:
    scopes: dict[str, pd.DataFrame] = {}
    channel_scopes = _channels(summary)
    for name in summary.index[summary.index.str.contains(".", regex=False)]:
        scope, metric = name.rsplit(".", 1)
        if (scope in channel_scopes) != channels:
            continue
        if "@" in scope and not channels:
            continue  # a version of a service (version_frames)
        if channels or ("->" in scope) == edges:
            scopes.setdefault(scope, pd.DataFrame(columns=summary.columns))
            scopes[scope].loc[metric] = summary.loc[name]
    return scopes


def split_summary(summary: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Separate end-to-end metrics from per-service ones (``service.metric`` rows)."""
    overall = summary[~summary.index.str.contains(".", regex=False)]
    return overall, _scoped(summary, edges=False)


def edge_frames(summary: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per guarded call edge (``caller->callee.metric`` rows), one frame of its metrics."""
    return _scoped(summary, edges=True)


def channel_frames(summary: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per queue or consumer group (``<channel>.metric`` rows), one frame of its metrics."""
    return _scoped(summary, edges=False, channels=True)


def version_frames(summary: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per version of a deployed service (``service@version.metric`` rows), one frame of its metrics."""
    scopes: dict[str, pd.DataFrame] = {}
    for name in summary.index[summary.index.str.contains("@", regex=False)]:
        scope, metric = name.rsplit(".", 1)
        scopes.setdefault(scope, pd.DataFrame(columns=summary.columns))
        scopes[scope].loc[metric] = summary.loc[name]
    return scopes


def database_frames(summary: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per database with ``op`` calls, one frame of its metrics (those of :data:`DATABASE_COLUMNS`)."""
    return {
        scope: frame.loc[[key for key in DATABASE_COLUMNS if key in frame.index]]
        for scope, frame in _scoped(summary, edges=False).items()
        if "ops_per_s" in frame.index
    }


def database_columns(frames: list[dict[str, pd.DataFrame]]) -> dict[str, tuple[str, str, float]]:
    """The :data:`DATABASE_COLUMNS` that some database in ``frames`` (one mapping per variant) has."""
    present = {key for scopes in frames for frame in scopes.values() for key in frame.index}
    return {key: column for key, column in DATABASE_COLUMNS.items() if key in present}


def metric_row(frame: pd.DataFrame, key: str) -> pd.Series:
    """Row ``key`` of a summary frame, or a row of NaN (shown as "–") when this variant lacks it."""
    if key in frame.index:
        return frame.loc[key]
    return pd.Series(math.nan, index=frame.columns)


def format_interval(row: pd.Series, scale: float, brackets: bool = False) -> str:
    """``mean ± half-width`` (or ``mean [low, high]``) of a summary row, times ``scale``, 3 digits."""
    mean, low, high = (row[k] * scale for k in ("mean", "low", "high"))
    if math.isnan(mean):
        return "–"
    if math.isnan(low) or high == low:
        return f"{mean:.3g}"
    return f"{mean:.3g} [{low:.3g}, {high:.3g}]" if brackets else f"{mean:.3g} ± {(high - low) / 2:.2g}"
