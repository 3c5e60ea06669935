"""Limiting concurrency: bulkheads, load shedders and adaptive concurrency limits.

Everything here is bookkeeping. The runner (a SimPy process in the simulator, an asyncio task in the
live services) does the actual waiting, timing and cancelling, and tells these classes what happened;
they answer "admit, queue or refuse?" in O(1).

- :class:`Bulkhead`: at most ``max_concurrent`` permits in use and at most ``max_waiting`` waiters
  queued behind them, admitted first in, first out (resilience4j's ``SemaphoreBulkhead``; its maximum
  wait is the runner's timeout on waiting, after which it calls :meth:`Bulkhead.cancel`).
- :class:`QueueLengthShedder`: refuse new work when the queue already holds ``max_queue`` items.
- :class:`LatencyShedder`: refuse new work while the queueing delay has stayed above ``target`` for at
  least ``interval`` seconds (the standing-queue test of CoDel).
- :class:`AdaptiveLimit` with :class:`AIMDLimit` and :class:`GradientLimit`: a concurrency limit that
  adapts to the round-trip times and drops it observes, in the style of Netflix's concurrency-limits
  library; :class:`LimitedGate` admits requests while fewer than the current limit are in flight.

Invalid configuration raises ``ValueError`` naming the values; calling a method out of order (leaving
a bulkhead nobody entered) raises ``RuntimeError``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

from patterns.clock import Clock

__all__ = [
    "AIMDLimit",
    "AdaptiveLimit",
    "Bulkhead",
    "GradientLimit",
    "LatencyShedder",
    "LimitedGate",
    "QueueLengthShedder",
]

W = TypeVar("W", bound=Hashable)


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_sample(rtt: float, inflight: int) -> None:
    if not (math.isfinite(rtt) and rtt >= 0):
        raise ValueError(f"a sample needs a finite rtt >= 0 (seconds), got rtt={rtt!r}")
    if not (_is_int(inflight) and inflight >= 0):
        raise ValueError(f"a sample needs an integer inflight >= 0, got inflight={inflight!r}")


# -- bulkhead -----------------------------------------------------------------------------------------


class Bulkhead(Generic[W]):
    """A counting semaphore with a bounded FIFO queue of waiters.

    The runner's protocol for one call::

        if bulkhead.try_enter():           # a permit now
            run()
        elif bulkhead.enqueue(waiter):     # wait (with a timeout) until leave() hands us the permit
            ...                            # on timeout: if bulkhead.cancel(waiter) is False, the permit
                                           # was handed over already, so run (or leave()) anyway
        else:
            reject()                       # counted in ``rejected``

    and after the call ``nxt = bulkhead.leave()``; if ``nxt`` is not None the runner wakes it up: the
    permit passed straight to it (``in_use`` did not change), so no newcomer can jump the queue.

    Invariants: ``0 <= in_use <= max_concurrent`` and ``0 <= waiting <= max_waiting``; and a waiter exists
    only while every permit is held (``waiting > 0`` implies ``in_use == max_concurrent``), so
    :meth:`try_enter` never overtakes a waiter. Waiters are admitted in the order they were enqueued.
    Waiters must be hashable (SimPy events and asyncio futures are) and distinct while waiting.
    """

    __slots__ = ("_max_concurrent", "_max_waiting", "_queue", "cancelled", "in_use", "rejected")

    def __init__(self, max_concurrent: int, max_waiting: int = 0) -> None:
        if not (
            _is_int(max_concurrent) and max_concurrent >= 1 and _is_int(max_waiting) and max_waiting >= 0
        ):
            raise ValueError(
                "a bulkhead needs an integer max_concurrent >= 1 and an integer max_waiting >= 0, "
                f"got max_concurrent={max_concurrent!r}, max_waiting={max_waiting!r}"
            )
        self._max_concurrent = max_concurrent
        self._max_waiting = max_waiting
        self._queue: OrderedDict[W, None] = OrderedDict()  # O(1) append, pop-first and cancel
        self.in_use = 0
        self.rejected = 0
        self.cancelled = 0

    @property
    def max_concurrent(self) -> int:
        return self._max_concurrent

    @property
    def max_waiting(self) -> int:
        return self._max_waiting

    @property
    def waiting(self) -> int:
        """Waiters queued now."""
        return len(self._queue)

    def try_enter(self) -> bool:
        """Take a permit now if one is free (never ahead of a waiter) and return True; else False.

        A False is not a rejection: the runner may still :meth:`enqueue` the call.
        """
        if self.in_use < self._max_concurrent:
            self.in_use += 1
            return True
        return False

    def enqueue(self, waiter: W) -> bool:
        """Queue ``waiter`` for the next free permit; False (counted in ``rejected``) if the queue is full.

        Only call it after :meth:`try_enter` failed: with a permit free nobody would ever wake the waiter,
        so that raises ``RuntimeError``, as does enqueueing a waiter that is already waiting.
        """
        if self.in_use < self._max_concurrent:
            raise RuntimeError(f"enqueue with a free permit ({self.in_use}/{self._max_concurrent} in use)")
        if waiter in self._queue:
            raise RuntimeError(f"waiter {waiter!r} is already waiting")
        if len(self._queue) >= self._max_waiting:
            self.rejected += 1
            return False
        self._queue[waiter] = None
        return True

    def leave(self) -> W | None:
        """Give back a permit. Returns the oldest waiter, which now holds that permit, or None."""
        if self.in_use == 0:
            raise RuntimeError("leave() on a bulkhead with no permit in use")
        if self._queue:
            waiter, _ = self._queue.popitem(last=False)
            return waiter
        self.in_use -= 1
        return None

    def cancel(self, waiter: W) -> bool:
        """Withdraw a waiter that gave up (its maximum wait expired, its caller went away).

        True if it was waiting and is now removed; False if it is not waiting, in particular when
        :meth:`leave` already handed it a permit: then it holds that permit and must :meth:`leave`.
        """
        if waiter in self._queue:
            del self._queue[waiter]
            self.cancelled += 1
            return True
        return False

    def __repr__(self) -> str:
        return (
            f"Bulkhead(in_use={self.in_use}/{self._max_concurrent}, "
            f"waiting={len(self._queue)}/{self._max_waiting})"
        )


# -- load shedding ------------------------------------------------------------------------------------


class QueueLengthShedder:
    """Admit new work only while the queue holds fewer than ``max_queue`` items.

    ``admit(queue_length)`` is asked with the length before the newcomer joins, so after any admission
    the queue holds at most ``max_queue``. ``max_queue = 0`` sheds everything that would have to queue.
    """

    __slots__ = ("_max_queue", "admitted", "shed")

    def __init__(self, max_queue: int) -> None:
        if not (_is_int(max_queue) and max_queue >= 0):
            raise ValueError(
                f"a queue-length shedder needs an integer max_queue >= 0, got max_queue={max_queue!r}"
            )
        self._max_queue = max_queue
        self.admitted = 0
        self.shed = 0

    @property
    def max_queue(self) -> int:
        return self._max_queue

    def admit(self, queue_length: int) -> bool:
        """True to let the newcomer join a queue of ``queue_length`` items, False to shed it."""
        if not (_is_int(queue_length) and queue_length >= 0):
            raise ValueError(f"queue_length must be an integer >= 0, got queue_length={queue_length!r}")
        if queue_length < self._max_queue:
            self.admitted += 1
            return True
        self.shed += 1
        return False

    def __repr__(self) -> str:
        return f"QueueLengthShedder(max_queue={self._max_queue})"


class LatencyShedder:
    """Shed new work while a standing queue persists: CoDel's test, applied at admission.

    The runner reports each request's queueing delay (its sojourn time, from arrival to the start of
    service) with :meth:`observe`. CoDel's insight is that a queue is *bad* not when a delay is high
    (bursts queue briefly and drain) but when even the *smallest* delay over an ``interval`` exceeds
    ``target``: the queue never drained in that time. This class sheds all new work in that state:

    ``admit()`` is False exactly when the observed delays have all been above ``target`` since some
    moment at least ``interval`` seconds ago, with no gap of ``interval`` or more between observations
    and the latest one less than ``interval`` old.

    One observation at or below ``target`` ends the state at once, so admission recovers as soon as the
    queue drains. Missing evidence counts as good news: a gap of ``interval`` without observations
    restarts the run (a single stale high delay proves nothing), and with no fresh observation the
    shedder admits, so it cannot stay stuck after shedding emptied the queue. (CoDel itself drops at a
    rate rising with the time spent in the state; shedding everything is the simpler teaching model.)
    """

    __slots__ = ("_above_since", "_clock", "_interval", "_last_seen", "_target", "admitted", "shed")

    def __init__(self, target: float, interval: float, clock: Clock) -> None:
        if not (math.isfinite(target) and target >= 0 and math.isfinite(interval) and interval > 0):
            raise ValueError(
                "a latency shedder needs a finite target >= 0 and a finite interval > 0 (seconds), "
                f"got target={target!r}, interval={interval!r}"
            )
        self._target = float(target)
        self._interval = float(interval)
        self._clock = clock
        self._above_since: float | None = None  # start of the current run of delays above target
        self._last_seen = -math.inf
        self.admitted = 0
        self.shed = 0

    @property
    def target(self) -> float:
        return self._target

    @property
    def interval(self) -> float:
        return self._interval

    def observe(self, queue_delay: float) -> None:
        """Record one request's queueing delay in seconds, as of now."""
        if not (math.isfinite(queue_delay) and queue_delay >= 0):
            raise ValueError(f"a queue delay must be a finite number >= 0, got queue_delay={queue_delay!r}")
        now = self._clock()
        if queue_delay <= self._target:
            self._above_since = None
        elif self._above_since is None or now - self._last_seen >= self._interval:
            self._above_since = now
        self._last_seen = now

    @property
    def overloaded(self) -> bool:
        """Whether a standing queue is established now (what :meth:`admit` refuses on)."""
        since = self._above_since
        if since is None:
            return False
        now = self._clock()
        return now - since >= self._interval and now - self._last_seen < self._interval

    def admit(self) -> bool:
        """True to accept new work now, False to shed it."""
        if self.overloaded:
            self.shed += 1
            return False
        self.admitted += 1
        return True

    def __repr__(self) -> str:
        return f"LatencyShedder(target={self._target}, interval={self._interval})"


