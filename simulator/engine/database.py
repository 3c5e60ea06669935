"""Database calls at run time: connection pools, row locks, read replicas and event stores.

The model is :mod:`simulator.database`'s; the bookkeeping is :mod:`patterns.database`'s
(``ConnectionPool``, ``LockTable``, ``ReplicationLog``) and :mod:`patterns.eventsourcing`'s
(``EventStore``). A call step with an ``op`` compiles to a :class:`DatabaseNode`, a :class:`CallNode`
whose ``send`` first takes a connection from the caller's pool (or waits for one, or fails with
``pool_exhausted``), puts an :class:`Operation` in front of the caller's continuation, and on arrival
at the database takes the write's row lock before the call joins the station. Its ``respond`` (the
end of the call at the database) commits the write or appends the event and hands the lock on; the
operation, when the answer is back, gives the connection to the next waiter and records the row of
the ``db_ops`` table. Hand-overs to waiters go through zero-delay events, so a run of failures never
recurses.

Nothing here exists for a scenario without ``op`` steps: :func:`install_databases` returns ``None``.

**Hook for projections**: ``Databases.stores[name]`` is the :class:`patterns.eventsourcing.EventStore`
of an event-store database; ``store.subscribe(handler)`` calls ``handler(event)`` at the simulated
time of each append (``event.stream`` is the request's key, ``event.time`` the commit time,
``event.data`` the appending request), which is where a CQRS projector -- a consumer that updates a
read model, possibly through a broker -- attaches; an ``event_store.publish`` target is attached there
by :meth:`simulator.engine.messaging.Brokers.publish_appends`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

import simpy
from simpy.core import NORMAL
from simpy.events import Event

from patterns.database import ConnectionPool, LockTable, ReplicationLog
from patterns.eventsourcing import EventStore
from simulator.balancer import RoundRobinConfig, build_policy
from simulator.database import OPS, PoolSettings
from simulator.engine.calls import Call, CallNode
from simulator.engine.stations import Replica, Station
from simulator.latency import Latency
from simulator.records import Outcome
from simulator.scenario import CLIENT, CallStep, Service
from simulator.topology import call_sites

if TYPE_CHECKING:
    from simulator.engine.build import Engine

__all__ = [
    "APPEND",
    "LOAD",
    "READ",
    "WRITE",
    "Database",
    "DatabaseNode",
    "Databases",
    "Operation",
    "install_databases",
]

READ, WRITE, APPEND, LOAD = range(4)
_NAN = math.nan


def install_databases(engine: Engine) -> Databases | None:
    """The run-time databases of ``engine``'s scenario, or ``None`` when no call step has an ``op``."""
    scenario = engine.scenario
    for steps in scenario.routes.values():
        if any(site.op is not None for site in call_sites(steps, CLIENT, ())):
            return Databases(engine)
    return None


class Database:
    """One database service at run time: its primary, read replicas, locks, commit log, event store."""

    def __init__(self, engine: Engine, name: str, service: Service, replica_code: int | None) -> None:
        self.engine, self.name, self.service = engine, name, service
        self.code = engine.service_names.index(name)
        self.primary = engine.stations[name]
        config = service.database
        clock = engine.clock
        self.locks: LockTable[int, Operation] | None = None
        self.lock_key: Callable[[int], int] | None = None
        self.log: ReplicationLog[int] | None = None
        self.replicas: Station | None = None
        self.lag: Callable[[], float] | None = None
        if config is not None and config.locks is not None:
            self.locks = LockTable(clock)
            if config.locks.keys is not None:
                draw = config.locks.keys.sampler(engine.streams(f"locks:{name}"))
                self.lock_key = lambda _: draw()
        if config is not None and config.read_replicas is not None and replica_code is not None:
            replicas = config.read_replicas
            self.log = ReplicationLog(clock)
            self.lag = _draw(engine, f"lag:{name}", replicas.lag)
            slots = replicas.concurrency or service.concurrency
            seed = int(engine.streams(f"balancer:{name}/replicas").integers(2**63))
            policy = build_policy(RoundRobinConfig(), random.Random(seed), clock)
            self.replicas = Station(
                engine.env,
                engine.recorder,
                replica_code,
                [Replica(i, slots, service.queue_capacity) for i in range(replicas.count)],
                policy,
            )
        store = service.event_store
        self.store = (
            None
            if store is None
            else EventStore(
                clock, store.snapshot_every, store.load_time, store.per_event_load, keep_events=False
            )
        )
        self.pools: dict[tuple[str, str], ConnectionPool[Operation] | None] = {}

    def pool(
        self, caller: str, block: str, settings: PoolSettings | None
    ) -> ConnectionPool[Operation] | None:
        """``caller``'s own pool for this database's ``block`` (``database`` or ``event_store``)."""
        key = (caller, block)
        if key not in self.pools:
            self.pools[key] = (
                None
                if settings is None
                else ConnectionPool(settings.max_connections, settings.max_wait, self.engine.clock)
            )
        return self.pools[key]


