"""What a run leaves behind: one row per request and one per call (span), stored column-wise.

The engine appends to typed ``array`` buffers (8 bytes a value, no Python object per value), which
keeps a million-request run small; :class:`RunResult` turns them into pandas DataFrames on demand.

``requests`` columns, one row per request in order of arrival: ``request`` (id, numbered in that
order), ``workload`` (name), ``arrival`` and ``end`` (seconds of simulated time), ``latency``
(``end - arrival``, seconds), ``status`` (one of :data:`OUTCOMES`, below), ``client`` and ``key`` (the
sender and the resource asked for, when the workload draws them; -1 otherwise).

The outcome of a request, or of one try on a call edge with resilience policies (:data:`OUTCOMES`):
``ok``; ``fallback`` (a call failed but its edge answered with a fallback); ``error`` (a call failed:
a crash, an injected error, a failure further down); ``timeout`` (a try or the deadline ran out);
refused somewhere on the way -- ``limited`` (a gateway's rate limit, HTTP 429), ``rejected`` (a full
queue), ``shed`` (a service's load shedder), ``concurrency_limited`` (a service's adaptive concurrency
limit), ``breaker_open`` (the caller's circuit breaker), ``bulkhead_full`` (the caller's bulkhead),
``pool_exhausted`` (no database connection came free in the caller's pool within its ``max_wait``); and
for tries only ``cancelled`` (a hedge's loser, abandoned once another try answered). A request that
fails takes the reason of the last refusal or timeout on its way (``error`` if there was none).

``spans`` columns: ``request``, ``span`` (the call's id, unique in the run, numbered in the order
calls were sent), ``parent`` (the span id of the call whose nested calls made it; :data:`CLIENT` (-1)
for a call the client made, :data:`MESSAGE` (-2) for a message's delivery to a consumer, the root of
a trace of its own -- see :mod:`simulator.traces`; each try of a guarded call is a span of its own
with the same parent), ``service``, ``replica`` (index), ``arrival`` (at the service),
``start`` (a slot was taken), ``end`` (the slot was released), ``wait`` (``start - arrival``),
``sojourn`` (``end - arrival``), ``status`` (``ok``; ``rejected`` when the queue was full;
``failed`` when a call it made failed, its replica crashed under it, or an injected fault made it
answer with an error; at gateways ``limited`` by a rate limit (replica -1),
``cached`` when answered from the cache, ``coalesced`` when it shared another call's answer;
``refused`` when sent to a replica that is down, or when no replica was known to be up; ``shed`` and
``concurrency_limited`` when the service's shedder or adaptive limit refused it at the door;
``expired`` when its request's deadline had passed before it could start, so it was dropped unserved;
``cancelled`` when a hedged call's other try answered first and this one was still queued).

``tries`` columns, one row per try on a call edge with resilience policies: ``request``, ``edge``
(``caller->callee``), ``attempt`` (1 for the first try, n for the (n-1)th retry; a hedge shares the
number of the try it backs up), ``kind`` (``first``, ``retry``, ``hedge``), ``outcome`` (see above),
``start`` and ``end`` (seconds; the end is when the caller stopped waiting for it).

``breakers`` columns, one row per circuit-breaker state change: ``time``, ``edge``, ``from_state`` and
``to_state`` (``closed``, ``open``, ``half_open``).

``messages`` columns, one row per message and channel that reads it (a queue; for a topic, each of
its consumer groups), sorted by channel and message (:mod:`simulator.messaging`): ``message`` (id,
numbered in publish order), ``request`` (the workload's request whose flow published it, directly
or from a consumer's handling), ``broker``, ``channel`` (the queue, or ``topic:group``),
``partition`` (-1 for queues), ``poison`` (its handling always fails, as drawn at publication),
``published``, ``delivered`` (first delivery; NaN if never), ``settled`` (when it was acked,
dead-lettered or expired; NaN if still pending when the run ended), ``deliveries`` (how many times
it was handed to a consumer), ``outcome`` (one of :data:`MESSAGE_OUTCOMES`: ``acked``,
``dead_lettered``, ``expired``, ``pending``), ``wait`` (``delivered - published``) and ``lag``
(``settled - published``: for an acked message, the time from publication to acknowledgement).
``db_ops`` columns, one row per call with an ``op`` on a database (each try of a retried call is one;
see :mod:`simulator.database`): ``request``, ``database`` (the service), ``caller`` (the calling service
or ``client``), ``op`` (``read``, ``write``, ``append``, ``load``), ``outcome`` (see above), ``replica``
(the read went to a read replica), ``stale`` (it missed a committed write of its key; only for
replica reads), ``replayed`` (events a ``load`` replayed after the snapshot, -1 otherwise), ``start``
(when it asked for a connection) and ``end`` (when its answer was back, or it gave up), and in
seconds ``pool_wait`` (waiting for a connection), ``lock_wait`` (waiting for its row lock; NaN
without one), ``staleness`` (the lag of the replica it read; NaN unless a replica read) and ``work``
(from taking a slot to the end of its work; a load's rehydration time).

``scaling`` columns, one row per change of an autoscaled service's replicas (services without
``autoscaling`` have none): ``time``, ``service``, ``replica`` (index; new replicas get new indices),
``event`` (``start``: created, not ready yet; ``ready``: gets traffic from now on; ``drain``: gets no
new calls, finishes what it holds; ``stop``: gone), ``slots`` (the replica's concurrency),
``ready`` (replicas getting traffic after the event) and ``total`` (replicas that exist after the
event: starting, ready and draining -- the ones that cost). The replicas present at t = 0 have a
``start`` and a ``ready`` row at 0. Services with ``deployments`` have these rows too (their
replicas come and go as they are replaced).

``versions`` columns, one row per replica of a service that is deployed or runs a version with a
profile (:mod:`simulator.deployments`; other services have none): ``service``, ``replica``
(index, as in ``spans`` and ``scaling``) and ``version`` (the code it runs). Joined with ``spans``
on (service, replica) it gives per-version error rates and latencies
(:func:`simulator.releases.version_spans`).

``deployments`` columns, one row per step of a rollout: ``time``, ``service``, ``version`` (the
one being rolled out), ``event`` (one of :data:`DEPLOYMENT_EVENTS`: ``started``; ``step``, the
traffic share of a canary changed; ``promoted``, an analysis (or a blue-green switch) let the
release go on; ``rolled_back``, the analysis stopped it and the canary was drained; ``completed``,
every replica runs the new version) and ``weight`` (the share of traffic routed to the new
version from then on; a rolling update's is 0 until it completes, then 1).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from functools import cached_property
from itertools import count

import numpy as np
import pandas as pd

from simulator.database import OPS

__all__ = [
    "ANSWERED",
    "BREAKER_STATES",
    "CLIENT",
    "DEPLOYMENT_EVENTS",
    "MESSAGE",
    "MESSAGE_OUTCOMES",
    "OUTCOMES",
    "SCALING_EVENTS",
    "SPAN_STATUS",
    "SUCCESSFUL",
    "TRY_KINDS",
    "Outcome",
    "Recorder",
    "RunResult",
    "Status",
]


CLIENT = -1
"""The ``parent`` of a span for a call the client made (outside any call of a service)."""
MESSAGE = -2
"""The ``parent`` of a span for a message's delivery to its consumer (the root of its own trace)."""