# -- adaptive concurrency limits ----------------------------------------------------------------------


class AdaptiveLimit(ABC):
    """A concurrency limit that learns from samples, borrowing from TCP congestion control.

    Each finished request reports a sample: its round-trip time ``rtt`` (seconds), how many requests
    were in flight (``inflight``, counting itself) and whether it was ``dropped`` (timed out, refused
    downstream, failed from overload). The limit is the congestion window: ``limit`` is an integer in
    ``[minimum, maximum]`` at all times.
    """

    __slots__ = ("_maximum", "_minimum")

    def __init__(self, kind: str, initial: int, minimum: int, maximum: int) -> None:
        if not (all(_is_int(v) for v in (initial, minimum, maximum)) and 1 <= minimum <= initial <= maximum):
            raise ValueError(
                f"an {kind} limit needs integers 1 <= minimum <= initial <= maximum, "
                f"got initial={initial!r}, minimum={minimum!r}, maximum={maximum!r}"
            )
        self._minimum = minimum
        self._maximum = maximum

    @property
    def minimum(self) -> int:
        return self._minimum

    @property
    def maximum(self) -> int:
        return self._maximum

    @property
    @abstractmethod
    def limit(self) -> int:
        """The current concurrency limit."""

    @abstractmethod
    def on_sample(self, rtt: float, inflight: int, dropped: bool = False) -> None:
        """Update the limit from one finished request."""


