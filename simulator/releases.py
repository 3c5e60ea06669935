"""Releases after the run: which version served each call, replicas and traffic per version.

The engine records which version each replica of a deployed service runs (``versions``) and every
replica's lifecycle (``scaling``); joined with the spans they give

* :func:`version_spans`: the spans of versioned services with their replica's ``version``;
* :func:`version_series`: per time bin and (service, version) -- scope ``<service>@<version>`` --
  ``replicas`` (mean replicas of that version getting traffic: ready, not draining) and
  ``traffic_share`` (share of the service's calls that arrived in the bin and went to that
  version; NaN when the service had none);
* :func:`version_metrics`: over the observation window, per ``<service>@<version>``: ``share``
  (of the service's calls), ``error_rate`` (share of its calls that did not answer successfully)
  and ``sojourn`` (mean seconds at the service); and per deployed service ``<service>.rolled_back``
  (1 if its canary was rolled back) and ``<service>.rollout_time`` (seconds from ``started`` to
  ``completed`` or ``rolled_back``; NaN if still under way at the end).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from simulator.provisioning import weighted_level
from simulator.records import SUCCESSFUL, RunResult

__all__ = ["VERSION_SEPARATOR", "version_metrics", "version_series", "version_spans"]

VERSION_SEPARATOR = "@"
"""Scopes of per-version rows and metrics are ``<service>@<version>``."""


def version_spans(result: RunResult) -> pd.DataFrame:
    """The spans of services whose replicas run versions, with a ``version`` column (categorical)."""
    versions = result.versions
    spans = result.spans
    spans = spans[spans["service"].isin(versions["service"].unique())]
    return spans.merge(versions, on=["service", "replica"], how="inner", sort=False)


def _serving(result: RunResult, service: str, end: float) -> pd.DataFrame:
    """One row per replica of ``service``: ``ready`` and ``drain`` times (``end`` if still serving)."""
    rows = result.scaling[result.scaling["service"] == service]
    times = rows.pivot_table(index="replica", columns="event", values="time", aggfunc="first", observed=False)
    frame = pd.DataFrame(index=times.index)
    for event in ("ready", "drain", "stop"):
        frame[event] = times.get(event, np.nan)
    frame["drain"] = frame["drain"].fillna(frame["stop"]).fillna(end)
    return frame.dropna(subset=["ready"])


def version_series(result: RunResult, edges: np.ndarray) -> pd.DataFrame:
    """Rows per bin of ``edges`` and scope ``<service>@<version>``: ``replicas``, ``traffic_share``."""
    versions = result.versions
    if versions.empty:
        return pd.DataFrame()
    spans = version_spans(result)
    frames = []
    for service, mapping in versions.groupby("service", observed=True, sort=False):
        end = max(float(edges[-1]), float(result.scaling["time"].max()))
        serving = _serving(result, str(service), end).join(mapping.set_index("replica")["version"])
        calls = spans[spans["service"] == service]
        total = np.histogram(calls["arrival"], bins=edges)[0]
        for version in mapping["version"].unique():
            mine = serving[serving["version"] == version]
            arrivals = calls.loc[calls["version"] == version, "arrival"]
            with np.errstate(divide="ignore", invalid="ignore"):
                share = np.histogram(arrivals, bins=edges)[0] / total
            frames.append(
                pd.DataFrame(
                    {
                        "time": edges[:-1],
                        "scope": f"{service}{VERSION_SEPARATOR}{version}",
                        "replicas": weighted_level(
                            mine["ready"].to_numpy(), mine["drain"].to_numpy(), np.ones(len(mine)), edges
                        ),
                        "traffic_share": np.where(total > 0, share, np.nan),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def version_metrics(result: RunResult) -> dict[str, float]:
    """Per-version and per-rollout figures over the observation window (module docstring)."""
    metrics: dict[str, float] = {}
    spans = version_spans(result)
    spans = spans[(spans["arrival"] >= result.warmup) & (spans["arrival"] < result.horizon)]
    for (service, version), group in spans.groupby(["service", "version"], observed=True, sort=False):
        scope = f"{service}{VERSION_SEPARATOR}{version}"
        metrics[f"{scope}.share"] = len(group) / int((spans["service"] == service).sum())
        metrics[f"{scope}.error_rate"] = float((~group["status"].isin(SUCCESSFUL)).mean())
        metrics[f"{scope}.sojourn"] = float(group["sojourn"].mean())
    events = result.deployments
    for service, rows in events.groupby("service", observed=True, sort=False):
        started = rows.loc[rows["event"] == "started", "time"]
        ended = rows.loc[rows["event"].isin(("completed", "rolled_back")), "time"]
        metrics[f"{service}.rolled_back"] = float((rows["event"] == "rolled_back").any())
        metrics[f"{service}.rollout_time"] = (
            float(ended.iloc[0] - started.iloc[0]) if len(started) and len(ended) else math.nan
        )
    return metrics
