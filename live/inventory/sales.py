"""Inventory's sales ledger, fed by the orders stream: net units sold per sku, each event counted once.

Orders publishes ``OrderPlaced`` and ``OrderCancelled`` through its outbox (at least once); inventory
consumes them as the consumer group ``inventory``. Stock itself is already right when an event
arrives -- orders reserves and releases it synchronously -- so the events drive what stock levels
cannot tell: how many units of each sku were *sold* (placed minus cancelled). A placed order adds
its quantities to ``sold``, a cancelled one takes them back off.

Deduplication: the event's ``event_id`` goes into ``processed_events`` in the same transaction as its
effect on ``sales``, and an id already there changes nothing. So an event published twice (a relay
that died before marking it published) or delivered twice (a consumer that died before its ack)
counts once, also when two inventory replicas receive it. An event that is not an order event of a
known shape raises ValueError: it is nacked, retried and finally dead-lettered by the broker.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from live.common.sqlite import Database

__all__ = ["EFFECTS", "SalesLedger", "order_lines"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS processed_events (
    event_id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    processed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sales (
    sku TEXT PRIMARY KEY,
    sold INTEGER NOT NULL DEFAULT 0
);
"""

EFFECTS = {"OrderPlaced": 1, "OrderCancelled": -1}
"""What each event type does to the units sold of its lines."""


def order_lines(event: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The ``(sku, quantity)`` lines of an order event; ValueError naming what is malformed."""
    payload = event.get("payload")
    items = payload.get("items") if isinstance(payload, Mapping) else None
    if not isinstance(items, list) or not items:
        raise ValueError(f"event {event.get('event_id')!r}: payload.items must be a non-empty list")
    lines = []
    for line in items:
        sku = line.get("sku") if isinstance(line, Mapping) else None
        quantity = line.get("quantity") if isinstance(line, Mapping) else None
        if not isinstance(sku, str) or not isinstance(quantity, int) or quantity < 1:
            raise ValueError(f"event {event.get('event_id')!r}: a line needs a sku and a quantity >= 1")
        lines.append((sku, quantity))
    return lines


class SalesLedger:
    """Units sold per sku and the order events already counted, in inventory's SQLite file."""

    def __init__(self, path: Path) -> None:
        self.db = Database(path, SCHEMA)

    def apply(self, event: Mapping[str, Any]) -> bool:
        """Count an order event once; False when its ``event_id`` was counted before (nothing changes).

        Events of other types are recorded as processed and change nothing. ValueError: malformed.
        """
        event_id, kind = event.get("event_id"), event.get("type")
        if not isinstance(event_id, str) or not event_id or not isinstance(kind, str):
            raise ValueError(f"an event needs an event_id and a type, got {dict(event)!r}")
        sign = EFFECTS.get(kind)
        lines = order_lines(event) if sign is not None else []
        with self.db.write() as db:
            fresh = db.execute(
                "INSERT OR IGNORE INTO processed_events (event_id, type, processed_at) VALUES (?, ?, ?)",
                (event_id, kind, datetime.now(UTC).isoformat(timespec="milliseconds")),
            ).rowcount
            if fresh and sign is not None:
                db.executemany(
                    "INSERT INTO sales (sku, sold) VALUES (?, ?)"
                    " ON CONFLICT (sku) DO UPDATE SET sold = sold + excluded.sold",
                    [(sku, sign * quantity) for sku, quantity in lines],
                )
        return bool(fresh)

    def sold(self) -> dict[str, int]:
        """Net units sold per sku (skus never sold are absent)."""
        with self.db.read() as db:
            return {row["sku"]: row["sold"] for row in db.execute("SELECT sku, sold FROM sales ORDER BY sku")}

    def processed(self) -> int:
        """How many distinct events were counted."""
        with self.db.read() as db:
            return int(db.execute("SELECT COUNT(*) FROM processed_events").fetchone()[0])