class AIMDLimit(AdaptiveLimit):
    """Additive increase, multiplicative decrease (Netflix ``AIMDLimit``, TCP Reno's window).

    On a drop, or an ``rtt`` above ``timeout``, the limit becomes ``floor(limit * backoff_ratio)`` (at
    least 1 lower, since the ratio is below 1), but never below ``minimum``. Otherwise, if the limit is
    being used (``inflight`` at least half of it: growing an idle limit would only let a later burst
    through), it grows by 1, never above ``maximum``. Otherwise it stays. So under saturation without
    trouble the limit climbs by one per sample, and each sign of overload cuts it by the ratio:
    the sawtooth of TCP.
    """

    __slots__ = ("_backoff_ratio", "_limit", "_timeout")

    def __init__(
        self,
        initial: int = 20,
        minimum: int = 1,
        maximum: int = 200,
        backoff_ratio: float = 0.9,
        timeout: float = 5.0,
    ) -> None:
        super().__init__("AIMD", initial, minimum, maximum)
        if not (0 < backoff_ratio < 1 and timeout > 0):
            raise ValueError(
                "an AIMD limit needs 0 < backoff_ratio < 1 and a timeout > 0 (seconds; inf for none), "
                f"got backoff_ratio={backoff_ratio!r}, timeout={timeout!r}"
            )
        self._limit = initial
        self._backoff_ratio = float(backoff_ratio)
        self._timeout = float(timeout)

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def backoff_ratio(self) -> float:
        return self._backoff_ratio

    @property
    def timeout(self) -> float:
        return self._timeout

    def on_sample(self, rtt: float, inflight: int, dropped: bool = False) -> None:
        _check_sample(rtt, inflight)
        limit = self._limit
        if dropped or rtt > self._timeout:
            self._limit = max(self._minimum, math.floor(limit * self._backoff_ratio))
        elif 2 * inflight >= limit and limit < self._maximum:
            self._limit = limit + 1

    def __repr__(self) -> str:
        return f"AIMDLimit(limit={self._limit}, minimum={self._minimum}, maximum={self._maximum})"


