"""The registry over real HTTP: token-guarded writes, lookups, TTL eviction and active health checks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest
from aiohttp import web

from live.common.registry_client import Discovery, RegistryClient, RegistryError
from live.common.server import running
from live.registry import RegistryConfig, create_app
from patterns.balancing import NoHealthyInstance

pytestmark = pytest.mark.live

TOKEN = "s3cret-token"
FAST = RegistryConfig(
    ttl=0.6, sweep_interval=0.1, check_interval=0.2, check_timeout=0.3, failures_to_critical=2
)


@pytest.fixture
def registry() -> Iterator[str]:
    with running(create_app(TOKEN, FAST)) as url:
        yield url


def ready_app(status: list[int]) -> web.Application:
    """A tiny instance whose /ready answers status[0]."""

    async def ready(request: web.Request) -> web.Response:
        return web.Response(status=status[0])

    app = web.Application()
    app.router.add_get("/ready", ready)
    return app


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> float:
    """Seconds until ``check()`` holds (polling every 50 ms); fails the test after ``within`` seconds."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    pytest.fail(f"condition not met within {within} s")


def test_writes_need_the_token(registry: str) -> None:
    async def scenario() -> None:
        for token, status in ((None, "401"), ("wrong", "403")):
            client = RegistryClient(registry, token)
            with pytest.raises(RegistryError, match=status):
                await client.register("orders", "orders-1", "127.0.0.1", 8000)
            await client.close()
        client = RegistryClient(registry, TOKEN)
        assert await client.lookup("orders") == []
        await client.close()

    asyncio.run(scenario())


def test_only_loopback_addresses_are_accepted(registry: str) -> None:
    async def scenario() -> None:
        client = RegistryClient(registry, TOKEN)
        with pytest.raises(RegistryError, match=r"422.*loopback"):
            await client.register("orders", "orders-1", "10.0.0.5", 8000)
        await client.close()

    asyncio.run(scenario())


def test_a_heartbeating_instance_stays_and_a_silent_one_is_evicted(registry: str) -> None:
    status = [200]

    async def scenario(a: int, b: int) -> None:
        client = RegistryClient(registry, TOKEN)
        ttl = await client.register("orders", "orders-1", "127.0.0.1", a)
        await client.register("orders", "orders-2", "127.0.0.1", b)
        assert ttl == FAST.ttl
        assert {i.instance for i in await client.lookup("orders")} == {"orders-1", "orders-2"}
        for _ in range(8):  # 1.6 s: well past the TTL for orders-2, which stays silent
            assert await client.heartbeat("orders", "orders-1")
            await asyncio.sleep(0.2)
        assert [i.instance for i in await client.lookup("orders")] == ["orders-1"]
        assert not await client.heartbeat("orders", "orders-2")  # evicted: must register again
        await client.deregister("orders", "orders-1")
        assert await client.lookup("orders") == []
        await client.close()

    with running(ready_app(status)) as a, running(ready_app(status)) as b:
        asyncio.run(scenario(port_of(a), port_of(b)))


def test_an_instance_failing_its_health_check_leaves_rotation_and_comes_back(registry: str) -> None:
    status = [200]

    async def scenario(port: int) -> None:
        client = RegistryClient(registry, TOKEN)
        await client.register("orders", "orders-1", "127.0.0.1", port)

        async def beat_until(listed: bool) -> bool:
            await client.heartbeat("orders", "orders-1")
            return bool(await client.lookup("orders")) is listed

        status[0] = 503
        took = await eventually(lambda: beat_until(False))
        # two failed probes, check_interval apart, plus polling: well under a second
        assert took < 1.5
        status[0] = 200
        await eventually(lambda: beat_until(True))
        await client.close()

    with running(ready_app(status)) as url:
        asyncio.run(scenario(port_of(url)))


def test_discovery_balances_over_the_registered_instances(registry: str) -> None:
    status = [200]

    async def scenario(ports: list[int]) -> None:
        client = RegistryClient(registry, TOKEN)
        discovery = Discovery(client, refresh_interval=0.001)
        with pytest.raises(NoHealthyInstance):
            await discovery.pick("orders")
        for n, port in enumerate(ports, 1):
            await client.register("orders", f"orders-{n}", "127.0.0.1", port)
        picks = [(await discovery.pick("orders")).instance for _ in range(9)]
        assert sorted(picks) == sorted(["orders-1", "orders-2", "orders-3"] * 3)  # round robin
        await client.close()

    with running(ready_app(status)) as a, running(ready_app(status)) as b, running(ready_app(status)) as c:
        asyncio.run(scenario([port_of(a), port_of(b), port_of(c)]))
