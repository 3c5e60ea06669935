"""Inventory's stock and reservations in its own SQLite file.

Each item has ``available`` units (free to reserve) and ``reserved`` units (held by reservations). A
reservation moves units from available to reserved for every line of a request at once, or for none
(a line short of stock, or naming an unknown sku, rejects the whole request and changes nothing);
releasing it moves them back.

Reservations are idempotent by ``request_id``: the first request with an id reserves and records a
fingerprint of its body; a repeat with the same body gets the recorded reservation back and reserves
nothing; a repeat with a different body is a :class:`RequestConflictError`. The check and the write happen
in one ``BEGIN IMMEDIATE`` transaction, so concurrent repeats, from any replica sharing the file,
reserve exactly once. A rejected request leaves no record: stock may have come back when it is
retried. Releasing is idempotent too (a released reservation stays released).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from live.common.sqlite import Database

__all__ = [
    "DEFAULT_CATALOGUE",
    "InventoryStore",
    "Item",
    "Line",
    "RequestConflictError",
    "Reservation",
    "Reserved",
    "StockError",
    "UnknownReservationError",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    sku TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    available INTEGER NOT NULL CHECK (available >= 0),
    reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0)
);
CREATE TABLE IF NOT EXISTS reservations (
    request_id TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('reserved', 'released')),
    created_at TEXT NOT NULL,
    released_at TEXT
);
CREATE TABLE IF NOT EXISTS reservation_lines (
    request_id TEXT NOT NULL REFERENCES reservations (request_id),
    position INTEGER NOT NULL,
    sku TEXT NOT NULL REFERENCES items (sku),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (request_id, position)
);
"""


@dataclass(frozen=True)
class Item:
    """One stock-keeping unit and its stock."""

    sku: str
    name: str
    available: int
    reserved: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"sku": self.sku, "name": self.name, "available": self.available, "reserved": self.reserved}


DEFAULT_CATALOGUE: tuple[Item, ...] = (
    Item("KB-001", "Mechanical keyboard", 100_000),
    Item("MS-002", "Wireless mouse", 100_000),
    Item("MN-003", "27-inch monitor", 20_000),
    Item("HD-004", "Noise-cancelling headphones", 20_000),
    Item("CB-005", "USB-C cable", 500_000),
    Item("LP-006", "Laptop stand", 0),
)
"""What an empty inventory database is seeded with: stock for long load runs, and one item out of
stock to show a rejection (a test or a lab passes its own catalogue to see stock run out)."""


@dataclass(frozen=True)
class Line:
    """``quantity`` units of ``sku`` in a reservation."""

    sku: str
    quantity: int

    def to_json(self) -> dict[str, Any]:
        return {"sku": self.sku, "quantity": self.quantity}


@dataclass(frozen=True)
class Reservation:
    """Stock held for one request (``status`` is ``reserved`` or ``released``)."""

    id: str
    request_id: str
    order_id: str
    status: str
    items: tuple[Line, ...]
    created_at: str
    released_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request_id": self.request_id,
            "order_id": self.order_id,
            "status": self.status,
            "items": [line.to_json() for line in self.items],
            "created_at": self.created_at,
            "released_at": self.released_at,
        }


@dataclass(frozen=True)
class Reserved:
    """What :meth:`InventoryStore.reserve` did: ``created`` is False when it replayed an earlier request."""

    reservation: Reservation
    created: bool


class StockError(Exception):
    """The request cannot be reserved in full (``code``: ``out_of_stock`` or ``unknown_sku``)."""

    def __init__(self, code: str, sku: str, requested: int, available: int) -> None:
        if code == "unknown_sku":
            message = f"sku {sku!r} is not in the catalogue"
        else:
            message = f"sku {sku!r} is short of stock: {requested} requested, {available} available"
        super().__init__(message)
        self.code, self.message = code, message
        self.sku, self.requested, self.available = sku, requested, available

    def facts(self) -> dict[str, Any]:
        """What failed, for programs: the sku, the quantity requested and the quantity available."""
        return {"sku": self.sku, "requested": self.requested, "available": self.available}


class RequestConflictError(Exception):
    """A request id was used again with a different body."""

    def __init__(self, request_id: str) -> None:
        super().__init__(
            f"request_id {request_id!r} was already used with a different order_id or items; "
            "a retry must repeat the first request exactly"
        )
        self.request_id = request_id


class UnknownReservationError(LookupError):
    """No reservation was made under this request id."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _fingerprint(order_id: str, lines: Iterable[Line]) -> str:
    """The identity of a request's body: the same order and the same quantities per sku, in any order."""
    canonical = json.dumps([order_id, sorted((line.sku, line.quantity) for line in lines)])
    return hashlib.sha256(canonical.encode()).hexdigest()


