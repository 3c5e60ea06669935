"""Consumer tests of the asynchronous edge: inventory consumes ``OrderPlaced`` and ``OrderCancelled``.

A message pact has no mock server: the consumer states the messages it can handle
(``upon_receiving(..., "Async")``) and ``pact.verify(handler, "Async")`` hands each example message to
``handler``, which must process it as the consumer really would; an exception is a failure. Here the
handler publishes the message to an embedded broker (:mod:`live.events.embedded`, in a temporary
folder) and runs the real inventory app with that broker: its consumer of the ``orders`` stream
reads the event into the sales ledger, and the test reads ``GET /inventory/sales`` to see it counted
(sold units up for ``OrderPlaced``, down for ``OrderCancelled``). Orders' side of the contract is
verified by producing each message from orders' real outbox (:mod:`contracts.providers.orders`).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from pact import match

from contracts.consumers.mock import new_pact, write
from contracts.consumers.shapes import line, timestamp
from live.common.server import running
from live.common.settings import InstanceSettings
from live.events.embedded import EmbeddedBroker
from live.events.streams import ORDER_EVENTS
from live.inventory.app import create_app

__all__ = ["TESTS", "consume"]

CONSUMER, PROVIDER = "inventory", "orders"
DEADLINE = 15.0
"""Seconds inventory's consumer gets to count an event (it long-polls the broker for 1 s at a time)."""


def _event(kind: str) -> dict[str, Any]:
    return {
        "event_id": match.uuid("0b6f1a5e-8d2c-4f0e-9a57-3c1d2e4f5a6b"),
        "type": kind,
        "aggregate_id": match.str("42"),
        "payload": {
            "order_id": match.str("42"),
            "items": match.each_like(line("KB-001", 2)),
        },
        "created_at": timestamp(),
    }


def consume(event: dict[str, Any]) -> dict[str, Any]:
    """Publish ``event`` on the orders stream and let a real inventory consume it; its sales summary
    once the event is counted (AssertionError if it is not within :data:`DEADLINE` seconds)."""
    with tempfile.TemporaryDirectory(prefix="inventory-events-") as folder:
        state = Path(folder)
        broker_file = state / "broker.sqlite3"
        publisher = EmbeddedBroker(broker_file)
        asyncio.run(publisher.publish(ORDER_EVENTS, event))
        publisher.db.close()
        settings = InstanceSettings(service="inventory", instance="inventory-1", state_dir=state)
        with running(create_app(settings, broker=EmbeddedBroker(broker_file))) as url:
            return asyncio.run(_counted(f"{url}/inventory/sales"))


async def _counted(url: str) -> dict[str, Any]:
    start = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(url) as response:
                summary = await response.json()
            if summary["events"] >= 1:
                return summary
            if time.monotonic() - start > DEADLINE:
                raise AssertionError(f"inventory did not count the event within {DEADLINE} s: {summary}")
            await asyncio.sleep(0.1)


def _handler(sign: int) -> Any:
    def handle(body: str | bytes | None, metadata: dict[str, Any]) -> None:
        event = json.loads(body or b"null")
        summary = consume(event)
        expected = {line["sku"]: sign * line["quantity"] for line in event["payload"]["items"]}
        assert summary["sold"] == expected, (summary, expected)

    return handle


def _message_test(kind: str, sign: int, folder: Path) -> None:
    pact = new_pact(CONSUMER, PROVIDER)
    pact.upon_receiving(f"an {kind} event", "Async").with_body(_event(kind), content_type="application/json")
    pact.verify(_handler(sign), "Async")
    write(pact, folder)


def order_placed(folder: Path) -> None:
    """An order placed: its units count as sold."""
    _message_test("OrderPlaced", +1, folder)


def order_cancelled(folder: Path) -> None:
    """An order cancelled: its units come off the sold count."""
    _message_test("OrderCancelled", -1, folder)


TESTS = (order_placed, order_cancelled)
