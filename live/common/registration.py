"""An instance's membership in the registry: register at start, heartbeat, deregister at stop.

Heartbeats go every third of the TTL the registry grants, so one lost heartbeat never evicts a live
instance; if the registry answers that it no longer knows the instance (it was evicted during a
pause, or the registry restarted), the instance registers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from live.common.registry_client import RegistryError, registry_client_for
from live.common.settings import InstanceSettings

__all__ = ["Registration"]

log = logging.getLogger("servicelab.live")


class Registration:
    """Keeps one instance registered while it runs (a no-op for the registry itself)."""

    def __init__(self, settings: InstanceSettings, port: int, patience: float = 10.0) -> None:
        self.settings = settings
        self.port = port
        self.patience = patience
        self.client = registry_client_for(settings) if settings.registry_url else None
        self._beating: asyncio.Task[None] | None = None

    async def _register(self) -> float:
        assert self.client is not None
        settings = self.settings
        metadata = {"scheme": settings.scheme} if settings.serves_mtls else {}  # callers dial https
        host = settings.advertise_host  # 127.0.0.1, or the container's name in container mode
        return await self.client.register(settings.service, settings.instance, host, self.port, metadata)

    async def start(self) -> None:
        """Register (retrying while the registry comes up, for ``patience`` seconds), then heartbeat."""
        if self.client is None:
            return
        deadline = time.monotonic() + self.patience
        while True:
            try:
                ttl = await self._register()
                break
            except RegistryError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        self._beating = asyncio.create_task(self._heartbeat(ttl))

    async def _heartbeat(self, ttl: float) -> None:
        assert self.client is not None
        settings = self.settings
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                if not await self.client.heartbeat(settings.service, settings.instance):
                    log.warning("the registry forgot %s: registering again", settings.instance)
                    ttl = await self._register()
            except RegistryError as error:
                log.warning("heartbeat failed: %s", error)

    async def stop(self) -> None:
        """Stop heartbeating and deregister (best effort: a registry that is gone evicts us by TTL)."""
        if self.client is None:
            return
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
        try:
            await self.client.deregister(self.settings.service, self.settings.instance)
        except RegistryError as error:
            log.warning("could not deregister: %s", error)
        await self.client.close()
