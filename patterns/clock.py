"""The injected clock every pattern reads time from.

Patterns never call ``time`` themselves: the simulator passes ``lambda: env.now`` (virtual seconds),
the live services pass ``time.monotonic`` (real seconds), tests pass a list cell they advance by hand.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Clock", "ManualClock"]

Clock = Callable[[], float]
"""A zero-argument callable returning the current time in seconds (monotonic)."""


class ManualClock:
    """A clock that moves only when told to: for tests and for stepping a pattern by hand."""

    __slots__ = ("now",)

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (never backward) and return the new time."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds})")
        self.now += seconds
        return self.now
