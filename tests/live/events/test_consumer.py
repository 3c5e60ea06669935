"""A consumer handles each order event once: dedupe by event id over at-least-once delivery.

The handler is inventory's real sales ledger on a real SQLite file; the events come through each
broker backend. Duplicates arrive both ways they do in the stack: the relay publishes an event twice
(it died before marking it published), and a delivery fails after its effect was committed, so the
event is redelivered. A malformed event ends in the dead-letter queue without blocking the others.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from live.events.broker import Broker, Delivered
from live.events.consumer import Consumer
from live.inventory.sales import SalesLedger
from tests.live.events.conftest import POLICY, Backend

pytestmark = pytest.mark.live


def order_event(kind: str, sku: str, quantity: int) -> dict:
    return {
        "event_id": str(uuid.uuid4()),
        "type": kind,
        "aggregate_id": "order-1",
        "payload": {"order_id": "order-1", "items": [{"sku": sku, "quantity": quantity}]},
    }


def test_duplicates_count_once_and_a_malformed_event_is_dead_lettered(
    backend: Backend, stream: str, tmp_path: Path
) -> None:
    ledger = SalesLedger(tmp_path / "inventory.sqlite3")
    placed, other = order_event("OrderPlaced", "KB-001", 3), order_event("OrderPlaced", "MS-002", 1)
    cancelled = order_event("OrderCancelled", "MS-002", 1)
    malformed = {"event_id": "broken", "type": "OrderPlaced", "payload": {}}
    crashed_once: set[str] = set()
    applied: list[bool] = []  # per successful handling: whether it counted the event

    async def handle(delivered: Delivered) -> None:
        applied.append(await asyncio.to_thread(ledger.apply, delivered.event))
        if delivered.event["event_id"] == other["event_id"] and not crashed_once:
            crashed_once.add(delivered.id)  # the effect is committed, the ack never sent
            raise ConnectionResetError("consumer died before its ack")

    async def scenario(broker: Broker) -> list[str]:
        for event in (placed, placed, other, malformed, cancelled):  # `placed` published twice
            await broker.publish(stream, event)
        consumer = Consumer(broker, stream, "inventory", "inventory-1", handle, block=POLICY.ack_timeout)
        for _ in range(20):  # bounded: a few rounds suffice
            await consumer.run_once()
            if len(await broker.dlq(stream)) == 1 and len(applied) == 5:
                break
        assert await broker.read(stream, "inventory", "check", count=10, block=POLICY.ack_timeout * 2) == []
        return [letter.event["event_id"] for letter in await broker.dlq(stream)]

    dead = asyncio.run(_with_broker(backend, scenario))
    assert dead == ["broken"]
    assert ledger.sold() == {"KB-001": 3, "MS-002": 0}
    assert ledger.processed() == 3  # placed, other, cancelled; the malformed one never
    assert applied.count(True) == 3
    assert applied.count(False) == 2
    assert crashed_once
    ledger.db.close()


async def _with_broker(backend: Backend, scenario):  # type: ignore[no-untyped-def]
    broker = backend.broker()
    try:
        return await scenario(broker)
    finally:
        await broker.close()
