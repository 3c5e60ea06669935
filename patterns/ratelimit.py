"""Rate limiting: admit or refuse a request now, and say how long a refused client should wait.

Four classic algorithms share one interface, :class:`RateLimiter`:

``try_acquire(cost=1.0) -> bool``
    Admit a request of weight ``cost`` now (and charge it) or refuse it (and charge nothing).
``retry_after(cost=1.0) -> float``
    Seconds from now until a request of weight ``cost`` would be admitted, ``0.0`` if it would be now.
    The gateway sends it as the ``Retry-After`` of a 429. The answer is exact for the injected clock:
    at ``clock() + retry_after()`` the request is admitted (the value is nudged up by a few ulps where
    floating point would otherwise land just short), and any noticeably earlier moment it is refused,
    provided nothing else is admitted in between.

Every limiter starts with its full allowance, and its free capacity only grows while nothing is
admitted, so the moment a request becomes admissible is well defined. A request heavier than the limiter's
capacity (``burst`` or ``limit``) is refused every time and its ``retry_after`` is ``math.inf``: it
would never pass, and waiting for it must not loop. A negative or NaN cost is a caller bug and raises
``ValueError``; a cost of 0 is always admitted.

The algorithms, and the bound each one guarantees:

- :class:`TokenBucket`: ``burst`` tokens refilled at ``rate`` per second; any window of ``t`` seconds
  admits at most ``burst + rate * t``.
- :class:`FixedWindow`: one counter per aligned window ``[k*w, (k+1)*w)``, at most ``limit`` in each;
  but up to ``2 * limit`` within an instant across a boundary, so within a window of ``w``.
- :class:`SlidingWindowLog`: timestamps of the last ``w`` seconds; exactly at most ``limit`` in any
  window of ``w`` seconds.
- :class:`SlidingWindowCounter`: the previous window's count weighted by its overlap plus the
  current count; at most ``limit`` per aligned window and fewer than ``2 * limit`` in any window of
  ``w`` seconds, about ``limit`` for smooth traffic.

:class:`KeyedLimiter` keeps one limiter per key (client, route, ...), bounded by LRU eviction, and
:func:`make_limiter` builds any of the four from a name, ``limit`` and ``window`` (``"500/s"`` in a
scenario is ``limit=500, window=1``).

Time is read only from the injected clock (``lambda: env.now`` in the simulator, ``time.monotonic`` in
the live services, :class:`~patterns.clock.ManualClock` in tests). Admission comparisons allow an
absolute slack of ``1e-9`` (in tokens or request weight) so that float rounding cannot refuse a request
at the instant ``retry_after`` promised; the bounds above hold up to that slack.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

from patterns.clock import Clock

__all__ = [
    "LIMITERS",
    "FixedWindow",
    "KeyedLimiter",
    "RateLimiter",
    "SlidingWindowCounter",
    "SlidingWindowLog",
    "TokenBucket",
    "make_limiter",
]

_EPS = 1e-9
"""Absolute slack (tokens / request weight) in admission comparisons, absorbing float rounding."""

K = TypeVar("K", bound=Hashable)


class RateLimiter(ABC):
    """Admits or refuses requests now; the interface the simulator and the gateway program against."""

    __slots__ = ()

    @abstractmethod
    def try_acquire(self, cost: float = 1.0) -> bool:
        """Admit a request of weight ``cost`` now (charging it) and return True, or refuse it and return
        False without charging anything."""

    @abstractmethod
    def retry_after(self, cost: float = 1.0) -> float:
        """Seconds until a request of weight ``cost`` would be admitted: 0.0 if now, ``math.inf`` if never."""


def _bad_cost(cost: float) -> ValueError:
    return ValueError(f"a request's cost must be a number >= 0, got cost={cost!r}")


def _finite_positive(x: float) -> bool:
    return math.isfinite(x) and x > 0


def _window_bounds(now: float, window: float) -> tuple[int, float, float]:
    """The aligned window ``[k*window, (k+1)*window)`` holding ``now``, as (k, start, end).

    ``floor(now / window)`` can be off by one when ``now`` sits on a boundary that the float product
    ``k * window`` rounds differently; the loops make ``start <= now < end`` hold for the products.
    """
    k = math.floor(now / window)
    while k * window > now:
        k -= 1
    while (k + 1) * window <= now:
        k += 1
    return k, k * window, (k + 1) * window


class _ExactRetry(RateLimiter):
    """Shared ``retry_after``: an analytic earliest time, then nudged until the admission test passes.

    Subclasses provide ``_capacity``, the pure predicate ``_admits_at(t, cost)`` (would a request be
    admitted at time ``t`` if nothing else happens first?) and ``_earliest(now, cost)`` (its analytic
    answer as an absolute time). ``retry_after`` is not on the hot path (it runs only after a refusal).
    """

    __slots__ = ("_capacity", "_clock")

    def __init__(self, capacity: float, clock: Clock) -> None:
        self._capacity = capacity
        self._clock = clock

    @abstractmethod
    def _admits_at(self, t: float, cost: float) -> bool: ...

    @abstractmethod
    def _earliest(self, now: float, cost: float) -> float: ...

    def retry_after(self, cost: float = 1.0) -> float:
        if not cost >= 0.0:
            raise _bad_cost(cost)
        if cost > self._capacity:
            return math.inf
        now = self._clock()
        if self._admits_at(now, cost):
            return 0.0
        delay = max(self._earliest(now, cost) - now, 0.0)
        # The analytic time can land a rounding error short; step forward, doubling the step, until the
        # very test try_acquire applies passes at clock() + delay (the sum the caller's clock will do).
        step = max(math.ulp(now + delay), 1e-15)
        for _ in range(200):
            if self._admits_at(now + delay, cost):
                return delay
            delay += step
            step *= 2.0
        raise RuntimeError(f"{type(self).__name__}.retry_after did not converge (now={now}, cost={cost})")


class TokenBucket(_ExactRetry):
    """A bucket of ``burst`` tokens refilled continuously at ``rate`` tokens per second.

    A request of cost ``c`` is admitted when the bucket holds at least ``c`` tokens, and takes them. The
    bucket starts full. Over ANY window of ``t`` seconds at most ``burst + rate * t`` is admitted: the
    bucket can hand out what it held at the start (at most ``burst``) plus what flowed in (at most
    ``rate * t``). Under sustained overload the admitted rate tends to ``rate``.

    State changes only on admission (the level is computed lazily from the last admission's stamp), so a
    refused call leaves the bucket exactly as it was. A clock that steps backwards adds no tokens.
    """

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: float, clock: Clock) -> None:
        if not (_finite_positive(rate) and math.isfinite(burst) and burst >= 1):
            raise ValueError(
                "a token bucket needs a finite rate > 0 and a finite burst >= 1, "
                f"got rate={rate!r}, burst={burst!r}"
            )
        super().__init__(float(burst), clock)
        self._rate = float(rate)
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = clock()

    @property
    def rate(self) -> float:
        """Refill rate in tokens per second."""
        return self._rate

    @property
    def burst(self) -> float:
        """Bucket size in tokens: the largest request, and the largest burst, ever admitted."""
        return self._burst

    @property
    def tokens(self) -> float:
        """Tokens available now (may be a hair below 0 within the rounding slack)."""
        return self._level(self._clock())

    def _level(self, t: float) -> float:
        tokens = self._tokens
        elapsed = t - self._stamp
        if elapsed > 0.0:
            tokens += elapsed * self._rate
            if tokens > self._burst:
                tokens = self._burst
        return tokens

    def try_acquire(self, cost: float = 1.0) -> bool:
        if not cost >= 0.0:
            raise _bad_cost(cost)
        now = self._clock()
        tokens = self._tokens
        elapsed = now - self._stamp
        if elapsed > 0.0:
            tokens += elapsed * self._rate
            if tokens > self._burst:
                tokens = self._burst
        if tokens >= cost - _EPS and cost <= self._burst:
            self._tokens = tokens - cost
            if elapsed > 0.0:
                self._stamp = now
            return True
        return False

    def _admits_at(self, t: float, cost: float) -> bool:
        return self._level(t) >= cost - _EPS

    def _earliest(self, now: float, cost: float) -> float:
        return self._stamp + (cost - self._tokens) / self._rate

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self._rate}, burst={self._burst})"


def _check_window(kind: str, limit: float, window: float) -> None:
    if not (math.isfinite(limit) and limit >= 1 and _finite_positive(window)):
        raise ValueError(
            f"a {kind} limiter needs a finite limit >= 1 and a finite window > 0 (seconds), "
            f"got limit={limit!r}, window={window!r}"
        )


class _Windowed(_ExactRetry):
    """Shared by the window limiters: at most ``limit`` (total cost) per ``window`` seconds."""

    __slots__ = ("_limit", "_window")

    def __init__(self, kind: str, limit: float, window: float, clock: Clock) -> None:
        _check_window(kind, limit, window)
        super().__init__(float(limit), clock)
        self._limit = float(limit)
        self._window = float(window)

    @property
    def limit(self) -> float:
        return self._limit

    @property
    def window(self) -> float:
        return self._window


class FixedWindow(_Windowed):
    """At most ``limit`` (total cost) per aligned window ``[k*window, (k+1)*window)``.

    The cheapest limiter: one counter, reset when the clock enters a new window. Its known weakness is
    the boundary burst: a client can spend the whole ``limit`` at the end of one window and again at the
    start of the next, so up to ``2 * limit`` pass within an instant, and within any (unaligned) window
    of length ``window``. :class:`SlidingWindowLog` and :class:`SlidingWindowCounter` fix that.
    ``retry_after`` on a full window is the time to the next boundary.
    """

    __slots__ = ("_count", "_end", "_start")

    def __init__(self, limit: float, window: float, clock: Clock) -> None:
        super().__init__("fixed window", limit, window, clock)
        _, self._start, self._end = _window_bounds(clock(), self._window)
        self._count = 0.0

    def try_acquire(self, cost: float = 1.0) -> bool:
        if not cost >= 0.0:
            raise _bad_cost(cost)
        now = self._clock()
        if now >= self._end:
            _, self._start, self._end = _window_bounds(now, self._window)
            self._count = 0.0
        count = self._count + cost
        if count <= self._limit + _EPS and cost <= self._limit:
            self._count = count
            return True
        return False

    def _admits_at(self, t: float, cost: float) -> bool:
        count = 0.0 if t >= self._end else self._count
        return count + cost <= self._limit + _EPS

    def _earliest(self, now: float, cost: float) -> float:
        return self._end  # refused now means the current window is full; the next one is empty

    def __repr__(self) -> str:
        return f"FixedWindow(limit={self._limit}, window={self._window})"


class SlidingWindowLog(_Windowed):
    """Exact sliding window: at most ``limit`` (total cost) in any window of ``window`` seconds.

    Keeps the time and cost of every admission of the last ``window`` seconds in a deque (so memory is
    up to ``limit`` entries per limiter). An admission at ``t`` stops counting at ``t + window``. A
    request at ``now`` is admitted if the admissions with ``now - t < window`` plus its cost stay
    within ``limit``; hence every half-open window ``[a, a + window)`` holds at most ``limit``.
    ``retry_after`` is the time at which enough old admissions have aged out.
    """

    __slots__ = ("_log", "_used")

    def __init__(self, limit: float, window: float, clock: Clock) -> None:
        super().__init__("sliding log", limit, window, clock)
        self._log: deque[tuple[float, float]] = deque()
        self._used = 0.0

    def try_acquire(self, cost: float = 1.0) -> bool:
        if not cost >= 0.0:
            raise _bad_cost(cost)
        now = self._clock()
        log, window = self._log, self._window
        while log and now - log[0][0] >= window:
            self._used -= log.popleft()[1]
        if not log:
            self._used = 0.0  # drop accumulated rounding from fractional costs
        used = self._used + cost
        if used <= self._limit + _EPS and cost <= self._limit:
            if cost > 0.0:
                log.append((now, cost))
                self._used = used
            return True
        return False

    def _admits_at(self, t: float, cost: float) -> bool:
        used = self._used
        window = self._window
        for stamp, weight in self._log:
            if t - stamp < window:
                break
            used -= weight
        return used + cost <= self._limit + _EPS

    def _earliest(self, now: float, cost: float) -> float:
        excess = self._used + cost - self._limit
        for stamp, weight in self._log:
            excess -= weight
            if excess <= 0.0:
                return stamp + self._window
        return now  # unreachable while cost <= limit; the caller's nudging loop copes anyway

    def __repr__(self) -> str:
        return f"SlidingWindowLog(limit={self._limit}, window={self._window})"


class SlidingWindowCounter(_Windowed):
    """Cloudflare's sliding window approximation: two counters instead of a log.

    Time is cut into aligned windows of ``window`` seconds. With ``prev`` the total admitted in the
    previous window, ``curr`` in the current one, and ``f`` in ``[0, 1)`` the fraction of the current
    window elapsed, the sliding count is estimated as ``prev * (1 - f) + curr``: it assumes the previous
    window's admissions were spread uniformly, so the part of it still inside the sliding window is
    ``1 - f`` of it. A request is admitted when the estimate plus its cost stays within ``limit``. The
    estimate is continuous in time and never rises while nothing is admitted.

    Error bound. The true count of the last ``window`` seconds is ``tail + curr`` where ``tail`` (in
    ``[0, prev]``) is what the previous window admitted in its last ``1 - f``; the estimate is off by
    ``prev * (1 - f) - tail``, between ``-prev * f`` and ``prev * (1 - f)``, so at most ``limit`` either
    way, and 0 when traffic is uniform. For the admitted traffic this gives: every aligned window holds
    at most ``limit``; a window ``[a, a + window)`` starting ``s`` seconds before a boundary
    (``0 < s <= window``) holds less than ``limit * (2 - s / window)``, so fewer than ``2 * limit``,
    reached only by a burst at the end of one window followed by a steady stream through the next.
    Under steady overload it admits between ``limit - 1`` and ``limit`` per window (for unit costs).
    """

    __slots__ = ("_curr", "_end", "_index", "_prev", "_start")

    def __init__(self, limit: float, window: float, clock: Clock) -> None:
        super().__init__("sliding counter", limit, window, clock)
        self._index, self._start, self._end = _window_bounds(clock(), self._window)
        self._prev = 0.0
        self._curr = 0.0

    def _state_at(self, t: float) -> tuple[float, float, float, float]:
        """(prev, curr, start, end) as they would be at time ``t``, without changing anything."""
        if t < self._end:
            return self._prev, self._curr, self._start, self._end
        index, start, end = _window_bounds(t, self._window)
        prev = self._curr if index == self._index + 1 else 0.0
        return prev, 0.0, start, end

    def estimate(self) -> float:
        """The estimated total admitted over the last ``window`` seconds, as of now."""
        now = self._clock()
        prev, curr, start, _ = self._state_at(now)
        return self._estimate(now, prev, curr, start)

    def _estimate(self, t: float, prev: float, curr: float, start: float) -> float:
        f = (t - start) / self._window
        if f < 0.0:
            f = 0.0
        return prev * (1.0 - f) + curr

    def try_acquire(self, cost: float = 1.0) -> bool:
        if not cost >= 0.0:
            raise _bad_cost(cost)
        now = self._clock()
        if now >= self._end:
            index, self._start, self._end = _window_bounds(now, self._window)
            self._prev = self._curr if index == self._index + 1 else 0.0
            self._curr = 0.0
            self._index = index
        f = (now - self._start) / self._window
        if f < 0.0:
            f = 0.0
        if self._prev * (1.0 - f) + self._curr + cost <= self._limit + _EPS and cost <= self._limit:
            self._curr += cost
            return True
        return False

    def _admits_at(self, t: float, cost: float) -> bool:
        prev, curr, start, _ = self._state_at(t)
        return self._estimate(t, prev, curr, start) + cost <= self._limit + _EPS

    def _earliest(self, now: float, cost: float) -> float:
        prev, curr, start, end = self._state_at(now)
        room = self._limit - cost - curr
        if room >= 0.0:
            # Fits in this window once prev * (1 - f) <= room (prev > 0, else it would fit now).
            return start + (1.0 - room / prev) * self._window if prev > 0.0 else now
        # In the next window prev becomes curr (> limit - cost >= 0) and curr becomes 0.
        return end + max(0.0, 1.0 - (self._limit - cost) / curr) * self._window

    def __repr__(self) -> str:
        return f"SlidingWindowCounter(limit={self._limit}, window={self._window})"


class KeyedLimiter(Generic[K]):
    """One limiter per key (client id, route, ``(client, route)``, ...), created on first use.

    ``factory`` builds a fresh limiter for a new key (for example
    ``lambda: TokenBucket(10, 20, clock)``). At most ``max_keys`` limiters are kept: beyond that the
    least recently used key is evicted (``evictions`` counts them). An evicted key that returns starts
    afresh with a full allowance, so size ``max_keys`` above the number of keys active within a limiter's
    memory (its window, or ``burst / rate`` for a token bucket) or busy clients get a free reset.
    """

    __slots__ = ("_factory", "_limiters", "evictions", "max_keys")

    def __init__(self, factory: Callable[[], RateLimiter], max_keys: int = 10_000) -> None:
        if not callable(factory):
            raise ValueError(f"a keyed limiter needs a callable factory, got factory={factory!r}")
        if not (isinstance(max_keys, int) and max_keys >= 1):
            raise ValueError(f"a keyed limiter needs max_keys >= 1, got max_keys={max_keys!r}")
        self._factory = factory
        self._limiters: OrderedDict[K, RateLimiter] = OrderedDict()
        self.max_keys = max_keys
        self.evictions = 0

    def try_acquire(self, key: K, cost: float = 1.0) -> bool:
        """Admit or refuse a request of weight ``cost`` against ``key``'s limiter (marks ``key`` recent)."""
        limiters = self._limiters
        limiter = limiters.get(key)
        if limiter is None:
            limiter = limiters[key] = self._factory()
            if len(limiters) > self.max_keys:
                limiters.popitem(last=False)
                self.evictions += 1
        else:
            limiters.move_to_end(key)
        return limiter.try_acquire(cost)

    def retry_after(self, key: K, cost: float = 1.0) -> float:
        """``retry_after`` of ``key``'s limiter; for an unseen key, that of a fresh one (not stored)."""
        limiter = self._limiters.get(key)
        if limiter is None:
            return self._factory().retry_after(cost)
        return limiter.retry_after(cost)

    def __contains__(self, key: object) -> bool:
        return key in self._limiters

    def __len__(self) -> int:
        return len(self._limiters)

    def __repr__(self) -> str:
        return f"KeyedLimiter(keys={len(self._limiters)}, max_keys={self.max_keys})"


LIMITERS: Mapping[str, type[RateLimiter]] = MappingProxyType(
    {
        "token_bucket": TokenBucket,
        "fixed_window": FixedWindow,
        "sliding_log": SlidingWindowLog,
        "sliding_counter": SlidingWindowCounter,
    }
)
"""The limiter kinds :func:`make_limiter` knows, by name."""

_WINDOWED: dict[str, Callable[[float, float, Clock], RateLimiter]] = {
    "fixed_window": FixedWindow,
    "sliding_log": SlidingWindowLog,
    "sliding_counter": SlidingWindowCounter,
}


def make_limiter(
    kind: str, *, limit: float, window: float, clock: Clock, burst: float | None = None
) -> RateLimiter:
    """Build a limiter by name for "``limit`` requests per ``window`` seconds".

    The window kinds (``fixed_window``, ``sliding_log``, ``sliding_counter``) take ``limit`` and
    ``window`` as they are. ``token_bucket`` refills at ``rate = limit / window`` per second with a
    bucket of ``burst`` tokens (default ``limit``: one window's worth). ``burst`` is only meaningful for
    the token bucket and is refused for the others. Unknown kinds raise ``ValueError`` listing the
    known ones (:data:`LIMITERS`).
    """
    if kind not in LIMITERS:
        raise ValueError(f"unknown limiter kind {kind!r}; known kinds: {', '.join(LIMITERS)}")
    if kind == "token_bucket":
        if not _finite_positive(window):
            raise ValueError(f"a token bucket needs a finite window > 0 (seconds), got window={window!r}")
        return TokenBucket(limit / window, limit if burst is None else burst, clock)
    if burst is not None:
        raise ValueError(f"burst applies only to 'token_bucket', not to {kind!r} (got burst={burst!r})")
    return _WINDOWED[kind](limit, window, clock)
