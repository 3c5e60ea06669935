"""The embedded broker's client: :class:`live.events.broker.Broker` over the broker service's HTTP API.

Where the broker listens is asked of ``locate`` before each call (in the stack: the registry, through
the caller's cached discovery), so a restarted broker on another port is found again. Failures to
reach it, and its 5xx answers, are :class:`~live.events.broker.BrokerError`; its 4xx answers (a bad
name, count or body) are ValueError with its message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from live.events.broker import MAX_BLOCK, BrokerError, DeadLetter, Delivered

__all__ = ["BrokerClient"]

Locate = Callable[[], Awaitable[str]]
Closer = Callable[[], Awaitable[None]]


def _group_path(stream: str, group: str) -> str:
    return f"/streams/{quote(stream, safe='')}/groups/{quote(group, safe='')}"


class BrokerClient:
    """The broker at the base URL ``locate`` returns (or at a fixed URL)."""

    def __init__(self, locate: Locate | str, timeout: float = 5.0, on_close: Closer | None = None) -> None:
        if isinstance(locate, str):
            fixed = locate.rstrip("/")

            async def at_fixed_url() -> str:
                return fixed

            locate = at_fixed_url
        self.locate = locate
        self.timeout = timeout
        self.on_close = on_close
        self._session: aiohttp.ClientSession | None = None

    async def _call(self, method: str, path: str, body: Any = None, wait: float = 0.0) -> Any:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        try:
            base = (await self.locate()).rstrip("/")
            limit = aiohttp.ClientTimeout(total=self.timeout + wait)
            async with self._session.request(method, base + path, json=body, timeout=limit) as response:
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError, LookupError) as error:
            raise BrokerError(f"the broker could not be reached: {error!r}") from error
        message = answer.get("error") if isinstance(answer, dict) else None
        if 400 <= response.status < 500:
            raise ValueError(f"the broker refused {method} {path}: {message}")
        if response.status >= 500 or not isinstance(answer, dict):
            raise BrokerError(f"the broker answered {response.status} to {method} {path}: {message}")
        return answer

    async def publish(self, stream: str, event: Mapping[str, Any]) -> str:
        answer = await self._call("POST", f"/streams/{quote(stream, safe='')}/events", dict(event))
        return str(answer["id"])

    async def read(
        self, stream: str, group: str, consumer: str, count: int = 10, block: float = 0.0
    ) -> list[Delivered]:
        path = f"{_group_path(stream, group)}/read"
        body = {"consumer": consumer, "count": count, "block": block}
        answer = await self._call("POST", path, body, wait=min(max(block, 0.0), MAX_BLOCK))
        return [Delivered(stream, group, e["id"], e["event"], e["delivery"]) for e in answer["events"]]

    async def _settle(self, stream: str, group: str, event_id: str, verb: str) -> bool:
        path = f"{_group_path(stream, group)}/events/{quote(event_id, safe='')}/{verb}"
        return bool((await self._call("POST", path))["settled"])

    async def ack(self, stream: str, group: str, event_id: str) -> bool:
        return await self._settle(stream, group, event_id, "ack")

    async def nack(self, stream: str, group: str, event_id: str) -> bool:
        return await self._settle(stream, group, event_id, "nack")

    async def dlq(self, stream: str) -> list[DeadLetter]:
        answer = await self._call("GET", f"/streams/{quote(stream, safe='')}/dlq")
        return [
            DeadLetter(stream, d["group"], d["id"], d["event"], d["deliveries"])
            for d in answer["dead_letters"]
        ]

    async def close(self) -> None:
        """Close the connections (and whatever ``on_close`` closes: the discovery ``locate`` uses)."""
        if self._session is not None:
            await self._session.close()
        if self.on_close is not None:
            await self.on_close()
