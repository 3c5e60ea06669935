"""What a run leaves behind: one row per request and one per call (span), stored column-wise.

The engine appends to typed ``array`` buffers (8 bytes a value, no Python object per value), which
keeps a million-request run small; :class:`RunResult` turns them into pandas DataFrames on demand.

``requests`` columns, one row per request in order of arrival: ``request`` (id, numbered in that
order), ``workload`` (name), ``arrival`` and ``end`` (seconds of simulated time), ``latency``
(``end - arrival``, seconds), ``status`` (``ok``, ``error``, or ``limited``: refused by a gateway's
rate limit, HTTP 429), ``client`` and ``key`` (the sender and
the resource asked for, when the workload draws them; -1 otherwise).

``spans`` columns: ``request``, ``service``, ``replica`` (index), ``arrival`` (at the service),
``start`` (a slot was taken), ``end`` (the slot was released), ``wait`` (``start - arrival``),
``sojourn`` (``end - arrival``), ``status`` (``ok``; ``rejected`` when the queue was full;
``failed`` when a call it made failed, its replica crashed under it, or an injected fault made it
answer with an error; at gateways ``limited`` by a rate limit (replica -1),
``cached`` when answered from the cache, ``coalesced`` when it shared another call's answer;
``refused`` when sent to a replica that is down, or when no replica was known to be up).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

__all__ = ["REQUEST_STATUS", "SPAN_STATUS", "SUCCESSFUL", "Recorder", "RunResult", "Status"]


class Status:
    """Span status codes, as stored in the records (names in :data:`SPAN_STATUS`)."""

    OK, REJECTED, FAILED, LIMITED, CACHED, COALESCED, REFUSED = range(7)


SPAN_STATUS = ("ok", "rejected", "failed", "limited", "cached", "coalesced", "refused")
SUCCESSFUL = ("ok", "cached", "coalesced")
"""Span statuses of calls that answered successfully (from their own work, the cache, or a shared call)."""
REQUEST_STATUS = ("ok", "error", "limited")


class Recorder:
    """Row buffers the engine appends to, two typed arrays per table.

    A row goes in with two ``extend`` calls -- its integers into one array, its times into another,
    interleaved -- which is cheaper on the hot path than one append per column. Columns are strided
    views of these arrays when the frames are built.
    """

    __slots__ = ("request_codes", "request_times", "span_codes", "span_times")

    REQUEST_CODES = ("request", "workload", "status", "client", "key")
    REQUEST_TIMES = ("arrival", "end")
    SPAN_CODES = ("request", "service", "replica", "status")
    SPAN_TIMES = ("arrival", "start", "end")

    def __init__(self) -> None:
        self.request_codes, self.request_times = array("q"), array("d")
        self.span_codes, self.span_times = array("q"), array("d")

    @property
    def n_requests(self) -> int:
        return len(self.request_codes) // len(self.REQUEST_CODES)

    @property
    def n_spans(self) -> int:
        return len(self.span_codes) // len(self.SPAN_CODES)


def _columns(buffer: array, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    rows = np.frombuffer(buffer, dtype=buffer.typecode).reshape(-1, len(names))
    return {name: rows[:, index].copy() for index, name in enumerate(names)}


def _frame(
    codes: dict[str, np.ndarray],
    times: dict[str, np.ndarray],
    order: list[str],
    categories: dict[str, tuple[str, ...]],
) -> pd.DataFrame:
    data: dict[str, object] = {**codes, **times}
    for name, labels in categories.items():
        data[name] = pd.Categorical.from_codes(data[name].astype(np.int16), categories=list(labels))
    return pd.DataFrame({name: data[name] for name in order})


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
        return self.recorder.n_requests

    @cached_property
    def requests(self) -> pd.DataFrame:
        r = self.recorder
        frame = _frame(
            _columns(r.request_codes, r.REQUEST_CODES),
            _columns(r.request_times, r.REQUEST_TIMES),
            ["request", "workload", "arrival", "end", "status", "client", "key"],
            {"workload": self.workloads, "status": REQUEST_STATUS},
        )
        frame.insert(4, "latency", frame["end"] - frame["arrival"])
        return frame.sort_values("request", ignore_index=True)  # recorded as they finish

    @cached_property
    def spans(self) -> pd.DataFrame:
        r = self.recorder
        frame = _frame(
            _columns(r.span_codes, r.SPAN_CODES),
            _columns(r.span_times, r.SPAN_TIMES),
            ["request", "service", "replica", "arrival", "start", "end", "status"],
            {"service": self.services, "status": SPAN_STATUS},
        )
        frame["replica"] = frame["replica"].astype(np.int32)
        frame.insert(6, "wait", frame["start"] - frame["arrival"])
        frame.insert(7, "sojourn", frame["end"] - frame["arrival"])
        return frame
