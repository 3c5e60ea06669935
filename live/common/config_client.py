"""Following the config service from inside a service process: :class:`ConfigWatcher`.

A watcher keeps the values of every key under one prefix (``gateway.``) and calls ``on_change`` with
all of them -- a plain ``{key: value}`` dict -- whenever any changes: first when it has read them
(``GET /config?prefix=...``), then after every write a long-poll watch (``GET /config/watch``)
reports. Handing over the whole mapping, not the one key that changed, lets the consumer rebuild what
it derives from scratch, the same way each time.

It runs as an asyncio task for the life of the app (:meth:`start` at startup, :meth:`stop` at
shutdown; :meth:`running` is the same for an aiohttp ``cleanup_ctx``). The config service may be
away -- not started yet, restarting, moved to another port: the watcher then waits by a
:mod:`patterns.retry` backoff (full jitter, so a fleet of watchers does not come back in step), finds
the service again through its ``locate`` function (the registry) and reads everything afresh, so it
misses nothing written while it was away. The last values stay in force meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp

from live.common.instances import Discover
from patterns.retry import make_backoff

__all__ = ["ConfigUnavailableError", "ConfigWatcher", "Locate", "OnChange", "locate_config"]

log = logging.getLogger("servicelab.config")

OnChange = Callable[[dict[str, Any]], None]
Locate = Callable[[], Awaitable[str]]


class ConfigUnavailableError(RuntimeError):
    """The config service could not be found or answered something unexpected."""


def locate_config(discover: Discover, service: str = "config") -> Locate:
    """A ``locate`` function: the URL of an instance of the config service, from ``discover``."""

    async def locate() -> str:
        found = await discover(service)
        if not found:
            raise ConfigUnavailableError(f"no instance of the {service} service is registered")
        return found[0].url

    return locate


class ConfigWatcher:
    """Follow the keys under ``prefix`` at the config service (``url``, or a ``locate`` function).

    ``hold`` is how long each watch may be held by the service (seconds); ``base``/``cap`` bound the
    backoff between attempts after a failure. ``values`` and ``version`` are the last ones seen.
    """

    def __init__(
        self,
        url: str | Locate,
        prefix: str,
        on_change: OnChange,
        *,
        hold: float = 30.0,
        base: float = 0.1,
        cap: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        self._locate = url if callable(url) else _fixed(url)
        self.prefix = prefix
        self.on_change = on_change
        self.hold = hold
        self.backoff = make_backoff("full_jitter", base=base, cap=cap, rng=rng)
        self.values: dict[str, Any] = {}
        self.version: int | None = None
        self._task: asyncio.Task[None] | None = None

    # -- life ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start following (in the running event loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"config-watch-{self.prefix}")

    async def stop(self) -> None:
        """Stop following (the watch in progress is abandoned)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def running(self, app: object) -> AsyncIterator[None]:
        """For an aiohttp app's ``cleanup_ctx``: follow while the app runs."""
        self.start()
        try:
            yield
        finally:
            await self.stop()

    # -- the loop ----------------------------------------------------------------------------------

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.hold + 5.0)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            failures, delay = 0, None
            while True:
                try:
                    await self._follow(session)
                    failures, delay = 0, None  # the service started over with fewer versions: read again
                except Exception as error:  # unreachable, refused, garbled, no registry: all alike
                    failures += 1
                    delay = self.backoff.delay(failures, delay)
                    problem = str(error) or type(error).__name__
                    log.warning("config %s*: %s; trying again in %.2f s", self.prefix, problem, delay)
                    await asyncio.sleep(delay)

    async def _get(self, session: aiohttp.ClientSession, url: str, **params: Any) -> dict[str, Any]:
        async with session.get(url, params=params) as response:
            if response.status != 200:
                raise ConfigUnavailableError(f"{url} answered {response.status}")
            body = await response.json()
        if not isinstance(body, dict):
            raise ConfigUnavailableError(f"{url} did not answer a JSON object")
        return body

    async def _follow(self, session: aiohttp.ClientSession) -> None:
        """Read everything, then watch; returns when the service's version went backwards."""
        base = (await self._locate()).rstrip("/")
        snapshot = await self._get(session, f"{base}/config", prefix=self.prefix)
        self.version = int(snapshot["version"])
        self._deliver({entry["key"]: entry["value"] for entry in snapshot["entries"]})
        while True:
            answer = await self._get(
                session, f"{base}/config/watch", prefix=self.prefix, after=self.version, timeout=self.hold
            )
            version = int(answer["version"])
            if version < self.version:
                log.warning("config version went back from %d to %d: reading again", self.version, version)
                return
            self.version = version
            if answer["changes"]:
                values = dict(self.values)
                for change in answer["changes"]:
                    if change["source"] == "deleted":
                        values.pop(change["key"], None)
                    else:
                        values[change["key"]] = change["value"]
                self._deliver(values)

    def _deliver(self, values: dict[str, Any]) -> None:
        self.values = values
        try:
            self.on_change(dict(values))
        except Exception:  # the consumer's problem must not stop the watching
            log.exception("applying config %s* failed", self.prefix)


def _fixed(url: str) -> Locate:
    async def locate() -> str:
        return url

    return locate
