"""Orders against a real inventory: both served on loopback, each on its own SQLite file in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from live.common.instances import InstanceInfo
from live.common.server import running
from live.common.settings import InstanceSettings
from live.inventory.app import create_app as create_inventory
from live.inventory.store import Item
from live.orders.app import create_app as create_orders
from live.orders.store import OrderStore
from tests.live.http import Answer, call

CATALOGUE = (Item("A-1", "Apple", 10), Item("B-2", "Banana", 3))


def instance(url: str, name: str = "inventory-1") -> InstanceInfo:
    host, port = url.removeprefix("http://").split(":")
    return InstanceInfo("inventory", name, host, int(port))


@dataclass
class Inventories:
    """What the orders app's ``discover`` answers for inventory; tests change it as they go."""

    instances: list[InstanceInfo] = field(default_factory=list)
    asked: int = 0

    async def __call__(self, service: str) -> list[InstanceInfo]:
        assert service == "inventory", service
        self.asked += 1
        return list(self.instances)


def orders_settings(state: Path, instance_name: str = "orders-1") -> InstanceSettings:
    return InstanceSettings(service="orders", instance=instance_name, state_dir=state)


@dataclass
class Shop:
    orders: str
    inventory: str
    inventories: Inventories
    store: OrderStore

    def create(self, user: str, key: str | None, *lines: tuple[str, int], url: str | None = None) -> Answer:
        headers = {"X-User": user}
        if key is not None:
            headers["Idempotency-Key"] = key
        items = [{"sku": sku, "quantity": quantity} for sku, quantity in lines]
        return call("POST", f"{url or self.orders}/orders", json_body={"items": items}, headers=headers)

    def stock(self, sku: str) -> tuple[int, int]:
        item = call("GET", f"{self.inventory}/inventory/items/{sku}").body
        return item["available"], item["reserved"]

    def event_types(self) -> list[str]:
        return [event.type for event in self.store.events()]


@pytest.fixture
def inventory_url(tmp_path: Path) -> Iterator[str]:
    settings = InstanceSettings(service="inventory", instance="inventory-1", state_dir=tmp_path)
    with running(create_inventory(settings, catalogue=CATALOGUE)) as url:
        yield url


@pytest.fixture
def shop(tmp_path: Path, inventory_url: str) -> Iterator[Shop]:
    inventories = Inventories([instance(inventory_url)])
    settings = orders_settings(tmp_path)
    with running(create_orders(settings, discover=inventories, timeout=1.0)) as url:
        yield Shop(url, inventory_url, inventories, OrderStore(settings.database))