class Databases:
    """Every database of a replication (those with read replicas add a station ``<name>/replicas``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.callers = (CLIENT, *engine.scenario.services)
        self.extra: list[tuple[str, int]] = []  # (name, capacity) of the read-replica stations
        self.by_name: dict[str, Database] = {}
        code = len(engine.service_names)
        for name, service in engine.scenario.services.items():
            if service.kind != "database":
                continue
            replicas = service.database.read_replicas if service.database is not None else None
            self.by_name[name] = Database(engine, name, service, code if replicas else None)
            if replicas is not None:
                self.extra.append(
                    (f"{name}/replicas", replicas.count * (replicas.concurrency or service.concurrency))
                )
                code += 1
        self.stores = {name: db.store for name, db in self.by_name.items() if db.store is not None}

    def node(
        self, step: CallStep, caller: str, where: str, latency: Callable[[], float] | None
    ) -> DatabaseNode:
        """The call node of a call step with an ``op`` (checked by the topology to suit its database)."""
        engine, db = self.engine, self.by_name[step.call]
        service, op = db.service, OPS.index(step.op or "")
        config, store = service.database, service.event_store
        station = db.primary
        if op in (READ, WRITE):
            cost = config and (config.read_time if op == READ else config.write_time)
            stream = f"db-{OPS[op]}:{step.call}"
            pool = db.pool(caller, "database", config.pool if config else None)
            if op == READ and db.replicas is not None:
                station = db.replicas
        else:
            assert store is not None  # the topology checked it
            cost = None
            pool = db.pool(caller, "event_store", store.pool)
        if step.service_time is not None:
            demand = engine.sampler(f"call:{where}", step.service_time)
        elif op == APPEND:
            demand = _draw(engine, f"append:{step.call}", store.append_time)  # type: ignore[union-attr]
        elif op == LOAD:
            base = store.load_time  # type: ignore[union-attr]
            demand = lambda: base  # noqa: E731 - a sampler is a callable
        elif cost is not None:
            demand = engine.sampler(stream, cost)
        else:
            demand = engine.sampler(f"service:{step.call}", service.service_time)
        return DatabaseNode(engine.env, station, demand, latency, db, op, pool, self.callers.index(caller))


class Operation:
    """One call with an ``op``: its connection, its lock, what it saw, and its row of ``db_ops``.

    Once connected it is the call's continuation: when the answer is back it gives the connection on
    and records the row before the caller hears of it.
    """

    __slots__ = (
        "asked",
        "call",
        "k",
        "key",
        "lock_wait",
        "locked",
        "node",
        "pool_wait",
        "replayed",
        "stale",
        "staleness",
        "work",
    )

    def __init__(self, node: DatabaseNode, call: Call) -> None:
        self.node, self.call = node, call
        self.asked = node.env.now
        self.pool_wait = 0.0
        self.lock_wait = self.staleness = self.work = _NAN
        self.locked, self.stale, self.replayed, self.key = False, False, -1, 0
        self.k = call.k

    @property
    def span(self) -> int:
        return self.k.span

    def give_up(self, _: Event) -> None:
        """``max_wait`` has passed: fail unless a connection came meanwhile."""
        if self.node.pool.give_up(self):  # type: ignore[union-attr]
            self.node.exhausted(self)

    def resume(self, ok: bool) -> None:
        """The answer is back: give the connection on, record the operation, tell the caller."""
        node = self.node
        pool = node.pool
        if pool is not None:
            waiter = pool.release()
            if waiter is not None:
                node.later(waiter.node.connected, waiter)
        node.record(self, Outcome.OK if ok else self.call.reason)
        self.k.resume(ok)


class DatabaseNode(CallNode):
    """A call step with an ``op`` on a database (see the module docstring)."""

    __slots__ = ("caller", "codes", "db", "op", "pool", "replica", "times")

    def __init__(
        self,
        env: simpy.Environment,
        station: Station,
        demand: Callable[[], float],
        latency: Callable[[], float] | None,
        db: Database,
        op: int,
        pool: ConnectionPool[Operation] | None,
        caller: int,
    ) -> None:
        super().__init__(env, station, demand, latency, None)
        self.db, self.op, self.pool, self.caller = db, op, pool, caller
        self.replica = station is db.replicas
        if op == LOAD:
            self.after_work = self.replay
        recorder = db.engine.recorder
        self.codes, self.times = recorder.db_codes.extend, recorder.db_times.extend

    def later(self, action: Callable[[Operation], None], operation: Operation) -> None:
        """Run ``action(operation)`` as a new event now, after the current one's bookkeeping."""
        self.env.timeout(0.0).callbacks.append(lambda _: action(operation))  # type: ignore[union-attr]

    def send(self, call: Call) -> None:
        """Take a connection from the caller's pool (or wait for one), then put the call on the wire."""
        operation = Operation(self, call)
        call.operation = operation  # type: ignore[attr-defined]
        pool = self.pool
        if pool is None or pool.try_acquire():
            self.connected(operation)
        elif pool.max_wait > 0:
            pool.wait(operation)
            self.env.timeout(pool.max_wait).callbacks.append(operation.give_up)  # type: ignore[union-attr]
        else:
            self.exhausted(operation)

    def exhausted(self, operation: Operation) -> None:
        call = operation.call
        call.reason = call.request.outcome = Outcome.POOL_EXHAUSTED
        self.record(operation, Outcome.POOL_EXHAUSTED)
        call.k.resume(False)

    def connected(self, operation: Operation) -> None:
        call = operation.call
        operation.pool_wait = self.env.now - operation.asked
        call.k = operation
        if self.latency is None:
            self.at_database(call)
        else:
            call.callbacks = [self.at_database]
            self.schedule(call, NORMAL, self.latency())

    def at_database(self, call: Call) -> None:
        """The call reaches the database: a write takes its row lock (or waits), a replica read its view."""
        operation: Operation = call.operation  # type: ignore[attr-defined]
        db = self.db
        if self.op == WRITE and db.locks is not None:
            request = call.request
            operation.key = request.key if db.lock_key is None else db.lock_key(request.key)
            operation.locked, operation.lock_wait = True, 0.0
            if not db.locks.acquire(operation.key, operation):
                return  # queued: the holder's release submits it
        elif self.replica:
            lag = db.lag()  # type: ignore[misc]
            operation.staleness = lag
            operation.stale = db.log.read(call.request.key, lag).stale  # type: ignore[union-attr]
        self.station.submit(call)

    def replay(self, call: Call) -> None:
        """A load read its snapshot: replay the events since, ``per_event_load`` each, then answer."""
        operation: Operation = call.operation  # type: ignore[attr-defined]
        rehydration = self.db.store.load(call.request.key)  # type: ignore[union-attr]
        operation.replayed = rehydration.replayed
        extra = rehydration.replayed * self.db.store.per_event  # type: ignore[union-attr]
        if extra > 0:
            call.callbacks = [self.station.release]
            self.schedule(call, NORMAL, extra * call.replica.slowdown)
        else:
            self.station.release(call)

    def respond(self, call: Call, ok: bool) -> None:
        """The call's work at the database is over: commit, hand the row lock on, answer."""
        operation: Operation = call.operation  # type: ignore[attr-defined]
        db, now = self.db, self.env.now
        operation.work = now - call.start
        if ok:
            if self.op == WRITE and db.log is not None:
                db.log.commit(call.request.key)
            elif self.op == APPEND:
                db.store.append(call.request.key, call.request)  # type: ignore[union-attr]
        if operation.locked:
            operation.locked = False
            grant = db.locks.release(operation.key, operation)  # type: ignore[union-attr]
            if grant is not None:
                grant.owner.lock_wait = grant.waited
                self.later(_submit, grant.owner)
        super().respond(call, ok)

    def record(self, operation: Operation, outcome: int) -> None:
        request = operation.call.request
        self.codes(
            (
                request.id,
                self.db.code,
                self.caller,
                self.op,
                outcome,
                self.replica,
                operation.stale,
                operation.replayed,
            )
        )
        now = self.env.now
        self.times(
            (
                operation.asked,
                now,
                operation.pool_wait,
                operation.lock_wait,
                operation.staleness,
                operation.work,
            )
        )


def _draw(engine: Engine, stream: str, latency: Latency) -> Callable[[], float]:
    """A fixed duration or a distribution, as a zero-argument draw."""
    if isinstance(latency, float | int):
        value = float(latency)
        return lambda: value
    return engine.sampler(stream, latency)


def _submit(operation: Operation) -> None:
    """A lock waiter got its lock: it joins the database's station."""
    node = operation.node
    node.station.submit(operation.call)
