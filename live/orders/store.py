"""Orders, their idempotency keys and their outbox, in the orders service's own SQLite file.

An order moves through a small state machine::

    pending --reserved at inventory--> placed --cancel--> cancelled
       \\--refused by inventory--> rejected

:meth:`OrderStore.begin` creates the ``pending`` order and its idempotency record ``(user, key) ->
order`` in one transaction, or finds the order an earlier request with the same key created (a
:class:`KeyReusedError` if that request had another body). Whoever holds a pending order may try to
settle it; every transition is a compare-and-set (``UPDATE ... WHERE status = 'pending'``) in one
transaction with its outbox event, so when several retries race - in one process or in replicas
sharing the file - exactly one moves the order and writes ``OrderPlaced`` (or, later, one writes
``OrderCancelled``), and the others read the result.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from live.common.sqlite import Database
from live.orders.outbox import OutboxEvent

__all__ = ["Begun", "KeyReusedError", "Order", "OrderStore", "Settled"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'placed', 'rejected', 'cancelled')),
    items TEXT NOT NULL,
    reservation_id TEXT,
    rejection TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_owner ON orders (owner, created_at);
CREATE INDEX IF NOT EXISTS orders_pending ON orders (created_at) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS idempotency_keys (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders (id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (owner, key)
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    published_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
"""


@dataclass(frozen=True)
class Order:
    """One order. ``items`` are ``{"sku", "quantity"}`` lines; ``rejection`` is inventory's reason."""

    id: str
    owner: str
    status: str
    items: tuple[Mapping[str, Any], ...]
    reservation_id: str | None
    rejection: Mapping[str, Any] | None
    created_at: str
    updated_at: str

    @property
    def request_id(self) -> str:
        """The request id of this order's reservation at inventory (every attempt uses the same)."""
        return f"order:{self.id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": self.owner,
            "status": self.status,
            "items": [dict(line) for line in self.items],
            "reservation_id": self.reservation_id,
            "rejection": None if self.rejection is None else dict(self.rejection),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class Begun:
    """The order a create request stands for; ``created`` is False when an earlier request made it."""

    order: Order
    created: bool


@dataclass(frozen=True)
class Settled:
    """An order after a transition was attempted; ``changed`` is False when it was no longer possible."""

    order: Order
    changed: bool


