"""How many replicas and slots a service had over time, and what they cost, from a run's records.

A service without autoscaling has its ``replicas`` all the time. An autoscaled one has the
intervals of its ``scaling`` records (:mod:`simulator.records`), per replica:

* *serving* from ``ready`` to ``drain`` (or ``stop``): it gets new calls -- the ``replicas`` series
  and ``<service>.replicas_mean``;
* *holding slots* from ``ready`` to ``stop``: the capacity that utilization is measured against
  (busy slot-seconds / slot-seconds of replicas ready or draining), so a utilization is never above
  1 however the replicas come and go;
* *costing* from ``start`` to ``stop``, start-up and drain included: ``<service>.replica_seconds``,
  priced at ``price_per_replica_hour``.

A replica still running at the end counts until the end. Levels are exact time averages of these
step functions, computed as in :mod:`simulator.timeseries`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.records import RunResult

__all__ = ["Provisioning", "provisioning", "weighted_level"]


def weighted_level(
    starts: np.ndarray, ends: np.ndarray, weights: np.ndarray, edges: np.ndarray
) -> np.ndarray:
    """Time-average, per bin, of the total weight of the intervals ``[start, end)`` open at each instant."""
    if len(starts) == 0:
        return np.zeros(len(edges) - 1)
    times = np.concatenate([starts, ends])
    steps = np.concatenate([weights, -weights]).astype(float)
    order = np.argsort(times, kind="stable")
    times, level = times[order], np.cumsum(steps[order])
    area = np.concatenate([[0.0], np.cumsum(level[:-1] * np.diff(times))])
    return np.diff(np.interp(edges, times, area, left=0.0, right=area[-1])) / np.diff(edges)


@dataclass(frozen=True)
class Provisioning:
    """Per bin of ``edges``: mean serving replicas, mean replicas that cost, mean slots held."""

    serving: np.ndarray
    total: np.ndarray
    slots: np.ndarray


def _intervals(scaling: pd.DataFrame, end: float) -> pd.DataFrame:
    """One row per replica: ``start``, ``ready``, ``drain``, ``stop`` times (``end`` if it never stopped,
    NaN ready if it never became ready) and ``slots``."""
    times = scaling.pivot_table(
        index="replica", columns="event", values="time", aggfunc="first", observed=False
    )
    frame = pd.DataFrame(index=times.index)
    for event in ("start", "ready", "drain", "stop"):
        frame[event] = times.get(event, np.nan)
    frame["stop"] = frame["stop"].fillna(end)
    frame["drain"] = frame["drain"].fillna(frame["stop"])
    frame["slots"] = scaling.groupby("replica")["slots"].first()
    return frame


def provisioning(result: RunResult, service: str, edges: np.ndarray) -> Provisioning:
    """The replicas and slots of ``service`` averaged over each bin of ``edges`` (module docstring)."""
    scaling = result.scaling
    rows = scaling[scaling["service"] == service]
    bins = len(edges) - 1
    if rows.empty:
        replicas = float(result.replicas.get(service, 1))
        slots = float(result.capacity[service])
        return Provisioning(np.full(bins, replicas), np.full(bins, replicas), np.full(bins, slots))
    end = max(float(edges[-1]), float(rows["time"].max()))
    frame = _intervals(rows, end)
    ready = frame.dropna(subset=["ready"])
    ones = np.ones(len(ready))
    return Provisioning(
        serving=weighted_level(ready["ready"].to_numpy(), ready["drain"].to_numpy(), ones, edges),
        total=weighted_level(frame["start"].to_numpy(), frame["stop"].to_numpy(), np.ones(len(frame)), edges),
        slots=weighted_level(
            ready["ready"].to_numpy(), ready["stop"].to_numpy(), ready["slots"].to_numpy(float), edges
        ),
    )
