"""The event loop every live process runs on: uvloop's (libuv) where it is installed, else asyncio's.

uvloop does the work of asyncio's own loop -- sockets, timers, the transports under aiohttp and
uvicorn -- in C, at a fraction of the CPU per request, which is much of what a hop through the
gateway costs. It is not built for Windows, where the standard loop serves unchanged.

Servers (:mod:`live.common.server`) run on it; the load generator does not: uvloop's clock
(``loop.time()``) ticks in whole milliseconds, too coarse for a schedule of sends and the latencies
measured from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["new_event_loop", "run"]

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A fresh event loop: uvloop's when importable, else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on a loop from :func:`new_event_loop`."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
