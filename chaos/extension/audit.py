"""The no-data-loss audit: the client's ledger against the orders and inventory databases.

After a storm of resets, timeouts and retries, three things must hold (each problem found is one
line of :attr:`Audit.problems`, under its kind):

``missing``
    every order the client saw acknowledged (201 in the ledger, :mod:`chaos.extension.orders`) exists
    in the orders database, under the client's idempotency key, placed (or cancelled since).
``duplicates``
    nothing happened twice: no key was acknowledged with two different orders, no order holds two
    reservations at inventory.
``stock``
    inventory is conserved: per SKU, ``available + reserved`` equals the stock the catalogue started
    with, ``reserved`` equals the units of the reservations still held, and those are exactly the
    placed orders' -- no reservation is left without its placed order (stock leaked), no placed order
    without its reservation (stock oversold). No order may stay ``pending``.

Orders left pending by a timed-out reservation settle by themselves (orders retries them after
``settle_pending_after`` seconds), so the audit first waits, boundedly, until none is pending. It
reads the SQLite files read-only: the auditor's view, beside the API.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from chaos.extension.orders import read_ledger
from live.inventory.store import DEFAULT_CATALOGUE

__all__ = ["KINDS", "Audit", "audit"]

KINDS = ("missing", "duplicates", "stock")


@dataclass
class Audit:
    """What the audit found: ``problems[kind]`` lists each problem; ``counts`` the figures it saw."""

    problems: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str) -> int:
        return len(self.problems[kind])


@contextlib.contextmanager
def _read(path: Path) -> Iterator[sqlite3.Connection]:
    if not path.exists():
        raise FileNotFoundError(f"no database {path}: is the stack in {path.parent.parent}?")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    db.row_factory = sqlite3.Row
    try:
        yield db
    finally:
        db.close()


def _pending(orders_db: Path) -> int:
    with _read(orders_db) as db:
        return int(db.execute("SELECT COUNT(*) FROM orders WHERE status = 'pending'").fetchone()[0])


def audit(state_dir: Path, settle_timeout: float = 60.0) -> Audit:
    """Audit the stack in ``state_dir`` (module docstring), waiting up to ``settle_timeout`` seconds for
    pending orders to settle first."""
    orders_db, inventory_db = state_dir / "data" / "orders.sqlite3", state_dir / "data" / "inventory.sqlite3"
    deadline = time.monotonic() + settle_timeout
    while _pending(orders_db) and time.monotonic() < deadline:
        time.sleep(0.5)
    found = Audit()
    with _read(orders_db) as db:
        orders = {row["id"]: row for row in db.execute("SELECT * FROM orders")}
        keys = {
            (row["owner"], row["key"]): row["order_id"]
            for row in db.execute("SELECT * FROM idempotency_keys")
        }
    with _read(inventory_db) as db:
        items = {row["sku"]: row for row in db.execute("SELECT * FROM items")}
        reservations = {row["request_id"]: row for row in db.execute("SELECT * FROM reservations")}
        lines = defaultdict(list)
        for row in db.execute("SELECT * FROM reservation_lines"):
            lines[row["request_id"]].append((row["sku"], row["quantity"]))
    ledger = read_ledger(state_dir)
    _check_acknowledged(found, ledger, orders, keys)
    _check_stock(found, orders, items, reservations, lines)
    found.counts = {
        "orders_sent": len(ledger),
        "acknowledged": sum(entry["status"] == 201 for entry in ledger),
        "rejected": sum(entry["status"] == 409 for entry in ledger),
        "unanswered": sum(entry["status"] not in (201, 409) for entry in ledger),
        "orders_in_database": len(orders),
        "reservations_held": sum(row["status"] == "reserved" for row in reservations.values()),
    }
    return found


def _check_acknowledged(found: Audit, ledger: list[dict], orders: dict, keys: dict) -> None:
    by_key: dict[tuple[str, str], set[str]] = defaultdict(set)
    for entry in ledger:
        if entry["status"] == 201:
            by_key[(entry["user"], entry["key"])].add(entry["order_id"])
    for (user, key), ids in by_key.items():
        if len(ids) > 1:
            found.problems["duplicates"].append(f"key {key} of {user} was acknowledged as {sorted(ids)}")
        for order_id in ids:
            order = orders.get(order_id)
            if order is None:
                found.problems["missing"].append(
                    f"acknowledged order {order_id} (key {key}) is not in orders"
                )
            elif keys.get((user, key)) != order_id:
                found.problems["missing"].append(
                    f"key {key} of {user} names {keys.get((user, key))}, not {order_id}"
                )
            elif order["status"] not in ("placed", "cancelled"):
                found.problems["missing"].append(f"acknowledged order {order_id} is {order['status']}")


def _check_stock(found: Audit, orders: dict, items: dict, reservations: dict, lines: dict) -> None:
    per_order = Counter(row["order_id"] for row in reservations.values())
    of_order = {row["order_id"]: row for row in reservations.values()}
    for order_id, count in per_order.items():
        if count > 1:
            found.problems["duplicates"].append(f"order {order_id} holds {count} reservations")
    held: Counter[str] = Counter()
    for request_id, row in reservations.items():
        if row["status"] != "reserved":
            continue
        for sku, quantity in lines[request_id]:
            held[sku] += quantity
        order = orders.get(row["order_id"])
        if order is None or order["status"] != "placed" or order["reservation_id"] != row["id"]:
            state = "missing" if order is None else order["status"]
            found.problems["stock"].append(
                f"reservation {row['id']} holds stock for order {row['order_id']} ({state})"
            )
    for order in orders.values():
        if order["status"] == "pending":
            found.problems["stock"].append(f"order {order['id']} is still pending")
        if order["status"] != "placed":
            continue
        reservation = of_order.get(order["id"])
        if reservation is None or reservation["status"] != "reserved":
            found.problems["stock"].append(f"placed order {order['id']} holds no reservation")
        elif sorted(lines[reservation["request_id"]]) != sorted(
            (line["sku"], line["quantity"]) for line in json.loads(order["items"])
        ):
            found.problems["stock"].append(f"placed order {order['id']} and its reservation differ")
    started = {item.sku: item.available + item.reserved for item in DEFAULT_CATALOGUE}
    for sku, row in items.items():
        if row["available"] + row["reserved"] != started.get(sku):
            total = row["available"] + row["reserved"]
            found.problems["stock"].append(
                f"{sku}: {total} units in all, the catalogue started with {started.get(sku)}"
            )
        if row["reserved"] != held[sku]:
            found.problems["stock"].append(
                f"{sku}: {row['reserved']} reserved, reservations hold {held[sku]}"
            )
