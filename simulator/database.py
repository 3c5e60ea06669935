"""Databases in a scenario: queries that read and write, connection pools, row locks, read replicas,
and event stores.

A service of ``kind: database`` may carry a ``database`` block (for ``read`` and ``write`` calls) and
an ``event_store`` block (for ``append`` and ``load`` calls)::

    orders-db:
      kind: database
      concurrency: 32
      service_time: {dist: exponential, mean: 2ms}     # calls without an op
      database:
        read_time: {dist: exponential, mean: 1ms}
        write_time: {dist: exponential, mean: 4ms}
        pool: {max_connections: 10, max_wait: 1s}      # one pool per calling service
        locks: {keys: {count: 1000, zipf: 1.1}}        # each write locks one row
        read_replicas: {count: 2, lag: {dist: exponential, mean: 200ms}}
    events:
      kind: database
      service_time: 1ms
      event_store: {append_time: 2ms, load_time: 1ms, per_event_load: 0.1ms, snapshot_every: 100}

and a call step names the operation: ``{call: orders-db, op: write}``. The model of one call with an
``op`` (the run-time side is :mod:`simulator.engine.database`, the logic :mod:`patterns.database`
and :mod:`patterns.eventsourcing`):

1. **pool**: the caller takes a connection from *its* pool for this database (each calling service
   -- ``client`` included -- has its own ``max_connections``), waiting first come, first served
   for at most ``max_wait``; a caller that waited that long fails with outcome ``pool_exhausted``.
   The connection is held until the answer is back. Each try of a retried call takes one.
2. **lock** (writes, with ``locks``): at the database, the write takes the exclusive lock of its
   row before it queues for a slot, and holds it until its work ends (the commit): lock waiters
   hold no slot, lock holders may still queue for one. The row is drawn from ``locks.keys`` when
   given, else it is the request's ``key`` (the workload's ``keys``); a request without a key locks
   the one row ``-1``: a table lock.
3. **work**: ``read_time`` or ``write_time`` (default: the service's ``service_time``; a step's own
   ``service_time`` overrides both). Reads go to the **read replicas** when there are any (a
   separate set of ``count`` replicas, balanced round robin, with the primary's ``concurrency``
   unless given; shown as the service ``<name>/replicas``), writes to the primary. A read on a
   replica sees the primary's writes committed at least ``lag`` ago (``lag`` drawn per read): its
   *staleness* is that lag, and it is *stale* when it misses a write of its key (the request's key)
   committed meanwhile.
4. **event store**: ``append`` adds one event to the stream of the request's key, taking
   ``append_time``; ``load`` rehydrates that stream: ``load_time`` (the query and the snapshot), then
   ``per_event_load`` per event since the last snapshot (one every ``snapshot_every`` events; 0:
   never), so without snapshots loads grow with the stream and with them they stay below
   ``load_time + snapshot_every * per_event_load``.
5. **publishing appends** (``event_store.publish: {broker, queue | topic}``): the store is also a
   feed -- each committed append is published, at the instant of its commit, as a message of the
   appending request (its key is the stream) to that queue or topic, with no separate publish step
   and no hop or ``publish_time`` (an outbox relay or change-data capture taken as instantaneous).
   A consumer of it whose route writes to a database is a CQRS *projector*, that database its
   *read model* (:func:`simulator.topology.read_models`).

Faults that name the database hit its primary; its read replicas are not faulted.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from simulator.distributions import Distribution
from simulator.fields import Duration, StrictModel
from simulator.latency import Latency
from simulator.messaging import PublishTarget
from simulator.popularity import Popularity

__all__ = [
    "EVENT_OPS",
    "OPS",
    "QUERY_OPS",
    "DatabaseConfig",
    "EventStoreConfig",
    "LockSettings",
    "Op",
    "PoolSettings",
    "ReadReplicas",
]

Op = Literal["read", "write", "append", "load"]
OPS: tuple[str, ...] = ("read", "write", "append", "load")
"""The operations of a call step on a database, in the order of their codes in the records."""
QUERY_OPS = ("read", "write")
"""Operations served by a ``database`` block."""
EVENT_OPS = ("append", "load")
"""Operations served by an ``event_store`` block."""


class PoolSettings(StrictModel):
    """Each caller's connection pool: ``max_connections`` lent at once, waiting at most ``max_wait``."""

    max_connections: int = Field(ge=1, le=1_000_000)
    max_wait: Duration = 30.0


class LockSettings(StrictModel):
    """Writes lock their row: drawn from ``keys`` when given, else the request's key."""

    keys: Popularity | None = None


class ReadReplicas(StrictModel):
    """``count`` read replicas, ``lag`` behind the primary (fixed or a distribution, drawn per read)."""

    count: int = Field(ge=1, le=10_000)
    lag: Latency = 0.0
    concurrency: int | None = Field(None, ge=1, le=1_000_000)


class DatabaseConfig(StrictModel):
    """The ``database`` block: query costs, the callers' pools, row locks, read replicas."""

    read_time: Distribution | None = None
    write_time: Distribution | None = None
    pool: PoolSettings | None = None
    locks: LockSettings | None = None
    read_replicas: ReadReplicas | None = None


class EventStoreConfig(StrictModel):
    """The ``event_store`` block: the cost of an append and of a load (the module docstring), and
    where each committed append is published (``publish``: a queue or topic of a broker)."""

    append_time: Latency
    load_time: Duration = 0.0
    per_event_load: Duration = 0.0
    snapshot_every: int = Field(0, ge=0)
    pool: PoolSettings | None = None
    publish: PublishTarget | None = None