class InventoryStore:
    """Stock and reservations in ``path`` (seeded with ``catalogue`` when it holds no item yet)."""

    def __init__(self, path: Path, catalogue: Iterable[Item] = DEFAULT_CATALOGUE) -> None:
        self.db = Database(path, SCHEMA)
        with self.db.write() as db:
            if db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0:
                db.executemany(
                    "INSERT INTO items (sku, name, available, reserved) VALUES (?, ?, ?, ?)",
                    [(item.sku, item.name, item.available, item.reserved) for item in catalogue],
                )

    def items(self) -> list[Item]:
        """Every item, by sku."""
        with self.db.read() as db:
            rows = db.execute("SELECT sku, name, available, reserved FROM items ORDER BY sku").fetchall()
        return [Item(**dict(row)) for row in rows]

    def item(self, sku: str) -> Item | None:
        with self.db.read() as db:
            row = db.execute(
                "SELECT sku, name, available, reserved FROM items WHERE sku = ?", (sku,)
            ).fetchone()
        return None if row is None else Item(**dict(row))

    def reserve(self, request_id: str, order_id: str, lines: Sequence[Line]) -> Reserved:
        """Reserve every line or none; replay the reservation already made under ``request_id``.

        Raises :class:`StockError` (nothing reserved) or :class:`RequestConflictError`.
        """
        if not lines or len({line.sku for line in lines}) != len(lines):
            raise ValueError(f"a reservation needs at least one line and distinct skus, got {lines!r}")
        fingerprint = _fingerprint(order_id, lines)
        with self.db.write() as db:
            earlier = db.execute(
                "SELECT fingerprint FROM reservations WHERE request_id = ?", (request_id,)
            ).fetchone()
            if earlier is not None:
                if earlier["fingerprint"] != fingerprint:
                    raise RequestConflictError(request_id)
                found = _load(db, request_id)
                assert found is not None
                return Reserved(found, created=False)
            for line in lines:
                row = db.execute("SELECT available FROM items WHERE sku = ?", (line.sku,)).fetchone()
                if row is None:
                    raise StockError("unknown_sku", line.sku, line.quantity, 0)
                if row["available"] < line.quantity:
                    raise StockError("out_of_stock", line.sku, line.quantity, row["available"])
            db.executemany(
                "UPDATE items SET available = available - ?, reserved = reserved + ? WHERE sku = ?",
                [(line.quantity, line.quantity, line.sku) for line in lines],
            )
            db.execute(
                "INSERT INTO reservations (request_id, id, order_id, fingerprint, status, created_at)"
                " VALUES (?, ?, ?, ?, 'reserved', ?)",
                (request_id, str(uuid.uuid4()), order_id, fingerprint, _now()),
            )
            db.executemany(
                "INSERT INTO reservation_lines (request_id, position, sku, quantity) VALUES (?, ?, ?, ?)",
                [(request_id, i, line.sku, line.quantity) for i, line in enumerate(lines)],
            )
            made = _load(db, request_id)
        assert made is not None
        return Reserved(made, created=True)

    def release(self, request_id: str) -> Reservation:
        """Give the reserved units back (once); raises :class:`UnknownReservationError`."""
        with self.db.write() as db:
            found = _load(db, request_id)
            if found is None:
                raise UnknownReservationError(request_id)
            if found.status == "released":
                return found
            db.executemany(
                "UPDATE items SET available = available + ?, reserved = reserved - ? WHERE sku = ?",
                [(line.quantity, line.quantity, line.sku) for line in found.items],
            )
            db.execute(
                "UPDATE reservations SET status = 'released', released_at = ? WHERE request_id = ?",
                (_now(), request_id),
            )
            released = _load(db, request_id)
        assert released is not None
        return released


def _load(db: sqlite3.Connection, request_id: str) -> Reservation | None:
    row = db.execute("SELECT * FROM reservations WHERE request_id = ?", (request_id,)).fetchone()
    if row is None:
        return None
    lines = db.execute(
        "SELECT sku, quantity FROM reservation_lines WHERE request_id = ? ORDER BY position", (request_id,)
    ).fetchall()
    return Reservation(
        id=row["id"],
        request_id=row["request_id"],
        order_id=row["order_id"],
        status=row["status"],
        items=tuple(Line(line["sku"], line["quantity"]) for line in lines),
        created_at=row["created_at"],
        released_at=row["released_at"],
    )
