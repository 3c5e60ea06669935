"""From records to the numbers people quote, with confidence intervals across replications.

Only requests that *arrive* inside the observation window ``[warmup, horizon)`` count (every one of
them finished: the engine drains the system after the horizon), so the warm-up transient does not
bias the steady-state figures. Latency statistics are over successful requests; failures show up in
``error_rate``.

Per replication, :func:`replication_metrics` gives one flat mapping from metric name to value:
``throughput`` (successful requests per second), ``error_rate`` (any failure, rate-limit refusals
included), ``limited`` (share refused with 429),
``latency_mean``, ``latency_p50``,
``latency_p90``, ``latency_p99``, ``latency_p999`` (seconds), and per service ``<service>.utilization``
(fraction of slots in use), ``<service>.arrival_rate`` (calls per second), ``<service>.wait`` and
``<service>.sojourn`` (mean seconds queued, and queued plus served), ``<service>.p_wait``
(fraction of calls that had to queue), ``<service>.in_service`` (time-average
number of calls in the service: Little's L), ``<service>.rejected`` (fraction of calls turned away by a
full queue), ``<service>.limited`` (refused by a gateway rate limit) and ``<service>.cache_hits``
(answered by a gateway cache, alone or by sharing an in-flight fetch).
:func:`summarize` turns one row per replication into ``mean``, ``low`` and ``high`` (a Student-t
confidence interval, 95% by default) and ``n``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import stdtrit

from simulator.records import RunResult
from simulator.timeseries import level_average

__all__ = ["PERCENTILES", "confidence_interval", "replication_metrics", "summarize"]

PERCENTILES = {"latency_p50": 50.0, "latency_p90": 90.0, "latency_p99": 99.0, "latency_p999": 99.9}


def replication_metrics(result: RunResult) -> dict[str, float]:
    """The headline figures of one replication (see the module docstring for each name)."""
    start, stop = result.warmup, result.horizon
    window = stop - start
    requests = result.requests
    inside = requests[(requests["arrival"] >= start) & (requests["arrival"] < stop)]
    ok = inside.loc[inside["status"] == "ok", "latency"].to_numpy()
    metrics = {
        "requests": float(len(inside)),
        "throughput": len(ok) / window,
        "error_rate": 1 - len(ok) / len(inside) if len(inside) else math.nan,
        "limited": _share(inside["status"], ("limited",)),
        "latency_mean": float(ok.mean()) if len(ok) else math.nan,
    }
    for name, q in PERCENTILES.items():
        metrics[name] = float(np.percentile(ok, q)) if len(ok) else math.nan
    spans = result.spans
    for name, group in spans.groupby("service", observed=False, sort=False):
        calls = group[(group["arrival"] >= start) & (group["arrival"] < stop)]
        busy = level_average(group["start"].to_numpy(), group["end"].to_numpy(), np.array([start, stop]))[0]
        present = level_average(
            group["arrival"].to_numpy(), group["end"].to_numpy(), np.array([start, stop])
        )[0]
        metrics[f"{name}.arrival_rate"] = len(calls) / window
        metrics[f"{name}.utilization"] = busy / result.capacity[str(name)]
        metrics[f"{name}.in_service"] = present
        metrics[f"{name}.wait"] = float(calls["wait"].mean()) if len(calls) else math.nan
        metrics[f"{name}.p_wait"] = float((calls["wait"] > 0).mean()) if len(calls) else math.nan
        metrics[f"{name}.sojourn"] = float(calls["sojourn"].mean()) if len(calls) else math.nan
        metrics[f"{name}.rejected"] = _share(calls["status"], ("rejected",))
        metrics[f"{name}.limited"] = _share(calls["status"], ("limited",))
        metrics[f"{name}.cache_hits"] = _share(calls["status"], ("cached", "coalesced"))
    return metrics


def _share(statuses: pd.Series, among: tuple[str, ...]) -> float:
    """Fraction of ``statuses`` that are one of ``among`` (NaN when there are none at all)."""
    return float(statuses.isin(among).mean()) if len(statuses) else math.nan


def confidence_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the Student-t interval of independent replications' ``values``.

    With fewer than two finite values the half-width is NaN: one replication says nothing about its
    own variability.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan, math.nan
    mean = float(values.mean())
    if len(values) < 2:
        return mean, math.nan
    sem = float(values.std(ddof=1)) / math.sqrt(len(values))
    return mean, float(stdtrit(len(values) - 1, 0.5 + level / 2)) * sem


def summarize(per_replication: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """One row per metric: ``mean``, ``low``, ``high`` (confidence interval at ``level``) and ``n``."""
    rows = {}
    for metric in per_replication.columns:
        mean, half = confidence_interval(per_replication[metric].to_numpy(), level)
        rows[metric] = {"mean": mean, "low": mean - half, "high": mean + half, "n": len(per_replication)}
    return pd.DataFrame.from_dict(rows, orient="index")
