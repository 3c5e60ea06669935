"""inventory as a provider: the real aiohttp app on loopback, its states seeded in its own SQLite file.

States (their parameters are the keyword arguments below):

* ``stock of a sku`` (``sku``, ``available``): the item exists with that many units free, none held;
* ``no such sku`` (``sku``): the item is not in the catalogue;
* ``a reservation exists`` (``request_id``, ``sku``, ``quantity``): that reservation was made (for
  order ``request_id`` without its ``order:`` prefix), with stock enough for it;
* ``no reservation exists`` (``request_id``): none was made under that id.

After every interaction the database goes back to the stack's default catalogue with no reservation.
``create_app`` may be another inventory (a changed copy, in the tests that show breaking changes
caught): the states only touch the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from contracts.providers.serving import Serving
from contracts.providers.states import StateTable
from live.common.server import running
from live.common.settings import InstanceSettings
from live.inventory import app as inventory_app
from live.inventory.store import DEFAULT_CATALOGUE, InventoryStore, Line

__all__ = ["attach_inventory", "inventory_database", "inventory_states", "serve_inventory"]


def inventory_states(database: Path) -> StateTable:
    """The inventory's provider states over its database file ``database``."""
    store = InventoryStore(database)

    def stock(sku: str, available: int) -> None:
        with store.db.write() as db:
            db.execute(
                "INSERT INTO items (sku, name, available, reserved) VALUES (?, ?, ?, 0)"
                " ON CONFLICT (sku) DO UPDATE SET available = excluded.available, reserved = 0",
                (sku, f"Item {sku}", available),
            )

    def no_sku(sku: str) -> None:
        with store.db.write() as db:
            db.execute("DELETE FROM items WHERE sku = ?", (sku,))

    def reservation(request_id: str, sku: str, quantity: int) -> None:
        stock(sku, quantity)
        store.reserve(request_id, request_id.removeprefix("order:"), [Line(sku, quantity)])

    def no_reservation(request_id: str) -> None:
        with store.db.write() as db:
            db.execute("DELETE FROM reservation_lines WHERE request_id = ?", (request_id,))
            db.execute("DELETE FROM reservations WHERE request_id = ?", (request_id,))

    def reset() -> None:
        with store.db.write() as db:
            for table in ("reservation_lines", "reservations", "items"):
                db.execute(f"DELETE FROM {table}")
            db.executemany(
                "INSERT INTO items (sku, name, available, reserved) VALUES (?, ?, ?, ?)",
                [(i.sku, i.name, i.available, i.reserved) for i in DEFAULT_CATALOGUE],
            )

    setups = {
        "stock of a sku": stock,
        "no such sku": no_sku,
        "a reservation exists": reservation,
        "no reservation exists": no_reservation,
    }
    return StateTable("inventory", setups, reset)


def _settings(state_dir: Path) -> InstanceSettings:
    return InstanceSettings(service="inventory", instance="inventory-contracts", state_dir=state_dir)


def inventory_database(state_dir: Path) -> Path:
    """Where inventory keeps its database in the stack state folder ``state_dir``."""
    return _settings(state_dir).database


def attach_inventory(url: str, state_dir: Path) -> Serving:
    """Inventory running at ``url`` on the stack state folder ``state_dir`` (its database)."""
    return Serving(url, inventory_states(inventory_database(state_dir)))


@contextmanager
def serve_inventory(
    state_dir: Path, create_app: Callable[..., Any] = inventory_app.create_app
) -> Iterator[Serving]:
    """Inventory (``create_app``'s) on loopback with its database in ``state_dir``, until the block ends."""
    with running(create_app(_settings(state_dir))) as url:
        yield attach_inventory(url, state_dir)