class GradientLimit(AdaptiveLimit):
    """Latency-gradient limit after Netflix ``Gradient2Limit``.

    Two views of the round-trip time: the *short-term* rtt is the latest sample; the *long-term* rtt is
    an exponential moving average over about ``long_window`` samples (the plain mean of the first
    samples while it warms up), the baseline the service shows without a queue. Their ratio is the
    gradient::

        gradient = clamp(tolerance * long_rtt / short_rtt, 0.5, 1.0)
        new      = estimate * gradient + queue_size
        estimate = clamp(estimate * (1 - smoothing) + new * smoothing, minimum, maximum)

    While the latency is within ``tolerance`` times the baseline the gradient is 1 and the estimate grows
    by ``smoothing * queue_size`` per sample (probing for room); when requests start to queue and the rtt
    rises, the gradient falls below 1 and the limit shrinks, by at most half per step before smoothing.
    ``limit`` is the estimate rounded down.

    As in Netflix's version: samples with ``inflight`` below half the estimate leave it alone (the
    service is not using its limit, so latency says nothing about it); and when the long-term rtt is
    more than twice the short-term one (load has gone, the average still remembers it) the long-term rtt
    is cut by 10% per sample to recover quickly. Unlike it, a dropped sample counts as the strongest
    sign of queueing (gradient 0.5) and its rtt, a timeout rather than a service time, is not averaged.
    """

    __slots__ = (
        "_alpha",
        "_count",
        "_estimate",
        "_long_rtt",
        "_queue_size",
        "_short_rtt",
        "_smoothing",
        "_tolerance",
        "_warmup",
    )

    def __init__(
        self,
        initial: int = 20,
        minimum: int = 1,
        maximum: int = 200,
        smoothing: float = 0.2,
        tolerance: float = 1.5,
        long_window: int = 600,
        queue_size: float = 4.0,
    ) -> None:
        super().__init__("gradient", initial, minimum, maximum)
        if not (0 < smoothing <= 1 and math.isfinite(tolerance) and tolerance >= 1):
            raise ValueError(
                "a gradient limit needs 0 < smoothing <= 1 and a finite tolerance >= 1, "
                f"got smoothing={smoothing!r}, tolerance={tolerance!r}"
            )
        if not (_is_int(long_window) and long_window >= 1 and math.isfinite(queue_size) and queue_size >= 0):
            raise ValueError(
                "a gradient limit needs an integer long_window >= 1 and a finite queue_size >= 0, "
                f"got long_window={long_window!r}, queue_size={queue_size!r}"
            )
        self._estimate = float(initial)
        self._smoothing = float(smoothing)
        self._tolerance = float(tolerance)
        self._queue_size = float(queue_size)
        self._alpha = 2.0 / (long_window + 1)
        self._warmup = min(10, long_window)
        self._count = 0
        self._long_rtt = 0.0
        self._short_rtt = 0.0

    @property
    def limit(self) -> int:
        return math.floor(self._estimate)

    @property
    def estimate(self) -> float:
        """The unrounded limit."""
        return self._estimate

    @property
    def smoothing(self) -> float:
        return self._smoothing

    @property
    def tolerance(self) -> float:
        return self._tolerance

    @property
    def long_rtt(self) -> float:
        """The long-term (baseline) rtt in seconds; 0.0 before the first sample."""
        return self._long_rtt

    @property
    def short_rtt(self) -> float:
        """The short-term rtt in seconds: the latest sample that was not a drop."""
        return self._short_rtt

    def on_sample(self, rtt: float, inflight: int, dropped: bool = False) -> None:
        _check_sample(rtt, inflight)
        if dropped:
            gradient = 0.5
        else:
            self._count += 1
            if self._count <= self._warmup:
                self._long_rtt += (rtt - self._long_rtt) / self._count
            else:
                self._long_rtt += self._alpha * (rtt - self._long_rtt)
            self._short_rtt = short = rtt
            if self._long_rtt > 2.0 * short:
                self._long_rtt *= 0.9
            target = self._tolerance * self._long_rtt
            gradient = 1.0 if short <= target else max(0.5, target / short)  # short > 0 in the else
        estimate = self._estimate
        if inflight < estimate / 2:
            return
        new = estimate * gradient + self._queue_size
        new = estimate * (1.0 - self._smoothing) + new * self._smoothing
        self._estimate = min(float(self._maximum), max(float(self._minimum), new))

    def __repr__(self) -> str:
        return f"GradientLimit(limit={self.limit}, minimum={self._minimum}, maximum={self._maximum})"


