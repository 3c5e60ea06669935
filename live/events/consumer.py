"""A consuming service's loop: read a group's events, handle each, ack it -- or nack it when it fails.

The handler must be idempotent (deliveries are at least once: a redelivered event may already have
been handled by a consumer that died before its ack). An event the handler fails on is nacked and
comes back, up to the broker's ``max_deliveries``; then it lands in the dead-letter queue, so one
poison event never blocks the rest. A round that fails (the broker cannot be reached) is retried
after a pause: the loop only ends when its task is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from live.events.broker import Broker, BrokerError, Delivered, check_name

__all__ = ["Consumer", "Handler"]

log = logging.getLogger("servicelab.live.events")

Handler = Callable[[Delivered], Awaitable[None]]


class Consumer:
    """Consumer ``name`` of ``group`` on ``stream``: long polls of ``block`` seconds, ``count`` at a time."""

    def __init__(
        self,
        broker: Broker,
        stream: str,
        group: str,
        name: str,
        handle: Handler,
        *,
        count: int = 10,
        block: float = 1.0,
        pause: float = 1.0,
    ) -> None:
        if pause <= 0:
            raise ValueError(f"pause must be > 0 seconds, got pause={pause!r}")
        self.broker = broker
        self.stream, self.group, self.name = check_name("stream", stream), check_name("group", group), name
        check_name("consumer", name)
        self.handle = handle
        self.count, self.block, self.pause = count, block, pause

    async def run_once(self) -> int:
        """One read and its events handled; returns how many were acked."""
        acked = 0
        for delivered in await self.broker.read(self.stream, self.group, self.name, self.count, self.block):
            try:
                await self.handle(delivered)
            except Exception:
                number = delivered.delivery
                log.exception("%s: event %s failed (delivery %d): nacked", self.name, delivered.id, number)
                await self.broker.nack(self.stream, self.group, delivered.id)
                continue
            acked += await self.broker.ack(self.stream, self.group, delivered.id)
        return acked

    async def run(self) -> None:
        """Consume until cancelled; a failed round is logged and retried after a pause."""
        while True:
            try:
                await self.run_once()
            except BrokerError as error:
                log.warning("%s: %s; retrying in %.3g s", self.name, error, self.pause)
                await asyncio.sleep(self.pause)
            except Exception:
                log.exception("%s: consuming failed; retrying in %.3g s", self.name, self.pause)
                await asyncio.sleep(self.pause)
