"""From records to the numbers people quote, with confidence intervals across replications.

Only requests that *arrive* inside the observation window ``[warmup, horizon)`` count (every one of
them finished: the engine drains the system after the horizon), so the warm-up transient does not
bias the steady-state figures. Latency statistics are over answered requests (``ok`` or
``fallback``); failures show up in ``error_rate``.

Per replication, :func:`replication_metrics` gives one flat mapping from metric name to value:
``throughput`` (answered requests per second), ``error_rate`` (any failure, rate-limit refusals
included), the share of requests of each outcome other than ``ok`` (``limited``: refused with 429;
``fallback``, ``timeout``, ``rejected``, ``shed``, ``concurrency_limited``, ``breaker_open``,
``bulkhead_full``: see :mod:`simulator.records`), ``latency_mean``, ``latency_p50``,
``latency_p90``, ``latency_p99``, ``latency_p999`` (seconds), and per service ``<service>.utilization``
(fraction of slots in use), ``<service>.arrival_rate`` (calls per second), ``<service>.wait`` and
``<service>.sojourn`` (mean seconds queued, and queued plus served), ``<service>.p_wait``
(fraction of calls that had to queue), ``<service>.in_service`` (time-average
number of calls in the service: Little's L), ``<service>.rejected`` (fraction of calls turned away by a
full queue), ``<service>.limited`` (refused by a gateway rate limit) and ``<service>.cache_hits``
(answered by a gateway cache, alone or by sharing an in-flight fetch), ``<service>.replicas_mean``
(time-average replicas getting traffic), ``<service>.replica_seconds`` (replica-seconds paid for in the
window: from each replica's start to its stop, start-up and drain included) and ``cost`` (the sum over
services of replica-seconds / 3600 x ``price_per_replica_hour``). Utilization is busy slot-seconds
over the slot-seconds of the replicas ready or draining (see :mod:`simulator.provisioning`): with a
fixed number of replicas, busy slots / (replicas x concurrency). Per call edge with resilience
policies (``caller->callee``): ``<edge>.tries`` (tries sent per call: the edge's work amplification),
``<edge>.retries`` and ``<edge>.hedges`` (per call), ``<edge>.timeouts`` (share of sent tries that
timed out), ``<edge>.refused`` (share of tries refused by the edge's bulkhead or breaker) and
``<edge>.breaker_open`` (fraction of the window the breaker spent open).
:func:`summarize` turns one row per replication into ``mean``, ``low`` and ``high`` (a Student-t
confidence interval, 95% by default) and ``n``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import stdtrit

from simulator.provisioning import provisioning
from simulator.records import ANSWERED, BREAKER_STATES, RunResult
from simulator.timeseries import level_average

__all__ = ["FAILURE_SHARES", "PERCENTILES", "confidence_interval", "replication_metrics", "summarize"]

PERCENTILES = {"latency_p50": 50.0, "latency_p90": 90.0, "latency_p99": 99.0, "latency_p999": 99.9}
FAILURE_SHARES = (
    "limited",
    "fallback",
    "timeout",
    "rejected",
    "shed",
    "concurrency_limited",
    "breaker_open",
    "bulkhead_full",
)
"""Request outcomes whose share is a metric of its own."""
_NOT_SENT = ("breaker_open", "bulkhead_full")


def replication_metrics(result: RunResult) -> dict[str, float]:
    """The headline figures of one replication (see the module docstring for each name)."""
    start, stop = result.warmup, result.horizon
    window = stop - start
    requests = result.requests
    inside = requests[(requests["arrival"] >= start) & (requests["arrival"] < stop)]
    ok = inside.loc[inside["status"].isin(ANSWERED), "latency"].to_numpy()
    metrics = {
        "requests": float(len(inside)),
        "throughput": len(ok) / window,
        "error_rate": 1 - len(ok) / len(inside) if len(inside) else math.nan,
        "latency_mean": float(ok.mean()) if len(ok) else math.nan,
    }
    for outcome in FAILURE_SHARES:
        metrics[outcome] = _share(inside["status"], (outcome,))
    for name, q in PERCENTILES.items():
        metrics[name] = float(np.percentile(ok, q)) if len(ok) else math.nan
    spans = result.spans
    scaled = set(result.scaling["service"].astype(str))
    cost = 0.0
    for name, group in spans.groupby("service", observed=False, sort=False):
        calls = group[(group["arrival"] >= start) & (group["arrival"] < stop)]
        busy = level_average(group["start"].to_numpy(), group["end"].to_numpy(), np.array([start, stop]))[0]
        present = level_average(
            group["arrival"].to_numpy(), group["end"].to_numpy(), np.array([start, stop])
        )[0]
        metrics[f"{name}.arrival_rate"] = len(calls) / window
        if str(name) in scaled:
            held = provisioning(result, str(name), np.array([start, stop]))
            metrics[f"{name}.utilization"] = busy / held.slots[0] if held.slots[0] > 0 else math.nan
            replicas_mean, paid = float(held.serving[0]), float(held.total[0]) * window
        else:
            metrics[f"{name}.utilization"] = busy / result.capacity[str(name)]
            replicas_mean = float(result.replicas.get(str(name), 0))
            paid = replicas_mean * window
        metrics[f"{name}.replicas_mean"] = replicas_mean
        metrics[f"{name}.replica_seconds"] = paid
        cost += paid / 3600 * result.prices.get(str(name), 0.0)
        metrics[f"{name}.in_service"] = present
        metrics[f"{name}.wait"] = float(calls["wait"].mean()) if len(calls) else math.nan
        metrics[f"{name}.p_wait"] = float((calls["wait"] > 0).mean()) if len(calls) else math.nan
        metrics[f"{name}.sojourn"] = float(calls["sojourn"].mean()) if len(calls) else math.nan
        metrics[f"{name}.rejected"] = _share(calls["status"], ("rejected",))
        metrics[f"{name}.limited"] = _share(calls["status"], ("limited",))
        metrics[f"{name}.cache_hits"] = _share(calls["status"], ("cached", "coalesced"))
    metrics["cost"] = cost
    metrics.update(edge_metrics(result, inside["request"]))
    return metrics


def edge_metrics(result: RunResult, requests: pd.Series) -> dict[str, float]:
    """Per guarded call edge, over the tries of ``requests`` (ids): tries, retries and hedges per call,
    timeouts, refusals; and the time the edge's breaker spent open in the observation window."""
    start, stop = result.warmup, result.horizon
    tries = result.tries
    tries = tries[tries["request"].isin(requests)]
    breakers = result.breakers
    metrics: dict[str, float] = {}
    for name, group in tries.groupby("edge", observed=False, sort=False):
        calls = int((group["kind"] == "first").sum())
        sent = group[~group["outcome"].isin(_NOT_SENT)]
        metrics[f"{name}.tries"] = len(sent) / calls if calls else math.nan
        metrics[f"{name}.retries"] = float((group["kind"] == "retry").sum()) / calls if calls else math.nan
        metrics[f"{name}.hedges"] = float((group["kind"] == "hedge").sum()) / calls if calls else math.nan
        metrics[f"{name}.timeouts"] = _share(sent["outcome"], ("timeout",))
        metrics[f"{name}.refused"] = _share(group["outcome"], _NOT_SENT)
        changes = breakers[breakers["edge"] == name]
        metrics[f"{name}.breaker_open"] = state_share(changes, "open", start, stop)
    return metrics


def state_share(changes: pd.DataFrame, state: str, start: float, stop: float) -> float:
    """Fraction of ``[start, stop)`` a breaker spent in ``state``, from its ``breakers`` records (closed
    before the first change)."""
    times = np.concatenate([[-math.inf], changes["time"].to_numpy(), [math.inf]])
    states = [BREAKER_STATES[0], *changes["to_state"].astype(str)]
    inside = 0.0
    for index, current in enumerate(states):
        if current == state:
            inside += max(0.0, min(times[index + 1], stop) - max(times[index], start))
    return inside / (stop - start)


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
