"""The asyncio runner of :class:`patterns.concurrency.Bulkhead`: waiting for a permit, with a bound.

The bulkhead itself only keeps the books (permits in use, a FIFO of waiters). Here a waiter is an
asyncio future: :meth:`AsyncBulkhead.acquire` takes a permit at once, or queues and waits up to
``max_wait`` seconds for :meth:`AsyncBulkhead.release` to hand one over, or is refused when the queue
is full. A waiter that times out or whose request is cancelled withdraws from the queue; if a permit
reached it in the same instant, it gives that permit back, so no permit is ever lost.
"""

from __future__ import annotations

import asyncio

from patterns.concurrency import Bulkhead

__all__ = ["AsyncBulkhead"]


class AsyncBulkhead:
    """``if await bulkhead.acquire(): try: ... finally: bulkhead.release()``; False means refused."""

    def __init__(self, max_concurrent: int, max_waiting: int, max_wait: float) -> None:
        self.bulkhead: Bulkhead[asyncio.Future[None]] = Bulkhead(max_concurrent, max_waiting)
        self.max_wait = max_wait

    async def acquire(self) -> bool:
        """True with a permit held (call :meth:`release` once done), False if refused or timed out."""
        bulkhead = self.bulkhead
        if bulkhead.try_enter():
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not bulkhead.enqueue(waiter):
            return False
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.max_wait)
        except TimeoutError:
            return not bulkhead.cancel(waiter)  # not waiting any more: the permit was handed over
        except asyncio.CancelledError:
            if not bulkhead.cancel(waiter):
                self.release()
            raise
        return True

    def release(self) -> None:
        """Give the permit back, handing it to the oldest waiter if there is one."""
        waiter = self.bulkhead.leave()
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
