"""The instances of each service, asked of ``discover`` at most once per refresh interval.

The staleness rule is :class:`patterns.registry.DiscoveryCache`'s: an answer is reused while it is at
most ``refresh_interval`` seconds old. That class calls its fetch function synchronously, so the
awaitable ``discover`` runs first, when the cache says the entry is due, and the cache's fetch hands
back what it returned. :meth:`Instances.invalidate` drops an answer early, after an instance could
not be reached, so the next request asks again instead of trying a dead address until it ages out.
"""

from __future__ import annotations

from live.common.instances import Discover, InstanceInfo
from patterns.clock import Clock
from patterns.registry import DiscoveryCache

__all__ = ["Instances"]


class Instances:
    """``await instances.of(service)``: the cached instances of a service (refreshed when due)."""

    def __init__(self, discover: Discover, refresh_interval: float, clock: Clock) -> None:
        self._discover = discover
        self._answers: dict[str, list[InstanceInfo]] = {}
        self.cache = DiscoveryCache(self._answers.__getitem__, clock, refresh_interval)  # type: ignore[arg-type]

    async def of(self, service: str) -> list[InstanceInfo]:
        """The instances of ``service``; ``discover``'s errors propagate and leave the cache as it was."""
        cache = self.cache
        if cache.age(service) > cache.refresh_interval:
            self._answers[service] = list(await self._discover(service))
        return cache.instances(service)  # type: ignore[return-value]

    def invalidate(self, service: str) -> None:
        """Ask ``discover`` again on the next request for ``service``."""
        self.cache.invalidate(service)