class Status:
    """Span status codes, as stored in the records (names in :data:`SPAN_STATUS`)."""

    OK, REJECTED, FAILED, LIMITED, CACHED, COALESCED, REFUSED, SHED, CONCURRENCY_LIMITED = range(9)
    EXPIRED, CANCELLED = 9, 10


SPAN_STATUS = (
    "ok",
    "rejected",
    "failed",
    "limited",
    "cached",
    "coalesced",
    "refused",
    "shed",
    "concurrency_limited",
    "expired",
    "cancelled",
)
SUCCESSFUL = ("ok", "cached", "coalesced")
"""Span statuses of calls that answered successfully (from their own work, the cache, or a shared call)."""


class Outcome:
    """Outcome codes of requests and tries (names in :data:`OUTCOMES`)."""

    OK, FALLBACK, ERROR, TIMEOUT, LIMITED, REJECTED, SHED, CONCURRENCY_LIMITED = range(8)
    BREAKER_OPEN, BULKHEAD_FULL, CANCELLED, POOL_EXHAUSTED = 8, 9, 10, 11


OUTCOMES = (
    "ok",
    "fallback",
    "error",
    "timeout",
    "limited",
    "rejected",
    "shed",
    "concurrency_limited",
    "breaker_open",
    "bulkhead_full",
    "cancelled",
    "pool_exhausted",
)
ANSWERED = ("ok", "fallback")
"""Request outcomes where the client got an answer (a full one, or a fallback)."""
TRY_KINDS = ("first", "retry", "hedge")
BREAKER_STATES = ("closed", "open", "half_open")
MESSAGE_OUTCOMES = ("acked", "dead_lettered", "expired", "pending")
SCALING_EVENTS = ("start", "ready", "drain", "stop")
DEPLOYMENT_EVENTS = ("started", "step", "promoted", "rolled_back", "completed")


