"""The embedded broker's model: one :class:`patterns.messaging.Queue` per consumer group, kept in SQLite.

Every consumer group of a stream is a ``patterns`` queue holding the stream's events the group has
not settled, so redelivery, delivery counts and dead-lettering follow that model's rules exactly
(``ack``, ``nack``, ``time_out`` and ``max_deliveries``; see :mod:`live.events.broker`). The model
pushes to subscribers with credit; the broker's API is pull, so a read subscribes the reading consumer
with ``prefetch = count`` for the span of one dispatch and unsubscribes it again (its deliveries stay
outstanding until acked, nacked or timed out).

Durability: the SQLite file holds every event (``events``), every group (``groups``) and per group and
event its delivery count and outcome (``deliveries``: acked or dead-lettered). Each change is written
before the call that made it returns, so a restarted broker rebuilds the same queues: every event a
group has not settled is ready again with its delivery count so far. A delivery still unacked when the
broker stopped counts as failed: its consumer's ack is refused as stale, and the event is delivered
again -- or, if that was its ``max_deliveries``-th delivery, dead-lettered as the broker starts, so no
event is ever delivered more than ``max_deliveries`` times. A broker is one process: the queues live
in its memory, so it runs as one instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Hashable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from live.common.sqlite import Database
from live.events.broker import DeadLetter, Delivered, DeliveryPolicy, check_name, check_read
from patterns.clock import Clock
from patterns.messaging import DEAD_LETTERED, Delivery, Queue, Settled

__all__ = ["EmbeddedBroker"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    stream TEXT NOT NULL,
    event TEXT NOT NULL,
    published_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_stream ON events (stream, seq);
CREATE TABLE IF NOT EXISTS groups (
    stream TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (stream, name)
);
CREATE TABLE IF NOT EXISTS deliveries (
    stream TEXT NOT NULL,
    grp TEXT NOT NULL,
    seq INTEGER NOT NULL REFERENCES events (seq),
    deliveries INTEGER NOT NULL,
    outcome TEXT CHECK (outcome IN ('acked', 'dead_lettered')),
    settled_at TEXT,
    PRIMARY KEY (stream, grp, seq)
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _event(delivery: Delivery) -> dict[str, Any]:
    """The event a delivery carries (queues hold the decoded JSON object as the message's payload)."""
    payload = delivery.message.payload
    assert isinstance(payload, dict)
    return payload


class _PullQueue(Queue):
    """A queue whose consumers subscribe for one read at a time: one that leaves is out of the line."""

    def left(self, consumer: Hashable) -> None:
        while consumer in self._hungry:
            self._hungry.remove(consumer)


class _Group:
    """One consumer group of one stream: its queue and the settlements not yet written down."""

    def __init__(self, stream: str, name: str, policy: DeliveryPolicy, clock: Clock) -> None:
        self.stream, self.name = stream, name
        self.settled: list[Settled] = []
        self.queue = _PullQueue(
            f"{stream}/{name}", clock, max_deliveries=policy.max_deliveries, on_settled=self.settled.append
        )

    def held(self, event_id: str) -> Delivery | None:
        """The live delivery of event ``event_id``, if some consumer holds it."""
        for delivery in self.queue.outstanding.values():
            if str(delivery.message.id) == event_id:
                return delivery
        return None


class EmbeddedBroker:
    """The :class:`~live.events.broker.Broker` model in one process, durable in the SQLite file ``path``."""

    def __init__(
        self, path: Path, policy: DeliveryPolicy | None = None, clock: Clock = time.monotonic
    ) -> None:
        self.policy = policy or DeliveryPolicy()
        self.clock = clock
        self.db = Database(path, SCHEMA)
        self._groups: dict[tuple[str, str], _Group] = {}
        self._lock = asyncio.Lock()
        self._wakeup: dict[str, asyncio.Event] = {}
        with self.db.write() as db:
            for row in db.execute("SELECT stream, name FROM groups ORDER BY created_at").fetchall():
                self._groups[(row["stream"], row["name"])] = self._load(db, row["stream"], row["name"])

    def _load(self, db: Any, stream: str, name: str) -> _Group:
        """Group ``name`` of ``stream`` with every event it has not settled, ready, with its count so far
        (in a write transaction: events whose last allowed delivery was cut short are dead-lettered)."""
        group = _Group(stream, name, self.policy, self.clock)
        db.execute(
            "UPDATE deliveries SET outcome = ?, settled_at = ?"
            " WHERE stream = ? AND grp = ? AND outcome IS NULL AND deliveries >= ?",
            (DEAD_LETTERED, _now(), stream, name, self.policy.max_deliveries),
        )
        rows = db.execute(
            "SELECT e.seq, e.event, COALESCE(d.deliveries, 0) AS deliveries FROM events e"
            " LEFT JOIN deliveries d ON d.stream = e.stream AND d.grp = ? AND d.seq = e.seq"
            " WHERE e.stream = ? AND d.outcome IS NULL ORDER BY e.seq",
            (name, stream),
        ).fetchall()
        for row in rows:
            message = group.queue.publish(row["seq"], payload=json.loads(row["event"]))
            message.deliveries = row["deliveries"]
        return group

    # -- the state in memory ---------------------------------------------------------------------

    async def _group(self, stream: str, name: str) -> _Group:
        """The group (under the lock), created at the stream's start on first use."""
        found = self._groups.get((stream, name))
        if found is None:

            def create() -> _Group:
                with self.db.write() as db:
                    db.execute(
                        "INSERT OR IGNORE INTO groups (stream, name, created_at) VALUES (?, ?, ?)",
                        (stream, name, _now()),
                    )
                    return self._load(db, stream, name)

            found = self._groups[(stream, name)] = await asyncio.to_thread(create)
        return found

    def _wake(self, stream: str) -> None:
        """Wake the reads waiting on ``stream``."""
        waiting = self._wakeup.pop(stream, None)
        if waiting is not None:
            waiting.set()

    async def _record(self, group: _Group, delivered: list[Delivery]) -> None:
        """Write down new delivery counts and the group's settlements (acked, dead-lettered)."""
        settled, group.settled[:] = list(group.settled), []
        if not delivered and not settled:
            return
        stream, name, now = group.stream, group.name, _now()

        def write() -> None:
            with self.db.write() as db:
                db.executemany(
                    "INSERT INTO deliveries (stream, grp, seq, deliveries) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (stream, grp, seq) DO UPDATE SET deliveries = excluded.deliveries",
                    [(stream, name, d.message.id, d.number) for d in delivered],
                )
                db.executemany(
                    "INSERT INTO deliveries (stream, grp, seq, deliveries, outcome, settled_at)"
                    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (stream, grp, seq) DO UPDATE SET"
                    " deliveries = excluded.deliveries, outcome = excluded.outcome,"
                    " settled_at = excluded.settled_at",
                    [(stream, name, s.message.id, s.deliveries, s.outcome, now) for s in settled],
                )

        await asyncio.to_thread(write)

    def _take(self, group: _Group, consumer: str, count: int) -> list[Delivery]:
        """Fail the deliveries past their ack timeout, then hand ``consumer`` up to ``count`` events."""
        queue = group.queue
        for delivery in list(queue.outstanding.values()):
            queue.time_out(delivery)
        queue.subscribe(consumer, prefetch=count, ack_timeout=self.policy.ack_timeout)
        try:
            return queue.dispatch()
        finally:
            queue.unsubscribe(consumer)

    def _next_deadline(self, group: _Group) -> float | None:
        return min((d.deadline for d in group.queue.outstanding.values()), default=None)

    def backlog(self) -> dict[tuple[str, str], int]:
        """Per ``(stream, group)``: events published and not settled yet, ready or held (the group's lag)."""
        return {key: group.queue.backlog for key, group in list(self._groups.items())}

    # -- the Broker interface --------------------------------------------------------------------

    async def publish(self, stream: str, event: Mapping[str, Any]) -> str:
        check_name("stream", stream)
        text = json.dumps(dict(event))

        def insert() -> int:
            with self.db.write() as db:
                cursor = db.execute(
                    "INSERT INTO events (stream, event, published_at) VALUES (?, ?, ?)",
                    (stream, text, _now()),
                )
                assert cursor.lastrowid is not None
                return cursor.lastrowid

        async with self._lock:  # events enter every queue in the order of their sequence numbers
            seq = await asyncio.to_thread(insert)
            for (of, _), group in self._groups.items():
                if of == stream:
                    group.queue.publish(seq, payload=json.loads(text))
        self._wake(stream)
        return str(seq)

    async def read(
        self, stream: str, group: str, consumer: str, count: int = 10, block: float = 0.0
    ) -> list[Delivered]:
        check_read(stream, group, consumer, count, block)
        deadline = time.monotonic() + block
        while True:
            async with self._lock:
                chosen = await self._group(stream, group)
                taken = self._take(chosen, consumer, count)
                await self._record(chosen, taken)
                next_deadline = self._next_deadline(chosen)
                wakeup = self._wakeup.setdefault(stream, asyncio.Event())
            remaining = deadline - time.monotonic()
            if taken or remaining <= 0:
                return [Delivered(stream, group, str(d.message.id), _event(d), d.number) for d in taken]
            if next_deadline is not None:  # a timed-out delivery may be redelivered then
                remaining = min(remaining, max(next_deadline - self.clock(), 0.0) + 0.001)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), remaining)

    async def _settle(self, stream: str, group: str, event_id: str, acked: bool) -> bool:
        check_name("stream", stream)
        check_name("group", group)
        async with self._lock:
            chosen = self._groups.get((stream, group))
            delivery = None if chosen is None else chosen.held(event_id)
            if chosen is None or delivery is None:
                return False
            done = chosen.queue.ack(delivery) if acked else chosen.queue.nack(delivery)
            await self._record(chosen, [])
        if not acked:
            self._wake(stream)
        return done

    async def ack(self, stream: str, group: str, event_id: str) -> bool:
        return await self._settle(stream, group, event_id, acked=True)

    async def nack(self, stream: str, group: str, event_id: str) -> bool:
        return await self._settle(stream, group, event_id, acked=False)

    async def dlq(self, stream: str) -> list[DeadLetter]:
        check_name("stream", stream)

        def select() -> list[DeadLetter]:
            with self.db.read() as db:
                rows = db.execute(
                    "SELECT d.grp, d.seq, d.deliveries, e.event FROM deliveries d"
                    " JOIN events e ON e.seq = d.seq WHERE d.stream = ? AND d.outcome = ?"
                    " ORDER BY d.settled_at, d.seq",
                    (stream, DEAD_LETTERED),
                ).fetchall()
            return [
                DeadLetter(stream, row["grp"], str(row["seq"]), json.loads(row["event"]), row["deliveries"])
                for row in rows
            ]

        return await asyncio.to_thread(select)

    async def close(self) -> None:
        self.db.close()
