"""ConfigWatcher against a real config service: it follows writes, and outlives the service's restarts."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from live.common.config_client import ConfigWatcher
from live.common.server import running
from live.config.app import create_app
from live.config.store import ConfigStore
from tests.live.http import call

pytestmark = pytest.mark.live

TOKEN = "config-s3cret"


def service(path: Path) -> Any:
    return create_app(ConfigStore(path, {"gateway.maintenance": False}), TOKEN, poll_interval=0.1)


def put(url: str, key: str, value: object) -> None:
    answer = call("PUT", f"{url}/config/{key}", json_body=value, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status == 200


async def until(check: Callable[[], bool], within: float = 5.0) -> float:
    """Seconds until ``check()`` holds (polled every 20 ms); fails after ``within`` seconds."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if check():
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {within} s")


def test_the_watcher_delivers_everything_then_each_write_under_its_prefix(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    async def scenario(url: str) -> None:
        watcher = ConfigWatcher(url, "gateway.", seen.append, hold=5.0)
        watcher.start()
        try:
            await until(lambda: len(seen) == 1)
            assert seen[0] == {"gateway.maintenance": False}
            await asyncio.to_thread(put, url, "orders.other", 1)  # not its prefix: nothing delivered
            await asyncio.to_thread(put, url, "gateway.rate_limit.rate", 2)
            took = await until(lambda: len(seen) == 2)
            assert took < 1.0
            assert seen[1] == {"gateway.maintenance": False, "gateway.rate_limit.rate": 2}
            assert watcher.version == 2
        finally:
            await watcher.stop()

    with running(service(tmp_path / "config.sqlite3")) as url:
        asyncio.run(scenario(url))


def test_the_watcher_finds_a_restarted_service_and_misses_no_write(tmp_path: Path) -> None:
    path = tmp_path / "config.sqlite3"
    where: list[str] = []
    seen: list[dict[str, Any]] = []

    async def locate() -> str:
        if not where:
            raise ConnectionRefusedError("the config service is away")  # an OSError: aiohttp's kind
        return where[0]

    async def scenario() -> None:
        watcher = ConfigWatcher(
            locate, "gateway.", seen.append, hold=2.0, base=0.05, cap=0.3, rng=random.Random(1)
        )
        watcher.start()
        try:
            with running(service(path)) as first:
                where.append(first)
                await until(lambda: len(seen) == 1)
                where.clear()
            put_later = running(service(path))  # the same file: the versions go on
            with put_later as second:
                await asyncio.to_thread(put, second, "gateway.maintenance", "written while away")
                where.append(second)
                await until(lambda: seen[-1].get("gateway.maintenance") == "written while away", within=10)
                await asyncio.to_thread(put, second, "gateway.maintenance", False)
                await until(lambda: seen[-1].get("gateway.maintenance") is False)
                assert watcher.version == 2
        finally:
            await watcher.stop()

    asyncio.run(scenario())


def test_a_service_that_lost_its_versions_is_read_afresh(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    where: list[str] = []

    async def locate() -> str:
        return where[0]

    async def scenario() -> None:
        watcher = ConfigWatcher(locate, "gateway.", seen.append, hold=0.5, base=0.05, cap=0.2)
        with running(service(tmp_path / "one.sqlite3")) as first:
            for value in range(3):
                put(first, "gateway.n", value)
            where.append(first)
            watcher.start()
            try:
                await until(lambda: watcher.version == 3)
            finally:
                where.clear()
        with running(service(tmp_path / "two.sqlite3")) as second:  # a new file: back to version 0
            where.append(second)
            try:
                await until(lambda: watcher.version == 0 and "gateway.n" not in seen[-1], within=10)
            finally:
                await watcher.stop()

    asyncio.run(scenario())


def test_an_on_change_that_fails_does_not_stop_the_watching(tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []

    def fragile(values: dict[str, Any]) -> None:
        calls.append(values)
        if len(calls) == 1:
            raise RuntimeError("the consumer broke")

    async def scenario(url: str) -> None:
        watcher = ConfigWatcher(url, "gateway.", fragile, hold=5.0)
        watcher.start()
        try:
            await until(lambda: len(calls) == 1)
            await asyncio.to_thread(put, url, "gateway.x", 1)
            await until(lambda: len(calls) == 2)
        finally:
            await watcher.stop()

    with running(service(tmp_path / "config.sqlite3")) as url:
        asyncio.run(scenario(url))