class LimitedGate:
    """Admit a request while fewer than ``limit.limit`` are in flight; feed each outcome back.

    ``try_acquire()`` admits (``inflight += 1``) only when ``inflight < limit.limit``, so no admission
    ever takes the number in flight above the limit current at that moment. ``release(rtt, dropped)``
    ends one admitted request and reports it to the limit as a sample whose ``inflight`` is the count
    just before the release (including the request itself). If the limit shrinks below ``inflight`` the
    gate admits nothing until enough requests have finished. The gate does not queue: a refused request
    is counted in ``rejected`` and the runner sheds it (or puts a :class:`Bulkhead` in front).
    """

    __slots__ = ("_limit", "inflight", "rejected")

    def __init__(self, limit: AdaptiveLimit) -> None:
        if not isinstance(limit, AdaptiveLimit):
            raise ValueError(f"a limited gate needs an AdaptiveLimit, got limit={limit!r}")
        self._limit = limit
        self.inflight = 0
        self.rejected = 0

    @property
    def limit(self) -> AdaptiveLimit:
        return self._limit

    def try_acquire(self) -> bool:
        """Admit one request now and return True, or refuse it (counted in ``rejected``)."""
        if self.inflight < self._limit.limit:
            self.inflight += 1
            return True
        self.rejected += 1
        return False

    def release(self, rtt: float, dropped: bool = False) -> None:
        """End one admitted request that took ``rtt`` seconds and report it to the limit."""
        if self.inflight == 0:
            raise RuntimeError("release() on a gate with nothing in flight")
        self._limit.on_sample(rtt, self.inflight, dropped)
        self.inflight -= 1

    def __repr__(self) -> str:
        return f"LimitedGate(inflight={self.inflight}, limit={self._limit.limit})"
