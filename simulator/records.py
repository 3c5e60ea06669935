"""What a run leaves behind: one row per request and one per call (span), stored column-wise.

The engine appends to typed ``array`` columns (8 bytes a float, no Python object per value), which
keeps a million-request run small; :class:`RunResult` turns them into pandas DataFrames on demand.

``requests`` columns: ``request`` (id), ``workload`` (name), ``arrival`` and ``end`` (seconds of
simulated time), ``latency`` (``end - arrival``, seconds), ``status`` (``ok`` or ``error``).

``spans`` columns: ``request``, ``service``, ``replica`` (index), ``arrival`` (at the service),
``start`` (a slot was taken), ``end`` (the slot was released), ``wait`` (``start - arrival``),
``sojourn`` (``end - arrival``), ``status`` (``ok``; ``rejected`` when the queue was full;
``failed`` when a call it made failed).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

__all__ = ["REQUEST_STATUS", "SPAN_STATUS", "Recorder", "RunResult"]

SPAN_STATUS = ("ok", "rejected", "failed")
REQUEST_STATUS = ("ok", "error")


class Recorder:
    """Column buffers the engine appends to; each ``*_append`` is bound once for the hot path."""

    __slots__ = (
        "req_arrival",
        "req_end",
        "req_id",
        "req_status",
        "req_workload",
        "span_arrival",
        "span_end",
        "span_replica",
        "span_request",
        "span_service",
        "span_start",
        "span_status",
    )

    def __init__(self) -> None:
        self.req_id, self.req_workload = array("q"), array("h")
        self.req_arrival, self.req_end, self.req_status = array("d"), array("d"), array("b")
        self.span_request, self.span_service, self.span_replica = array("q"), array("h"), array("i")
        self.span_arrival, self.span_start, self.span_end = array("d"), array("d"), array("d")
        self.span_status = array("b")


def _frame(columns: dict[str, array], categories: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    data: dict[str, object] = {
        name: np.frombuffer(column, dtype=column.typecode) for name, column in columns.items()
    }
    for name, labels in categories.items():
        data[name] = pd.Categorical.from_codes(data[name], categories=list(labels))
    return pd.DataFrame(data)


@dataclass
class RunResult:
    """One replication of a scenario: the raw records plus the run's time frame.

    ``horizon`` is the end of the observed period (the scenario's duration, or the last arrival
    when every workload hit its ``limit`` earlier); requests still running then were drained.
    """

    scenario: str
    seed: int
    replication: int
    warmup: float
    horizon: float
    interval: float
    workloads: tuple[str, ...]
    services: tuple[str, ...]
    capacity: dict[str, int]
    recorder: Recorder = field(repr=False)

    @property
    def n_requests(self) -> int:
        return len(self.recorder.req_id)

    @cached_property
    def requests(self) -> pd.DataFrame:
        r = self.recorder
        frame = _frame(
            {
                "request": r.req_id,
                "workload": r.req_workload,
                "arrival": r.req_arrival,
                "end": r.req_end,
                "status": r.req_status,
            },
            {"workload": self.workloads, "status": REQUEST_STATUS},
        )
        frame.insert(4, "latency", frame["end"] - frame["arrival"])
        return frame

    @cached_property
    def spans(self) -> pd.DataFrame:
        r = self.recorder
        frame = _frame(
            {
                "request": r.span_request,
                "service": r.span_service,
                "replica": r.span_replica,
                "arrival": r.span_arrival,
                "start": r.span_start,
                "end": r.span_end,
                "status": r.span_status,
            },
            {"service": self.services, "status": SPAN_STATUS},
        )
        frame.insert(6, "wait", frame["start"] - frame["arrival"])
        frame.insert(7, "sojourn", frame["end"] - frame["arrival"])
        return frame