class Recorder:
    """Row buffers the engine appends to, two typed arrays per table.

    A row goes in with two ``extend`` calls -- its integers into one array, its times into another,
    interleaved -- which is cheaper on the hot path than one append per column. Columns are strided
    views of these arrays when the frames are built.
    """

    __slots__ = (
        "breaker_codes",
        "breaker_times",
        "db_codes",
        "db_times",
        "deploy_codes",
        "deploy_times",
        "message_codes",
        "message_times",
        "request_codes",
        "request_times",
        "scaling_codes",
        "scaling_times",
        "span_codes",
        "span_ids",
        "span_times",
        "try_codes",
        "try_times",
        "version_codes",
    )

    REQUEST_CODES = ("request", "workload", "status", "client", "key")
    REQUEST_TIMES = ("arrival", "end")
    SPAN_CODES = ("request", "span", "parent", "service", "replica", "status")
    SPAN_TIMES = ("arrival", "start", "end")
    TRY_CODES = ("request", "edge", "attempt", "kind", "outcome")
    TRY_TIMES = ("start", "end")
    BREAKER_CODES = ("edge", "from_state", "to_state")
    BREAKER_TIMES = ("time",)
    MESSAGE_CODES = ("message", "request", "channel", "partition", "poison", "deliveries", "outcome")
    MESSAGE_TIMES = ("published", "delivered", "settled")
    DB_CODES = ("request", "database", "caller", "op", "outcome", "replica", "stale", "replayed")
    DB_TIMES = ("start", "end", "pool_wait", "lock_wait", "staleness", "work")
    SCALING_CODES = ("service", "replica", "event", "slots", "ready", "total")
    SCALING_TIMES = ("time",)
    VERSION_CODES = ("service", "replica", "version")
    DEPLOY_CODES = ("service", "version", "event")
    DEPLOY_TIMES = ("time", "weight")

    def __init__(self) -> None:
        self.request_codes, self.request_times = array("q"), array("d")
        self.span_codes, self.span_times = array("q"), array("d")
        self.span_ids = count()  # span ids, handed out to calls as they are sent
        self.try_codes, self.try_times = array("q"), array("d")
        self.breaker_codes, self.breaker_times = array("q"), array("d")
        self.message_codes, self.message_times = array("q"), array("d")
        self.db_codes, self.db_times = array("q"), array("d")
        self.scaling_codes, self.scaling_times = array("q"), array("d")
        self.version_codes = array("q")
        self.deploy_codes, self.deploy_times = array("q"), array("d")

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
    edges: tuple[str, ...] = ()
    """Names (``caller->callee``) of the call edges with resilience policies, as coded in ``tries``."""
    channels: tuple[str, ...] = ()
    """Names of the queues and topic consumer groups (``topic:group``), as coded in ``messages``."""
    channel_brokers: tuple[str, ...] = ()
    """The broker of each channel."""
    callers: tuple[str, ...] = ()
    """Names of the callers in ``db_ops`` (``client``, then the services), as coded there."""
    replicas: dict[str, int] = field(default_factory=dict)
    """Replicas of each service at the start (all the time, unless it is autoscaled)."""
    prices: dict[str, float] = field(default_factory=dict)
    """Price of one replica-hour of each service (0 when the scenario gives none)."""
    version_names: tuple[str, ...] = ()
    """Names of the versions, as coded in ``versions`` and ``deployments``."""
    read_models: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """CQRS read models: database -> the channels its projectors apply (see ``topology.read_models``)."""

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
            {"workload": self.workloads, "status": OUTCOMES},
        )
        frame.insert(4, "latency", frame["end"] - frame["arrival"])
        return frame.sort_values("request", ignore_index=True)  # recorded as they finish

    @cached_property
    def spans(self) -> pd.DataFrame:
        r = self.recorder
        frame = _frame(
            _columns(r.span_codes, r.SPAN_CODES),
            _columns(r.span_times, r.SPAN_TIMES),
            ["request", "span", "parent", "service", "replica", "arrival", "start", "end", "status"],
            {"service": self.services, "status": SPAN_STATUS},
        )
        frame["replica"] = frame["replica"].astype(np.int32)
        frame.insert(8, "wait", frame["start"] - frame["arrival"])
        frame.insert(9, "sojourn", frame["end"] - frame["arrival"])
        return frame

    @cached_property
    def tries(self) -> pd.DataFrame:
        r = self.recorder
        return _frame(
            _columns(r.try_codes, r.TRY_CODES),
            _columns(r.try_times, r.TRY_TIMES),
            ["request", "edge", "attempt", "kind", "outcome", "start", "end"],
            {"edge": self.edges, "kind": TRY_KINDS, "outcome": OUTCOMES},
        )

    @cached_property
    def breakers(self) -> pd.DataFrame:
        r = self.recorder
        return _frame(
            _columns(r.breaker_codes, r.BREAKER_CODES),
            _columns(r.breaker_times, r.BREAKER_TIMES),
            ["time", "edge", "from_state", "to_state"],
            {"edge": self.edges, "from_state": BREAKER_STATES, "to_state": BREAKER_STATES},
        )

    @cached_property
    def messages(self) -> pd.DataFrame:
        r = self.recorder
        frame = _frame(
            _columns(r.message_codes, r.MESSAGE_CODES),
            _columns(r.message_times, r.MESSAGE_TIMES),
            [*r.MESSAGE_CODES[:5], *r.MESSAGE_TIMES, *r.MESSAGE_CODES[5:]],
            {"channel": self.channels, "outcome": MESSAGE_OUTCOMES},
        )
        brokers = list(dict.fromkeys(self.channel_brokers))
        per_channel = np.asarray([brokers.index(b) for b in self.channel_brokers], dtype=np.int16)
        codes = per_channel[frame["channel"].cat.codes.to_numpy()] if len(frame) else np.zeros(0, np.int16)
        frame.insert(2, "broker", pd.Categorical.from_codes(codes, categories=brokers))
        frame["poison"] = frame["poison"].astype(bool)
        frame["wait"] = frame["delivered"] - frame["published"]
        frame["lag"] = frame["settled"] - frame["published"]
        return frame.sort_values(["channel", "message"], ignore_index=True)

    @cached_property
    def db_ops(self) -> pd.DataFrame:
        r = self.recorder
        frame = _frame(
            _columns(r.db_codes, r.DB_CODES),
            _columns(r.db_times, r.DB_TIMES),
            [
                "request",
                "database",
                "caller",
                "op",
                "outcome",
                "replica",
                "stale",
                "replayed",
                "start",
                "end",
                "pool_wait",
                "lock_wait",
                "staleness",
                "work",
            ],
            {"database": self.services, "caller": self.callers, "op": OPS, "outcome": OUTCOMES},
        )
        frame["replica"] = frame["replica"].astype(bool)
        frame["stale"] = frame["stale"].astype(bool)
        return frame

    @cached_property
    def scaling(self) -> pd.DataFrame:
        r = self.recorder
        frame = _frame(
            _columns(r.scaling_codes, r.SCALING_CODES),
            _columns(r.scaling_times, r.SCALING_TIMES),
            ["time", "service", "replica", "event", "slots", "ready", "total"],
            {"service": self.services, "event": SCALING_EVENTS},
        )
        return frame

    @cached_property
    def versions(self) -> pd.DataFrame:
        r = self.recorder
        codes = _columns(r.version_codes, r.VERSION_CODES)
        return _frame(
            codes,
            {},
            ["service", "replica", "version"],
            {"service": self.services, "version": self.version_names},
        )

    @cached_property
    def deployments(self) -> pd.DataFrame:
        r = self.recorder
        return _frame(
            _columns(r.deploy_codes, r.DEPLOY_CODES),
            _columns(r.deploy_times, r.DEPLOY_TIMES),
            ["time", "service", "version", "event", "weight"],
            {"service": self.services, "version": self.version_names, "event": DEPLOYMENT_EVENTS},
        )
