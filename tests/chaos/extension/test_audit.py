"""The no-data-loss audit on real SQLite files written by the services' own stores."""

from __future__ import annotations

import json
from pathlib import Path

from chaos.extension.audit import audit
from chaos.extension.orders import ledger_path
from live.inventory.store import InventoryStore, Line
from live.orders.store import OrderStore


def _place(orders: OrderStore, inventory: InventoryStore, user: str, key: str, sku: str = "KB-001") -> str:
    """One order as the orders service places it: pending, stock reserved, placed."""
    order = orders.begin(user, key, [{"sku": sku, "quantity": 1}]).order
    reserved = inventory.reserve(order.request_id, order.id, [Line(sku, 1)])
    orders.place(order.id, reserved.reservation.id)
    return order.id


def _shop(state_dir: Path) -> tuple[OrderStore, InventoryStore]:
    data = state_dir / "data"
    data.mkdir(parents=True)
    return OrderStore(data / "orders.sqlite3"), InventoryStore(data / "inventory.sqlite3")


def _ledger(state_dir: Path, entries: list[dict]) -> None:
    path = ledger_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(entry) + "\n" for entry in entries))


def test_placed_and_acknowledged_orders_pass_the_audit(tmp_path: Path) -> None:
    orders, inventory = _shop(tmp_path)
    first, second = _place(orders, inventory, "ann", "k1"), _place(orders, inventory, "ann", "k2")
    _ledger(
        tmp_path,
        [
            {"user": "ann", "key": "k1", "status": 201, "order_id": first, "attempts": 1},
            {"user": "ann", "key": "k2", "status": 201, "order_id": second, "attempts": 3},
            {"user": "ann", "key": "k3", "status": 0, "order_id": None, "attempts": 8},  # never arrived
        ],
    )
    found = audit(tmp_path, settle_timeout=0)
    assert found.problems == {"missing": [], "duplicates": [], "stock": []}
    assert found.counts["acknowledged"] == 2
    assert found.counts["unanswered"] == 1
    assert found.counts["reservations_held"] == 2


def test_an_acknowledged_order_the_database_lacks_is_missing(tmp_path: Path) -> None:
    orders, inventory = _shop(tmp_path)
    placed = _place(orders, inventory, "ann", "k1")
    _ledger(
        tmp_path,
        [
            {"user": "ann", "key": "k1", "status": 201, "order_id": placed},
            {"user": "ann", "key": "k2", "status": 201, "order_id": "never-written"},
        ],
    )
    found = audit(tmp_path, settle_timeout=0)
    assert found.count("missing") == 1
    assert "never-written" in found.problems["missing"][0]


def test_one_key_acknowledged_as_two_orders_is_a_duplicate(tmp_path: Path) -> None:
    orders, inventory = _shop(tmp_path)
    placed = _place(orders, inventory, "ann", "k1")
    other = _place(orders, inventory, "ann", "k2")
    _ledger(
        tmp_path,
        [
            {"user": "ann", "key": "k1", "status": 201, "order_id": placed},
            {"user": "ann", "key": "k1", "status": 201, "order_id": other},
        ],
    )
    found = audit(tmp_path, settle_timeout=0)
    assert found.count("duplicates") == 1
    assert found.count("missing") == 1  # k1 names the first order, not the second


def test_stock_freed_under_a_placed_order_or_held_by_a_pending_one_is_not_conserved(tmp_path: Path) -> None:
    orders, inventory = _shop(tmp_path)
    placed = _place(orders, inventory, "ann", "k1")
    inventory.release(orders.get(placed).request_id)  # the order still says placed: stock oversold
    pending = orders.begin("ann", "k2", [{"sku": "MS-002", "quantity": 2}]).order
    inventory.reserve(pending.request_id, pending.id, [Line("MS-002", 2)])  # held, never settled
    found = audit(tmp_path, settle_timeout=0)
    problems = " | ".join(found.problems["stock"])
    assert f"placed order {placed} holds no reservation" in problems
    assert f"order {pending.id} is still pending" in problems
    assert f"holds stock for order {pending.id} (pending)" in problems
    assert found.count("missing") == 0
