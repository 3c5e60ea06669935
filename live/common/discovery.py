"""The instances of each service, asked of ``discover`` at most once per refresh interval.

The staleness rule is :class:`patterns.registry.DiscoveryCache`'s: an answer is reused while it is at
most ``refresh_interval`` seconds old. That class calls its fetch function synchronously, so the
awaitable ``discover`` runs first, when the cache says the entry is due, and the cache's fetch hands
back what it returned. :meth:`Instances.invalidate` drops an answer early, after an instance could
not be reached, so the next request asks again instead of trying a dead address until it ages out.

When ``discover`` fails (the registry is down) and an earlier answer exists, that answer is served
for another refresh interval instead of the error: a registry outage leaves callers on the instances
they last knew (the ``registry-outage`` chaos experiment checks it), and asking again once per
interval keeps a dead registry from costing every request a failed lookup. Only a service never
discovered has nothing to fall back on; its error propagates.
"""

from __future__ import annotations

import logging

from live.common.instances import Discover, InstanceInfo
from patterns.clock import Clock
from patterns.registry import DiscoveryCache

__all__ = ["Instances"]

log = logging.getLogger("servicelab.discovery")


class Instances:
    """``await instances.of(service)``: the cached instances of a service (refreshed when due)."""

    def __init__(self, discover: Discover, refresh_interval: float, clock: Clock) -> None:
        self._discover = discover
        self._answers: dict[str, list[InstanceInfo]] = {}
        self.cache = DiscoveryCache(self._answers.__getitem__, clock, refresh_interval)  # type: ignore[arg-type]

    async def of(self, service: str) -> list[InstanceInfo]:
        """The instances of ``service``; the last answer again if ``discover`` fails, its error if there
        is no last answer."""
        cache = self.cache
        if cache.age(service) > cache.refresh_interval:
            try:
                self._answers[service] = list(await self._discover(service))
            except Exception as error:  # discover is pluggable: whatever it raises means "not now"
                if service not in self._answers:
                    raise
                log.warning("discovering %s failed (%s): serving its last known instances", service, error)
        return cache.instances(service)  # type: ignore[return-value]

    def invalidate(self, service: str) -> None:
        """Ask ``discover`` again on the next request for ``service``."""
        self.cache.invalidate(service)
