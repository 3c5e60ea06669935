"""Readiness and in-flight requests of one live process: what graceful shutdown waits on.

A process is *live* while it answers at all (``/health``) and *ready* while it wants traffic
(``/ready``). It becomes ready once it listens and has registered; on SIGTERM it stops being ready,
deregisters, waits for the requests already inside to finish (up to a grace period) and only then
closes its listener -- so no caller that picked it before the deregistration sees its connection cut.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["LIFECYCLE", "Lifecycle", "lifecycle_of"]


@dataclass
class Lifecycle:
    """A process's readiness flag and its count of requests in progress."""

    ready: bool = False
    draining: bool = False
    in_flight: int = 0
    _idle: asyncio.Event | None = field(default=None, repr=False)

    def started(self) -> None:
        """A request came in."""
        self.in_flight += 1

    def finished(self) -> None:
        """A request was answered (or its connection dropped)."""
        self.in_flight -= 1
        if self.in_flight == 0 and self._idle is not None:
            self._idle.set()

    def drain(self) -> None:
        """Stop being ready: callers should go elsewhere from now on."""
        self.ready = False
        self.draining = True

    async def drained(self, timeout: float) -> bool:
        """Wait until no request is in progress or ``timeout`` seconds passed; True when drained."""
        deadline = time.monotonic() + timeout
        while self.in_flight > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._idle = asyncio.Event()
            try:
                await asyncio.wait_for(self._idle.wait(), remaining)
            except TimeoutError:
                return self.in_flight == 0
        return True


LIFECYCLE = web.AppKey("servicelab.lifecycle", Lifecycle)
"""Where an aiohttp app keeps its Lifecycle."""


def lifecycle_of(app: Any) -> Lifecycle:
    """The app's Lifecycle (FastAPI: ``app.state``; aiohttp: the app mapping), created on first use."""
    if hasattr(app, "state"):
        found = getattr(app.state, "lifecycle", None)
        if found is None:
            found = Lifecycle()
            app.state.lifecycle = found
        return found
    if LIFECYCLE not in app:
        app[LIFECYCLE] = Lifecycle()
    return app[LIFECYCLE]
