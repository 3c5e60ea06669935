"""Clients contending on one row with optimistic concurrency: how backoff and jitter change the cost.

A reproduction of the experiment in Marc Brooker, "Exponential Backoff And Jitter" (AWS Architecture
Blog, 2015, https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/), whose simulator
is published as ``aws-samples/aws-arch-backoff-simulator``. The model is re-derived here, not copied;
the backoffs themselves come from :func:`patterns.retry.make_backoff` (the simulator never re-implements
a pattern).

The model
---------
``clients`` clients all start at time 0 and each must update the same database row exactly once,
under optimistic concurrency control (OCC, as with DynamoDB conditional writes). The row carries a
version number. One **attempt** of a client is:

1. a *read*: the request travels to the database (one network delay), which notes the row's
   current version and sends it back (one network delay);
2. a *conditional write* "set the row, if its version is still the one I read": the request travels
   to the database (one network delay), which applies it and bumps the version **iff no other write
   succeeded since this client's read reached the database**, and replies success or failure (one
   network delay).

Each one-way network delay is ``|Normal(network_mean, network_sd)|`` (10 ms and 2 ms by default, as in
the blog; the fold at 0 is five standard deviations away and practically never acts), drawn
independently for every message. A write therefore **conflicts** when another client's write reached
the database inside its window between read and write, about two network delays long: the version it
read is stale, so writing would silently overwrite an update it never saw, and OCC refuses it. The
database serves every message at once (no queueing): what costs is contention, not load.

After a failure the client sleeps ``backoff.delay(n, previous)`` seconds, ``n`` being the number of the
retry about to be made (1 for the first, so exponential backoff first waits ``2 * base``; see
:mod:`patterns.retry`) and ``previous`` its last sleep (used by decorrelated jitter), then starts a new
attempt with a fresh read. A success ends the client. Measured per run:

* ``calls``: conditional writes sent (the blog's "calls"; every one was preceded by one read, so the
  database handled ``2 * calls`` requests), at least ``clients``;
* ``completion_time``: seconds from the start until the last client received its success reply.

Progress is guaranteed (the first write to reach the database after a read that followed the last
success succeeds), so every run ends; still every run is bounded by ``max_calls`` (and optionally
``max_time``), past which it raises :class:`ContentionLimitError`.

What the blog finds, and this model reproduces: without backoff all clients meet every round, so one
client succeeds per round, completion grows linearly and calls quadratically with ``clients``.
Exponential backoff *without jitter* keeps clients that failed together in step, so they keep colliding
(calls barely improve, time gets far worse). Jitter spreads the retries: far fewer calls and much less
time. Among the jittered kinds, full jitter does the least work; equal jitter does slightly more and
takes much longer (its sleeps never go below half the ceiling); decorrelated jitter does a little more
work than full jitter and takes about as long or slightly less.

Randomness and common random numbers
------------------------------------
All randomness derives from ``numpy.random.SeedSequence(seed)`` with spawn keys that start with
(clients, replication). Network delays form a table, one row per client, one column per message the
client sends or receives, drawn from a key that does not include the backoff kind: kinds compared at the
same (seed, clients, replication) see the same delays message for message (so the first round, before
any backoff, is identical). Each client's backoff draws from its own ``random.Random``, seeded from a
key that includes the kind. Results are deterministic for a seed.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zlib import crc32

import numpy as np
import pandas as pd

from patterns.retry import BACKOFFS, make_backoff
from simulator.figures import axes_or_new
from simulator.summary import confidence_interval

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "DEFAULT_CLIENTS",
    "DEFAULT_KINDS",
    "METRICS",
    "ContentionLimitError",
    "ContentionResult",
    "plot_contention",
    "run_contention",
    "summarize_contention",
    "sweep_contention",
]

DEFAULT_KINDS: tuple[str, ...] = ("exponential", "full_jitter", "equal_jitter", "decorrelated_jitter")
"""The blog's comparison: exponential backoff without jitter, and its three jittered variants."""

