"""Orders' calls to inventory: found through discovery, one instance picked by a balancing policy.

Each call asks ``discover("inventory")`` for the instances, lets the :mod:`patterns.balancing` policy
pick one (telling it when the call started and how it ended, so load-aware policies learn), and waits
at most ``timeout`` seconds. There is no retry here: a caller that gets 503 retries the whole create
with its Idempotency-Key, and inventory's idempotency by request id makes that safe.

Outcomes: a reservation (dict), :class:`StockRefusedError` (inventory answered 409: the reason is its
JSON body), or :class:`InventoryUnavailableError` (no instance, connection refused, timeout, 5xx, or
an answer orders does not understand).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp

from live.common.instances import Discover
from patterns.balancing import NoHealthyInstance, Policy
from patterns.clock import Clock

__all__ = ["InventoryClient", "InventoryUnavailableError", "StockRefusedError"]

SERVICE = "inventory"


class InventoryUnavailableError(Exception):
    """Inventory could not give an answer in time; nothing is known about the reservation."""


class StockRefusedError(Exception):
    """Inventory refused the reservation; ``reason`` is its JSON error body."""

    def __init__(self, reason: Mapping[str, Any]) -> None:
        super().__init__(str(reason.get("error", reason)))
        self.reason = dict(reason)


class InventoryClient:
    """Reserve and release stock at some instance of inventory."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        discover: Discover,
        policy: Policy,
        timeout: float,
        clock: Clock = time.monotonic,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got timeout={timeout!r}")
        self.session = session
        self.discover = discover
        self.policy = policy
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.clock = clock

    async def _call(self, path: str, body: Any, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        try:
            instance = self.policy.pick(await self.discover(SERVICE))
        except NoHealthyInstance as none:
            raise InventoryUnavailableError("no inventory instance is registered") from none
        except Exception as failed:  # the registry itself is down or answered nonsense
            raise InventoryUnavailableError(f"cannot discover inventory: {failed}") from failed
        self.policy.started(instance)
        start, ok = self.clock(), False
        try:
            async with self.session.post(
                f"{instance.url}{path}", json=body, headers=dict(headers), timeout=self.timeout
            ) as response:
                status = response.status
                ok = status < 500
                answer = await response.json(content_type=None) if ok else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as failed:
            ok = False
            raise InventoryUnavailableError(f"inventory at {instance.url}: {failed!r}") from failed
        finally:
            self.policy.finished(instance, self.clock() - start, ok)
        if not ok:
            raise InventoryUnavailableError(f"inventory at {instance.url} answered {status}")
        if not isinstance(answer, dict):
            raise InventoryUnavailableError(
                f"inventory at {instance.url} answered {status} without a JSON object"
            )
        return status, answer

    async def reserve(
        self, request_id: str, order_id: str, items: Sequence[Mapping[str, Any]], headers: Mapping[str, str]
    ) -> dict[str, Any]:
        """Reserve every line (idempotent by ``request_id``); the reservation as inventory returns it."""
        body = {"request_id": request_id, "order_id": order_id, "items": [dict(line) for line in items]}
        status, answer = await self._call("/inventory/reservations", body, headers)
        if status == 409:
            raise StockRefusedError(answer)
        if status not in (200, 201):
            raise InventoryUnavailableError(f"inventory refused the reservation: {status} {answer}")
        return answer

    async def release(self, request_id: str, headers: Mapping[str, str]) -> dict[str, Any] | None:
        """Release the reservation made under ``request_id``; None if inventory has none."""
        path = f"/inventory/reservations/{quote(request_id, safe='')}/release"
        status, answer = await self._call(path, None, headers)
        if status == 404:
            return None
        if status != 200:
            raise InventoryUnavailableError(f"inventory refused the release: {status} {answer}")
        return answer
