"""Periodic time series, computed after the run from the span and request records.

Nothing is sampled during the simulation (the hot path stays lean); instead every level -- slots in
use, requests waiting, requests in a service -- is a step function made of the recorded intervals,
and its exact time average over each bin is the integral of that step function divided by the
bin's width. Integrals of step functions are piecewise linear, so they are read off exactly with
``np.interp`` at the bin edges.

Columns of :func:`timeseries` (one row per bin and scope; ``time`` is the bin's start in seconds):
``scope`` (a service's name, or ``requests`` for end-to-end rows), ``arrivals_per_s``,
``throughput_per_s`` (successful completions), ``errors_per_s``, and for services ``utilization``
(mean fraction of the slots held in use: of the replicas ready or draining, see
:mod:`simulator.provisioning`), ``replicas`` (mean replicas getting traffic), ``replicas_total``
(mean replicas that exist, starting and draining included), ``cost`` (what they cost in the bin,
at the service's ``price_per_replica_hour``), ``queue_length`` (mean requests waiting), ``in_service`` (mean
requests waiting or served); for ``requests`` the latency percentiles ``latency_p50``, ``latency_p90``,
``latency_p99`` (seconds) of the requests that finished in the bin, and ``in_flight`` (mean requests in
the system). Throughput and latency count answered requests (``ok`` or ``fallback``). For each call
edge with resilience policies (scope ``caller->callee``): ``tries_per_s`` (tries sent),
``retries_per_s``, ``timeouts_per_s``, ``refused_per_s`` (by the edge's bulkhead or breaker) and
``breaker_open`` (fraction of the bin the breaker spent open). For each message channel (scope: the
queue, or ``topic:group``): ``published_per_s``, ``acked_per_s``, ``dead_lettered_per_s``,
``expired_per_s``, ``backlog`` (mean messages published and not yet settled: ready plus unacked; for
a consumer group, its lag in messages) and ``lag_p99`` (seconds from publication to acknowledgement
of the messages acked in the bin). For each database with ``op`` calls
(scope ``db:<name>``, over the operations that asked for a connection in the bin): ``ops_per_s``,
``pool_exhausted_per_s``, and the means ``pool_wait``, ``lock_wait`` (writes with a row lock) and
``staleness`` (replica reads), in seconds (NaN when the bin has none). For each version of a
deployed service (scope ``<service>@<version>``, :mod:`simulator.releases`): ``replicas`` (mean
replicas of that version getting traffic) and ``traffic_share`` (share of the service's calls that
went to it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.provisioning import provisioning
from simulator.records import ANSWERED, SUCCESSFUL, RunResult
from simulator.releases import version_series

__all__ = ["DATABASE_PREFIX", "REQUEST_SCOPE", "bin_edges", "level_average", "timeseries"]

REQUEST_SCOPE = "requests"
DATABASE_PREFIX = "db:"
"""Scopes of database rows start with it (``db:orders-db``)."""


def bin_edges(horizon: float, interval: float) -> np.ndarray:
    """Edges ``0, interval, 2 interval, ...`` covering ``[0, horizon]`` (the last bin may be shorter)."""
    edges = np.arange(0.0, horizon, interval)
    return np.append(edges, horizon)


def level_average(starts: np.ndarray, ends: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Time-average, per bin, of the number of intervals ``[start, end)`` open at each instant."""
    if len(starts) == 0:
        return np.zeros(len(edges) - 1)
    times = np.concatenate([starts, ends])
    steps = np.concatenate([np.ones(len(starts)), -np.ones(len(ends))])
    order = np.argsort(times, kind="stable")
    times, level = times[order], np.cumsum(steps[order])
    area = np.concatenate([[0.0], np.cumsum(level[:-1] * np.diff(times))])
    return np.diff(np.interp(edges, times, area, left=0.0, right=area[-1])) / np.diff(edges)