DEFAULT_CLIENTS: tuple[int, ...] = tuple(range(10, 101, 10))
"""Client counts swept by default: 10, 20, ..., 100."""

METRICS: tuple[str, ...] = ("calls", "completion_time")
"""The measured columns of :func:`sweep_contention` that :func:`plot_contention` can draw."""

DEFAULT_MAX_CALLS = 1_000_000
"""Default bound on the conditional writes of one run (100 clients without backoff need about 2,400)."""

_LABELS = {
    "none": "no backoff",
    "constant": "constant",
    "exponential": "exponential, no jitter",
    "full_jitter": "full jitter",
    "equal_jitter": "equal jitter",
    "decorrelated_jitter": "decorrelated jitter",
}

# Event phases, in the order one attempt goes through them.
_READ = 0  # the read reaches the database, which notes the version
_WRITE = 1  # the conditional write reaches the database, which applies or refuses it
_REPLY = 2  # the write's outcome reaches the client

_NETWORK_STREAM = crc32(b"contention:network")
_BLOCK = 32  # network delays drawn per client at a time: 8 attempts of 4 hops


class ContentionLimitError(RuntimeError):
    """A run went past its bound on calls (``max_calls``) or on simulated time (``max_time``)."""


@dataclass(frozen=True, slots=True)
class ContentionResult:
    """One run: ``calls`` conditional writes in all; the last client succeeded at ``completion_time`` s."""

    kind: str
    clients: int
    calls: int
    completion_time: float

    @property
    def failures(self) -> int:
        """Writes refused because of a conflict: every call but each client's one success."""
        return self.calls - self.clients


def _seed_sequence(seed: int, *key: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed, spawn_key=key)


def _backoff_rngs(seed: int, clients: int, replication: int, kind: str) -> list[random.Random]:
    """One ``random.Random`` per client for ``kind``'s backoff, from one ``SeedSequence`` hash.

    The spawn key is (clients, replication, crc32 of the kind); client ``i`` is seeded with words
    ``4i .. 4i+3`` of the sequence's generated state (128 well-mixed bits each).
    """
    stream = crc32(f"contention:backoff:{kind}".encode())
    words = _seed_sequence(seed, clients, replication, stream).generate_state(4 * clients, np.uint32)
    return [random.Random(int.from_bytes(row.tobytes(), "little")) for row in words.reshape(clients, 4)]