class KeyReusedError(Exception):
    """An idempotency key came back with a different body."""

    def __init__(self, key: str, order_id: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used for order {order_id} with different items; "
            "a retry must repeat the first request exactly, a new order needs a new key"
        )
        self.key = key
        self.order_id = order_id


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def fingerprint(items: Sequence[Mapping[str, Any]]) -> str:
    """The identity of a create request's body: the same quantities per sku, in any order."""
    canonical = json.dumps(sorted((str(line["sku"]), int(line["quantity"])) for line in items))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _order(row: sqlite3.Row) -> Order:
    return Order(
        id=row["id"],
        owner=row["owner"],
        status=row["status"],
        items=tuple(json.loads(row["items"])),
        reservation_id=row["reservation_id"],
        rejection=None if row["rejection"] is None else json.loads(row["rejection"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _load(db: sqlite3.Connection, order_id: str) -> Order:
    row = db.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
    if row is None:
        raise LookupError(f"no order {order_id!r}")
    return _order(row)


def _event(db: sqlite3.Connection, kind: str, order: Order) -> None:
    payload = {
        "order_id": order.id,
        "user": order.owner,
        "items": [dict(line) for line in order.items],
        "reservation_id": order.reservation_id,
    }
    db.execute(
        "INSERT INTO outbox (event_id, type, aggregate_id, payload, created_at) VALUES (?, ?, ?, ?, ?)",
        (str(uuid.uuid4()), kind, order.id, json.dumps(payload), _now()),
    )


class OrderStore:
    """The orders database at ``path`` (its replicas share it)."""

    def __init__(self, path: Path) -> None:
        self.db = Database(path, SCHEMA)

    def begin(self, owner: str, key: str, items: Sequence[Mapping[str, Any]]) -> Begun:
        """The order for ``(owner, key)``: a new pending one, or the one the key already names."""
        wanted = fingerprint(items)
        with self.db.write() as db:
            known = db.execute(
                "SELECT fingerprint, order_id FROM idempotency_keys WHERE owner = ? AND key = ?", (owner, key)
            ).fetchone()
            if known is not None:
                if known["fingerprint"] != wanted:
                    raise KeyReusedError(key, known["order_id"])
                return Begun(_load(db, known["order_id"]), created=False)
            order_id, now = str(uuid.uuid4()), _now()
            db.execute(
                "INSERT INTO orders (id, owner, status, items, created_at, updated_at)"
                " VALUES (?, ?, 'pending', ?, ?, ?)",
                (order_id, owner, json.dumps([dict(line) for line in items]), now, now),
            )
            db.execute(
                "INSERT INTO idempotency_keys (owner, key, fingerprint, order_id, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (owner, key, wanted, order_id, now),
            )
            return Begun(_load(db, order_id), created=True)

    def place(self, order_id: str, reservation_id: str) -> Settled:
        """pending -> placed with its reservation, and ``OrderPlaced`` in the outbox."""
        with self.db.write() as db:
            changed = db.execute(
                "UPDATE orders SET status = 'placed', reservation_id = ?, updated_at = ?"
                " WHERE id = ? AND status = 'pending'",
                (reservation_id, _now(), order_id),
            ).rowcount
            order = _load(db, order_id)
            if changed:
                _event(db, "OrderPlaced", order)
        return Settled(order, bool(changed))

    def reject(self, order_id: str, rejection: Mapping[str, Any]) -> Settled:
        """pending -> rejected, keeping inventory's reason (no event: nothing happened)."""
        with self.db.write() as db:
            changed = db.execute(
                "UPDATE orders SET status = 'rejected', rejection = ?, updated_at = ?"
                " WHERE id = ? AND status = 'pending'",
                (json.dumps(dict(rejection)), _now(), order_id),
            ).rowcount
            return Settled(_load(db, order_id), bool(changed))

    def cancel(self, order_id: str) -> Settled:
        """placed -> cancelled, and ``OrderCancelled`` in the outbox."""
        with self.db.write() as db:
            changed = db.execute(
                "UPDATE orders SET status = 'cancelled', updated_at = ? WHERE id = ? AND status = 'placed'",
                (_now(), order_id),
            ).rowcount
            order = _load(db, order_id)
            if changed:
                _event(db, "OrderCancelled", order)
        return Settled(order, bool(changed))

    def get(self, order_id: str) -> Order | None:
        with self.db.read() as db:
            row = db.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        return None if row is None else _order(row)

    def orders_of(self, owner: str) -> list[Order]:
        """The owner's orders, newest first."""
        with self.db.read() as db:
            rows = db.execute(
                "SELECT * FROM orders WHERE owner = ? ORDER BY created_at DESC, rowid DESC", (owner,)
            ).fetchall()
        return [_order(row) for row in rows]

    def stale_pending(self, older_than: float, limit: int = 100) -> list[Order]:
        """Orders still pending ``older_than`` seconds after their creation, oldest first."""
        cutoff = (datetime.now(UTC) - timedelta(seconds=older_than)).isoformat(timespec="milliseconds")
        with self.db.read() as db:
            rows = db.execute(
                "SELECT * FROM orders WHERE status = 'pending' AND created_at < ?"
                " ORDER BY created_at LIMIT ?",
                (cutoff, limit),
            ).fetchall()
        return [_order(row) for row in rows]

    def events(self, *, unpublished_only: bool = False, limit: int = 1000) -> list[OutboxEvent]:
        """Outbox events, oldest first."""
        where = "WHERE published_at IS NULL" if unpublished_only else ""
        with self.db.read() as db:
            rows = db.execute(f"SELECT * FROM outbox {where} ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [
            OutboxEvent(
                sequence=row["id"],
                event_id=row["event_id"],
                type=row["type"],
                aggregate_id=row["aggregate_id"],
                payload=json.loads(row["payload"]),
                created_at=row["created_at"],
            )
            for row in rows
        ]

    def unpublished(self, limit: int) -> list[OutboxEvent]:
        """Up to ``limit`` events not yet published, oldest first (what :class:`OutboxRelay` reads)."""
        return self.events(unpublished_only=True, limit=limit)

    def mark_published(self, event_id: str) -> None:
        with self.db.write() as db:
            db.execute(
                "UPDATE outbox SET published_at = ? WHERE event_id = ? AND published_at IS NULL",
                (_now(), event_id),
            )