def _rate(times: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.histogram(times, bins=edges)[0] / np.diff(edges)


def _service_rows(result: RunResult, edges: np.ndarray) -> list[pd.DataFrame]:
    spans = result.spans
    rows = []
    for name, group in spans.groupby("service", observed=False, sort=False):
        arrival, start, end = (group[c].to_numpy() for c in ("arrival", "start", "end"))
        ok = group["status"].isin(SUCCESSFUL).to_numpy()
        held = provisioning(result, str(name), edges)
        with np.errstate(divide="ignore", invalid="ignore"):
            utilization = level_average(start, end, edges) / held.slots
        rows.append(
            pd.DataFrame(
                {
                    "time": edges[:-1],
                    "scope": name,
                    "arrivals_per_s": _rate(arrival, edges),
                    "throughput_per_s": _rate(end[ok], edges),
                    "errors_per_s": _rate(end[~ok], edges),
                    "utilization": utilization,
                    "queue_length": level_average(arrival, start, edges),
                    "in_service": level_average(arrival, end, edges),
                    "replicas": held.serving,
                    "replicas_total": held.total,
                    "cost": held.total * np.diff(edges) / 3600 * result.prices.get(str(name), 0.0),
                }
            )
        )
    return rows


def _request_rows(result: RunResult, edges: np.ndarray) -> pd.DataFrame:
    requests = result.requests
    arrival, end, latency = (requests[c].to_numpy() for c in ("arrival", "end", "latency"))
    ok = requests["status"].isin(ANSWERED).to_numpy()
    frame = pd.DataFrame(
        {
            "time": edges[:-1],
            "scope": REQUEST_SCOPE,
            "arrivals_per_s": _rate(arrival, edges),
            "throughput_per_s": _rate(end[ok], edges),
            "errors_per_s": _rate(end[~ok], edges),
            "in_flight": level_average(arrival, end, edges),
        }
    )
    which = np.searchsorted(edges, end, side="right") - 1
    inside = (which >= 0) & (which < len(edges) - 1)
    by_bin = pd.Series(latency[inside]).groupby(which[inside])
    for q in (50, 90, 99):
        frame[f"latency_p{q}"] = by_bin.quantile(q / 100).reindex(range(len(edges) - 1)).to_numpy()
    return frame


def _edge_rows(result: RunResult, edges: np.ndarray) -> list[pd.DataFrame]:
    tries, breakers = result.tries, result.breakers
    rows = []
    for name, group in tries.groupby("edge", observed=False, sort=False):
        start = group["start"].to_numpy()
        refused = group["outcome"].isin(("breaker_open", "bulkhead_full")).to_numpy()
        changes = breakers[breakers["edge"] == name]
        times = changes["time"].to_numpy()
        opened = (changes["to_state"] == "open").to_numpy()
        ends = np.append(times[1:], max(result.horizon, times[-1]) if len(times) else 0.0)
        rows.append(
            pd.DataFrame(
                {
                    "time": edges[:-1],
                    "scope": name,
                    "tries_per_s": _rate(start[~refused], edges),
                    "retries_per_s": _rate(start[(group["kind"] == "retry").to_numpy()], edges),
                    "timeouts_per_s": _rate(start[(group["outcome"] == "timeout").to_numpy()], edges),
                    "refused_per_s": _rate(start[refused], edges),
                    "breaker_open": level_average(times[opened], ends[opened], edges),
                }
            )
        )
    return rows


def _channel_rows(result: RunResult, edges: np.ndarray) -> list[pd.DataFrame]:
    if not result.channels:
        return []
    messages = result.messages
    settled_any = messages["settled"].notna().any()
    end = max(result.horizon, float(messages["settled"].max())) if settled_any else result.horizon
    rows = []
    for name, group in messages.groupby("channel", observed=False, sort=False):
        published, settled = group["published"].to_numpy(), group["settled"].to_numpy()
        outcome = group["outcome"].to_numpy()
        acked = outcome == "acked"
        frame = pd.DataFrame(
            {
                "time": edges[:-1],
                "scope": name,
                "published_per_s": _rate(published, edges),
                "acked_per_s": _rate(settled[acked], edges),
                "dead_lettered_per_s": _rate(settled[outcome == "dead_lettered"], edges),
                "expired_per_s": _rate(settled[outcome == "expired"], edges),
                "backlog": level_average(published, np.nan_to_num(settled, nan=end), edges),
            }
        )
        which = np.searchsorted(edges, settled[acked], side="right") - 1
        inside = (which >= 0) & (which < len(edges) - 1)
        lag = pd.Series((settled - published)[acked][inside]).groupby(which[inside])
        frame["lag_p99"] = lag.quantile(0.99).reindex(range(len(edges) - 1)).to_numpy()
        rows.append(frame)
    return rows


def _bin_mean(times: np.ndarray, values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean of the finite ``values`` whose ``times`` fall in each bin (NaN for an empty bin)."""
    finite = np.isfinite(values)
    counts = np.histogram(times[finite], bins=edges)[0]
    sums = np.histogram(times[finite], bins=edges, weights=values[finite])[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _database_rows(result: RunResult, edges: np.ndarray) -> list[pd.DataFrame]:
    if not result.callers:
        return []
    rows = []
    for name, group in result.db_ops.groupby("database", observed=True, sort=False):
        start = group["start"].to_numpy()
        exhausted = (group["outcome"] == "pool_exhausted").to_numpy()
        rows.append(
            pd.DataFrame(
                {
                    "time": edges[:-1],
                    "scope": f"{DATABASE_PREFIX}{name}",
                    "ops_per_s": _rate(start, edges),
                    "pool_exhausted_per_s": _rate(start[exhausted], edges),
                    **{
                        column: _bin_mean(start, group[column].to_numpy(), edges)
                        for column in ("pool_wait", "lock_wait", "staleness")
                    },
                }
            )
        )
    return rows


def timeseries(result: RunResult) -> pd.DataFrame:
    """Per-bin series for every service, end-to-end requests, guarded call edges, message channels and
    databases (module docstring)."""
    edges = bin_edges(result.horizon, result.interval)
    frames = [
        *_service_rows(result, edges),
        _request_rows(result, edges),
        *_edge_rows(result, edges),
        *_channel_rows(result, edges),
        *_database_rows(result, edges),
    ]
    if result.version_names:
        frames.append(version_series(result, edges))
    frame = pd.concat(frames, ignore_index=True)
    frame["scope"] = frame["scope"].astype(str)
    return frame