class _Network:
    """One-way delays ``|Normal(mean, sd)|``: client ``i``'s ``j``-th hop is entry ``(i, j)`` of a table.

    The table is drawn in blocks of :data:`_BLOCK` columns, block ``b`` from the spawn key
    (clients, replication, network stream, b), only when some client first needs it. It does not
    depend on the backoff kind, so kinds see the same delays message for message.
    """

    __slots__ = ("_blocks", "_key", "_mean", "_sd", "_seed", "rows", "used")

    def __init__(self, seed: int, clients: int, replication: int, mean: float, sd: float) -> None:
        self._seed, self._key, self._mean, self._sd = seed, (clients, replication, _NETWORK_STREAM), mean, sd
        self._blocks: list[list[list[float]]] = []
        self.rows: list[list[float]] = [[] for _ in range(clients)]
        self.used = [0] * clients

    def hop(self, client: int) -> float:
        """The next one-way delay of ``client``'s messages (seconds)."""
        j = self.used[client]
        self.used[client] = j + 1
        row = self.rows[client]
        if j == len(row):
            row.extend(self._block(j // _BLOCK)[client])
        return row[j]

    def _block(self, index: int) -> list[list[float]]:
        while len(self._blocks) <= index:
            rng = np.random.default_rng(_seed_sequence(self._seed, *self._key, len(self._blocks)))
            table = np.abs(rng.normal(self._mean, self._sd, size=(len(self.rows), _BLOCK)))
            self._blocks.append(table.tolist())
        return self._blocks[index]


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")


def run_contention(
    clients: int,
    kind: str,
    *,
    seed: int = 0,
    replication: int = 0,
    network_mean: float = 0.010,
    network_sd: float = 0.002,
    base: float = 0.005,
    cap: float = 2.0,
    max_calls: int = DEFAULT_MAX_CALLS,
    max_time: float | None = None,
) -> ContentionResult:
    """Run the OCC contention experiment once (see the module docstring for the model).

    ``kind`` is any of :data:`patterns.retry.BACKOFFS`, built with ``base`` and ``cap`` (seconds).
    ``network_mean`` and ``network_sd`` (seconds) set each one-way delay ``|Normal(mean, sd)|``.
    Raises :class:`ContentionLimitError` once a run would send more than ``max_calls`` writes or go past
    ``max_time`` simulated seconds; invalid arguments raise ``ValueError``.
    """
    _check_int("clients", clients, 1)
    _check_int("seed", seed, 0)
    _check_int("replication", replication, 0)
    _check_int("max_calls", max_calls, clients)
    if not (math.isfinite(network_mean) and network_mean > 0):
        raise ValueError(f"network_mean must be finite and > 0 (seconds), got network_mean={network_mean!r}")
    if not (math.isfinite(network_sd) and network_sd >= 0):
        raise ValueError(f"network_sd must be finite and >= 0 (seconds), got network_sd={network_sd!r}")
    if max_time is not None and not (max_time > 0):
        raise ValueError(f"max_time must be None or > 0 (seconds), got max_time={max_time!r}")
    limit = math.inf if max_time is None else max_time

    # One backoff per client, each with its own random stream (a bad kind, base or cap raises here).
    backoffs = [
        make_backoff(kind, base=base, cap=cap, rng=rng)
        for rng in _backoff_rngs(seed, clients, replication, kind)
    ]
    hop = _Network(seed, clients, replication, network_mean, network_sd).hop
    push, pop = heapq.heappush, heapq.heappop

    version = 0
    seen = [0] * clients  # the version each client's latest read returned
    won = [False] * clients  # whether each client's latest write succeeded
    retries = [0] * clients
    previous: list[float | None] = [None] * clients
    calls = done = 0
    now = 0.0
    seq = 0  # breaks ties between events at the same time, in scheduling order
    events: list[tuple[float, int, int, int]] = []
    for client in range(clients):
        events.append((hop(client), seq, client, _READ))
        seq += 1
    heapq.heapify(events)

    while done < clients:
        now, _, client, phase = pop(events)
        if now > limit:
            raise ContentionLimitError(
                f"contention run passed max_time={max_time} s with {done} of {clients} clients done "
                f"after {calls} calls (kind={kind!r})"
            )
        if phase == _READ:
            seen[client] = version
            # The version travels back, then the conditional write travels out.
            push(events, (now + hop(client) + hop(client), seq, client, _WRITE))
        elif phase == _WRITE:
            if calls == max_calls:
                raise ContentionLimitError(
                    f"contention run reached max_calls={max_calls} with {done} of {clients} clients done "
                    f"at t={now:.3f} s (kind={kind!r}); raise max_calls or use a backoff that spreads retries"
                )
            calls += 1
            won[client] = seen[client] == version
            if won[client]:
                version += 1
            push(events, (now + hop(client), seq, client, _REPLY))
        elif won[client]:
            done += 1
        else:
            retries[client] += 1
            wait = backoffs[client].delay(retries[client], previous[client])
            previous[client] = wait
            push(events, (now + wait + hop(client), seq, client, _READ))
        seq += 1
    return ContentionResult(kind=kind, clients=clients, calls=calls, completion_time=now)


def sweep_contention(
    clients: Iterable[int] = DEFAULT_CLIENTS,
    kinds: Iterable[str] = DEFAULT_KINDS,
    replications: int = 20,
    *,
    seed: int = 0,
    network_mean: float = 0.010,
    network_sd: float = 0.002,
    base: float = 0.005,
    cap: float = 2.0,
    max_calls: int = DEFAULT_MAX_CALLS,
    max_time: float | None = None,
) -> pd.DataFrame:
    """Every client count x backoff kind x replication, one row per run (deterministic for ``seed``).

    Columns: ``kind`` (backoff kind, str), ``clients`` (int), ``replication`` (int, from 0),
    ``calls`` (conditional writes sent, int), ``failures`` (writes refused by a conflict,
    ``calls - clients``) and ``completion_time`` (seconds until the last client succeeded).
    Run ``(kind, clients, r)`` is :func:`run_contention` with ``replication=r``, so kinds share network
    delays at equal ``(clients, r)``. The other arguments are passed on to every run.
    """
    _check_int("replications", replications, 1)
    counts = list(clients)
    names = list(kinds)
    if not counts or not names:
        raise ValueError(f"a sweep needs at least one client count and one kind, got {counts} and {names}")
    unknown = [name for name in names if name not in BACKOFFS]
    if unknown:
        raise ValueError(f"unknown backoff kinds {unknown}; known kinds: {', '.join(BACKOFFS)}")
    rows = []
    for kind in names:
        for n in counts:
            for r in range(replications):
                result = run_contention(
                    n,
                    kind,
                    seed=seed,
                    replication=r,
                    network_mean=network_mean,
                    network_sd=network_sd,
                    base=base,
                    cap=cap,
                    max_calls=max_calls,
                    max_time=max_time,
                )
                rows.append((kind, n, r, result.calls, result.failures, result.completion_time))
    return pd.DataFrame(
        rows, columns=["kind", "clients", "replication", "calls", "failures", "completion_time"]
    )


def summarize_contention(frame: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per (kind, clients) of a :func:`sweep_contention` frame: mean and CI half-width of each metric.

    Columns: ``kind``, ``clients``, ``n`` (replications), and for each of :data:`METRICS` its ``mean``
    as ``<metric>`` and the half-width of its Student-t interval at ``level`` as ``<metric>_half``
    (NaN with a single replication). Kinds keep their order of appearance; clients are sorted.
    """
    rows = []
    for (kind, n), group in frame.groupby(["kind", "clients"], sort=False):
        row: dict[str, object] = {"kind": kind, "clients": int(n), "n": len(group)}
        for metric in METRICS:
            mean, half = confidence_interval(group[metric].to_numpy(), level)
            row[metric], row[f"{metric}_half"] = mean, half
        rows.append(row)
    summary = pd.DataFrame(rows)
    order = {kind: i for i, kind in enumerate(dict.fromkeys(frame["kind"]))}
    summary["_order"] = summary["kind"].map(order)
    return summary.sort_values(["_order", "clients"]).drop(columns="_order").reset_index(drop=True)


def plot_contention(
    frame: pd.DataFrame, metric: str = "calls", ax: Axes | None = None, level: float = 0.95
) -> Axes:
    """Mean ``metric`` (``"calls"`` or ``"completion_time"``) against clients, one line per backoff kind.

    ``frame`` is a :func:`sweep_contention` frame; a band shows the ``level`` confidence interval of
    the mean when there are several replications. Completion time is drawn in milliseconds.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got metric={metric!r}")
    ax = axes_or_new(ax)
    summary = summarize_contention(frame, level)
    scale = 1e3 if metric == "completion_time" else 1.0
    for kind, group in summary.groupby("kind", sort=False):
        x = group["clients"].to_numpy()
        mean = group[metric].to_numpy() * scale
        (line,) = ax.plot(x, mean, marker="o", label=_LABELS.get(str(kind), str(kind)))
        half = group[f"{metric}_half"].to_numpy() * scale
        if np.isfinite(half).any():
            ax.fill_between(x, mean - half, mean + half, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("clients contending on one row")
    if metric == "calls":
        ax.set_ylabel("calls (conditional writes, all clients)")
        ax.set_title("Work done until every client has written once")
    else:
        ax.set_ylabel("completion time (ms)")
        ax.set_title("Time until the last client has written")
    ax.grid(True, alpha=0.3)
    if summary["kind"].nunique() > 1:
        ax.legend(title="backoff")
    return ax
