"""The discovery cache of a stack process: fresh answers reused, the last answer kept through an outage."""

from __future__ import annotations

import asyncio

import pytest

from live.common.discovery import Instances
from live.common.instances import InstanceInfo

ORDERS = [InstanceInfo("orders", "orders-1", "127.0.0.1", 4001)]


class Registry:
    """A discover function whose registry can go down; it counts the lookups it was asked for."""

    def __init__(self) -> None:
        self.up = True
        self.lookups = 0

    async def __call__(self, service: str) -> list[InstanceInfo]:
        self.lookups += 1
        if not self.up:
            raise ConnectionError("registry unreachable")
        return list(ORDERS)


def test_a_registry_outage_serves_the_last_answer_and_asks_once_per_interval() -> None:
    now = [0.0]
    registry = Registry()
    instances = Instances(registry, refresh_interval=1.0, clock=lambda: now[0])
    assert asyncio.run(instances.of("orders")) == ORDERS
    registry.up = False
    now[0] = 5.0
    assert asyncio.run(instances.of("orders")) == ORDERS  # due, the lookup fails: the last answer
    assert asyncio.run(instances.of("orders")) == ORDERS  # and not asked again within the interval
    assert registry.lookups == 2
    now[0] = 6.5
    asyncio.run(instances.of("orders"))
    assert registry.lookups == 3  # asked again once the interval has passed


def test_a_service_never_discovered_has_no_fallback() -> None:
    registry = Registry()
    registry.up = False
    instances = Instances(registry, refresh_interval=1.0, clock=lambda: 0.0)
    with pytest.raises(ConnectionError):
        asyncio.run(instances.of("orders"))
