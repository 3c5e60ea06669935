"""What a load run leaves behind: one row per planned request, and its summary.

``requests`` columns, one row per request of the schedule, in its order: ``request`` (number, from
0), ``action`` (its name in the mix), ``scheduled`` (when the schedule said to send it, seconds from
the start), ``sent`` (when the generator actually started it; NaN if it was never sent; ``sent -
scheduled`` is the generator's own lag), ``latency`` (seconds from ``scheduled`` to the answer or the
failure, so the generator's lag counts against the system, as a user waiting since the scheduled
moment would see it; NaN if never sent), ``status`` (the HTTP status, 0 without an answer),
``outcome`` (see :mod:`live.loadgen.outcomes`), ``error`` (why a request without an answer failed;
empty otherwise) and ``trace_id`` (the W3C trace its requests carried, see :mod:`live.loadgen.tracing`;
empty if never sent).

:func:`load_metrics` computes the simulator's request-level figures
(:func:`simulator.summary.request_metrics`: ``requests``, ``throughput``, ``error_rate``, the outcome
shares, ``latency_mean`` and the percentiles) over the requests scheduled in ``[warmup, horizon)``;
requests the generator dropped count as requests that got no answer. :func:`load_summary` lays them out
as the simulator's summary table (one row per metric: ``mean``, ``low``, ``high``, ``n``) -- one run
is one replication, so ``low`` and ``high`` are NaN. :func:`generator_metrics` says how well the
generator kept its schedule; a run whose generator lagged or dropped measured itself, not the system.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from live.loadgen.outcomes import DROPPED
from simulator.summary import request_metrics, summarize

__all__ = ["COLUMNS", "LoadResult", "generator_metrics", "load_metrics", "load_summary"]

COLUMNS = ("request", "action", "scheduled", "sent", "latency", "status", "outcome", "error", "trace_id")


@dataclass(frozen=True)
class LoadResult:
    """The requests of one run (columns in the module docstring), the end of its schedule, and the
    wall-clock time of its start (Unix nanoseconds of ``scheduled`` = 0, to line rows up with spans
    and logs)."""

    requests: pd.DataFrame
    horizon: float
    started_ns: int = 0

    def to_csv(self, path: Path) -> Path:
        """Write ``requests`` to ``path`` as CSV (one row per request, header included)."""
        self.requests.to_csv(path, index=False)
        return path


def load_metrics(result: LoadResult, warmup: float = 0.0) -> dict[str, float]:
    """The simulator's request-level metrics of the requests scheduled in ``[warmup, horizon)``."""
    if not 0 <= warmup < result.horizon:
        raise ValueError(f"the warm-up must lie in [0, {result.horizon:g}) s, got {warmup:g}")
    frame = result.requests
    inside = frame[(frame["scheduled"] >= warmup) & (frame["scheduled"] < result.horizon)]
    return request_metrics(inside["outcome"], inside["latency"], result.horizon - warmup)


def load_summary(result: LoadResult, warmup: float = 0.0) -> pd.DataFrame:
    """:func:`load_metrics` as the simulator's summary table (one replication: no interval)."""
    return summarize(pd.DataFrame([load_metrics(result, warmup)]))


def generator_metrics(result: LoadResult) -> dict[str, float]:
    """How the generator itself did: ``dropped`` (share of requests it never sent: max in flight
    reached) and its lag behind the schedule, ``lag_mean``, ``lag_p99`` and ``lag_max`` (seconds)."""
    frame = result.requests
    lag = (frame["sent"] - frame["scheduled"]).dropna().to_numpy()
    return {
        "dropped": float((frame["outcome"] == DROPPED).mean()) if len(frame) else math.nan,
        "lag_mean": float(lag.mean()) if len(lag) else math.nan,
        "lag_p99": float(np.percentile(lag, 99)) if len(lag) else math.nan,
        "lag_max": float(lag.max()) if len(lag) else math.nan,
    }
