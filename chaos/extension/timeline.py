"""The requests an experiment's load sent, on one wall-clock timeline: ``<state_dir>/chaos/requests.csv``.

Every load-based activity (a latency probe, a load run, placing orders) appends one row per request:
``time`` (Unix seconds when it was due), ``latency`` (seconds until its answer or failure; NaN if never
sent), ``outcome`` (:mod:`live.loadgen.outcomes`), ``status`` and ``activity`` (which activity sent
it). ``servicelab chaos run`` empties the file before an experiment and plots it afterwards, with the
journal's fault windows shaded.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from live.loadgen import LoadResult

__all__ = ["TIMELINE_COLUMNS", "TIMELINE_FILE", "append_requests", "read_timeline", "timeline_path"]

TIMELINE_FILE = "requests.csv"
TIMELINE_COLUMNS = ("time", "latency", "outcome", "status", "activity")


def timeline_path(state_dir: Path) -> Path:
    return state_dir / "chaos" / TIMELINE_FILE


def append_requests(state_dir: Path, result: LoadResult, activity: str) -> None:
    """Append the requests of ``result`` (a load run) under the name ``activity``."""
    frame = result.requests
    rows = pd.DataFrame(
        {
            "time": result.started_ns / 1e9 + frame["scheduled"],
            "latency": frame["latency"],
            "outcome": frame["outcome"].astype(str),
            "status": frame["status"],
            "activity": activity,
        },
        columns=list(TIMELINE_COLUMNS),
    )
    path = timeline_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(path, mode="a", header=not path.exists(), index=False)


def read_timeline(state_dir: Path) -> pd.DataFrame:
    """Every request recorded so far (columns :data:`TIMELINE_COLUMNS`), in time order."""
    path = timeline_path(state_dir)
    if not path.exists():
        return pd.DataFrame(columns=list(TIMELINE_COLUMNS))
    return pd.read_csv(path).sort_values("time", ignore_index=True)
