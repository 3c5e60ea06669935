"""How a pending order settles when attempts race, and how orders spreads calls over inventory's instances."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from live.common.server import running
from live.orders.app import Orders, create_app
from live.orders.inventory import InventoryClient
from live.orders.store import OrderStore
from patterns.balancing import RoundRobin
from tests.live.http import call
from tests.live.orders.conftest import Inventories, Shop, instance, orders_settings
from tests.live.orders.stubs import recording_inventory

pytestmark = pytest.mark.live


def test_an_attempt_that_reserves_after_a_racing_refusal_gives_the_stock_back(shop: Shop) -> None:
    store = shop.store
    order = store.begin("ann", "k-1", [{"sku": "A-1", "quantity": 4}]).order
    # a racing attempt for the same key was refused (stock was short then) and settled the order first
    assert store.reject(order.id, {"error": "out_of_stock", "detail": "short then"}).changed

    async def late_attempt() -> str:
        async with aiohttp.ClientSession() as session:
            orders = Orders(store)
            orders.inventory = InventoryClient(session, shop.inventories, RoundRobin(), timeout=2.0)
            return (await orders.settle(order, {})).status

    assert asyncio.run(late_attempt()) == "rejected"
    assert shop.stock("A-1") == (10, 0)
    assert store.get(order.id).status == "rejected"
    assert shop.event_types() == []


def test_calls_to_inventory_take_turns_over_its_instances(tmp_path: Path) -> None:
    seen: tuple[list[dict[str, str]], list[dict[str, str]]] = ([], [])
    inventories = Inventories()
    with (
        running(recording_inventory(seen[0])) as first,
        running(recording_inventory(seen[1])) as second,
        running(create_app(orders_settings(tmp_path), discover=inventories)) as url,
    ):
        inventories.instances = [instance(first, "inventory-1"), instance(second, "inventory-2")]
        for i in range(6):
            reply = call(
                "POST",
                f"{url}/orders",
                json_body={"items": [{"sku": "A-1", "quantity": 1}]},
                headers={"X-User": "ann", "Idempotency-Key": f"k-{i}"},
            )
            assert reply.status == 201
    assert (len(seen[0]), len(seen[1])) == (3, 3)
    assert inventories.asked == 6
    assert len(OrderStore(orders_settings(tmp_path).database).orders_of("ann")) == 6
