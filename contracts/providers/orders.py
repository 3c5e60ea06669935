"""orders as a provider: the real FastAPI app on loopback with a real inventory behind it, and its
events produced by its real outbox.

HTTP states (parameters as keyword arguments): ``an order exists`` (``id``, ``user``, ``status``,
``sku``, ``quantity``) writes that order into orders' own database (a placed or cancelled one with a
reservation at inventory, so cancelling it releases real stock); ``no order exists`` (``id``);
``stock of a sku`` (``sku``, ``available``) is inventory's state, since placing an order reserves stock
there. After every interaction both databases go back to their baseline.

Messages: for ``an OrderPlaced event`` and ``an OrderCancelled event`` pact-python's message handler
calls a producer that runs the order's real transitions in an :class:`~live.orders.store.OrderStore`
(``begin``, ``place``, ``cancel``: each writes its event into the outbox in the same transaction) and
takes the event from the real :class:`~live.orders.outbox.OutboxRelay`, exactly as the relay would
hand it to the broker. That store is a scratch file of its own, so producing messages never
publishes anything into a running stack.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from pact.types import Message

import live.orders.app
import live.orders.outbox
import live.orders.store
from contracts.discovery import discover_only, instance_at
from contracts.providers.inventory import inventory_states, serve_inventory
from contracts.providers.serving import MessageProducer, Serving
from contracts.providers.states import StateTable
from live.common.server import running
from live.common.settings import InstanceSettings
from live.inventory.store import InventoryStore
from live.orders.store import OrderStore

__all__ = ["attach_orders", "order_events", "orders_states", "serve_orders"]

EVENT_TYPES = ("OrderPlaced", "OrderCancelled")


def _settings(state_dir: Path, service: str = "orders") -> InstanceSettings:
    return InstanceSettings(service=service, instance=f"{service}-contracts", state_dir=state_dir)


def orders_states(state_dir: Path) -> StateTable:
    """Orders' provider states over its database in ``state_dir``, with inventory's (same folder)."""
    store = OrderStore(_settings(state_dir).database)
    inventory_database = _settings(state_dir, "inventory").database
    inventory = inventory_states(inventory_database)

    def order(id: str, user: str, status: str, sku: str, quantity: int) -> None:
        no_order(id)
        reservation_id = None
        if status in ("placed", "cancelled"):
            request_id = f"order:{id}"
            inventory.setups["a reservation exists"](request_id=request_id, sku=sku, quantity=quantity)
            if status == "cancelled":
                InventoryStore(inventory_database).release(request_id)
            reservation_id = str(uuid.uuid4())
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        with store.db.write() as db:
            db.execute(
                "INSERT INTO orders (id, owner, status, items, reservation_id, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    id,
                    user,
                    status,
                    json.dumps([{"sku": sku, "quantity": quantity}]),
                    reservation_id,
                    now,
                    now,
                ),
            )

    def no_order(id: str) -> None:
        with store.db.write() as db:
            db.execute("DELETE FROM idempotency_keys WHERE order_id = ?", (id,))
            db.execute("DELETE FROM orders WHERE id = ?", (id,))

    def reset() -> None:
        with store.db.write() as db:
            for table in ("idempotency_keys", "outbox", "orders"):
                db.execute(f"DELETE FROM {table}")

    own = StateTable("orders", {"an order exists": order, "no order exists": no_order}, reset)
    return own.merged(inventory)


def _produce(package: ModuleType, database: Path, kind: str) -> Message:
    """An ``OrderPlaced`` or ``OrderCancelled`` event from a fresh order's real transitions and relay
    (those of ``package``: ``live.orders``, or a changed copy of it)."""
    store = package.store.OrderStore(database)
    try:
        order = store.begin(
            f"buyer-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, [{"sku": "KB-001", "quantity": 2}]
        )
        store.place(order.order.id, str(uuid.uuid4()))
        if kind == "OrderCancelled":
            store.cancel(order.order.id)
        relayed: list[Any] = []

        async def publish(event: Any) -> None:
            relayed.append(event)

        asyncio.run(package.outbox.OutboxRelay(store, publish).run_once())
    finally:
        store.db.close()
    event: dict[str, Any] = next(e for e in relayed if e.type == kind).to_json()
    return Message(contents=json.dumps(event).encode(), metadata=None, content_type="application/json")


def order_events(folder: Path, package: ModuleType = live.orders) -> dict[str, MessageProducer]:
    """The producers of orders' messages, by interaction description (their store: ``folder``)."""
    database = folder / "outbox-messages.sqlite3"
    return {f"an {kind} event": (lambda kind=kind: _produce(package, database, kind)) for kind in EVENT_TYPES}


def attach_orders(url: str, state_dir: Path, scratch: Path, package: ModuleType = live.orders) -> Serving:
    """Orders running at ``url`` on the stack state folder ``state_dir``; messages made in ``scratch``."""
    return Serving(url, orders_states(state_dir), messages=order_events(scratch, package))


@contextmanager
def serve_orders(state_dir: Path, package: ModuleType = live.orders) -> Iterator[Serving]:
    """Orders (``package``'s: ``live.orders`` or a changed copy) on loopback, reaching a real inventory,
    both with their databases in ``state_dir``."""
    with serve_inventory(state_dir) as inventory:
        discover = discover_only(instance_at("inventory", inventory.url))
        with running(package.app.create_app(_settings(state_dir), discover=discover)) as url:
            yield attach_orders(url, state_dir, state_dir, package)
