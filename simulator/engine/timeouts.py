"""Per-try timeouts of one call edge, on one timer.

Every try on an edge gets the same timeout, so the tries expire in the order they were sent: a FIFO
of (expiry, try) and a single timer for its head do the work of a timer per try. A try that ended
before its expiry stays in the FIFO, closed, and is skipped when its time comes; the timer is only
re-armed for the next try still open. SimPy cannot take an event off its schedule, so this also
keeps long timeouts (which almost never fire) from filling the event heap with dead timers.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import simpy
from simpy.events import Event

if TYPE_CHECKING:
    from simulator.engine.guard import Try

__all__ = ["TimeoutQueue"]


class TimeoutQueue:
    """Fires ``exchange.timed_out(try)`` for each open try ``timeout`` seconds after it was added."""

    __slots__ = ("armed", "env", "pending", "timeout")

    def __init__(self, env: simpy.Environment, timeout: float) -> None:
        self.env, self.timeout = env, timeout
        self.pending: deque[tuple[float, Try]] = deque()
        self.armed = False

    def add(self, attempt: Try) -> None:
        """Time ``attempt`` out ``timeout`` seconds from now, unless it has ended by then."""
        self.pending.append((self.env.now + self.timeout, attempt))
        if not self.armed:
            self.arm()

    def arm(self) -> None:
        pending = self.pending
        while pending and not pending[0][1].open:  # ended already: nothing to wake up for
            pending.popleft()
        if pending:
            timer = self.env.timeout(pending[0][0] - self.env.now)
            timer.callbacks.append(self.fire)  # type: ignore[union-attr]
            self.armed = True

    def fire(self, _: Event) -> None:
        self.armed = False
        pending, now = self.pending, self.env.now
        while pending and pending[0][0] <= now:
            _, attempt = pending.popleft()
            if attempt.open:
                attempt.exchange.timed_out(attempt)  # may send a retry, which may arm the timer
        if not self.armed:
            self.arm()
