"""The transactional outbox: events written with the state change, published later by a relay.

An order's state change and the event announcing it (``OrderPlaced``, ``OrderCancelled``) are written
to the ``outbox`` table in the same SQLite transaction, so there is never a change without its event
nor an event without its change - which publishing to a broker straight from the request handler
cannot promise (the process may die between the commit and the publish, or the publish may fail).

:class:`OutboxRelay` then moves events out: it reads the unpublished ones in the order they were
written, publishes each, and marks it published only after the publish returned. Delivery is
therefore *at least once*: a relay that dies between a publish and its mark publishes that event again
next time, and two relays (one per replica) may both publish an event. Consumers deduplicate by
``event_id``. A publish that fails stops the run there, so events are never published out of order;
the next run starts again from the failed event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["OutboxEvent", "OutboxRelay", "OutboxSource", "Publish"]

log = logging.getLogger("servicelab.live.orders")


@dataclass(frozen=True)
class OutboxEvent:
    """One event as the outbox holds it (``sequence`` orders events; ``event_id`` is a UUID)."""

    sequence: int
    event_id: str
    type: str
    aggregate_id: str
    payload: dict[str, Any]
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "type": self.type,
            "aggregate_id": self.aggregate_id,
            "payload": self.payload,
            "created_at": self.created_at,
        }


class OutboxSource(Protocol):
    """Where the relay finds events: the orders store (blocking calls, run in a worker thread)."""

    def unpublished(self, limit: int) -> list[OutboxEvent]:
        """Up to ``limit`` events not yet marked published, oldest first."""
        ...

    def mark_published(self, event_id: str) -> None: ...


Publish = Callable[[OutboxEvent], Awaitable[None]]
"""Hands one event to the broker; returns once the broker has it, raises if it does not."""


class OutboxRelay:
    """Publishes the outbox's events in order, at least once."""

    def __init__(self, store: OutboxSource, publish: Publish) -> None:
        self.store = store
        self.publish = publish

    async def run_once(self, limit: int = 100) -> int:
        """Publish up to ``limit`` unpublished events, oldest first; returns how many were published.

        The first publish that raises stops the run and its exception propagates; the events before it
        stay marked published, it and those after it stay unpublished for the next run.
        """
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got limit={limit!r}")
        events = await asyncio.to_thread(self.store.unpublished, limit)
        for count, event in enumerate(events):
            try:
                await self.publish(event)
            except Exception:
                log.warning("publishing %s %s failed after %d published", event.type, event.event_id, count)
                raise
            await asyncio.to_thread(self.store.mark_published, event.event_id)
        return len(events)

    async def run(self, interval: float, stop: asyncio.Event, limit: int = 100) -> None:
        """Relay until ``stop`` is set: a full batch is followed at once by the next, else wait ``interval``.

        A failed publish is logged and retried on the next round, ``interval`` seconds later.
        """
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got interval={interval!r}")
        while not stop.is_set():
            try:
                published = await self.run_once(limit)
            except Exception:
                log.exception("outbox relay round failed; retrying in %.3g s", interval)
                published = 0
            if published < limit:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)
