"""Hedged requests and fallbacks: what to do about a slow call, and what to answer when a call fails.

**Hedging** (Dean and Barroso, "The Tail at Scale", CACM 56(2), 2013; gRPC's ``hedgingPolicy``): send
the request, and if no answer has come after ``hedge_delay()`` seconds, send a backup try to another
replica; take the first answer and cancel the other try. When the slow tail comes from rare, independent
hiccups (a GC pause, a busy disk), the backup is fast with high probability, so the tail of
``min(first, delay + backup)`` is far shorter than that of ``first`` alone. Waiting for the 95th
percentile before hedging keeps the extra load near 5%: only the slowest 5% of requests send a backup.

:class:`HedgePolicy` only decides; the runner (a SimPy process, an asyncio task) does the sending,
waiting and cancelling. The protocol for one request::

    policy.record_request()
    send(first)
    delay = policy.hedge_delay()                  # None: do not hedge this request
    sent = 0
    while delay is not None and not answered_within(delay) and policy.try_hedge(sent):
        send(backup); sent += 1                   # at most max_hedges backups, each spending budget
    answer = first_answer(); cancel(the others)
    policy.observe(first_try_latency)             # see below for a first try that was cancelled

The delay is either fixed (``delay=``) or the ``percentile`` of the recent latencies of first tries,
kept by :class:`LatencyWindow`. An optional hedging budget (``budget_ratio``) caps backups at a
fraction of recent requests, exactly like a retry budget (it *is* a :class:`patterns.retry.RetryBudget`):
at each granted backup, backups in the trailing ``window`` <= ``budget_ratio * requests + min_per_second
* window``. This keeps a slow replica from doubling the load on a fleet when every request becomes slow
and wants a backup.

What to observe. The delay is a percentile of the *first try's* latency, so feed that: the latency of
its answer when it answers. When a backup wins and the first try is cancelled its latency is never
known; leaving it out would censor exactly the slow tail, and the percentile would drift down (more
hedging). Observe instead the time it had been running when cancelled: a lower bound on its latency,
and more than the hedge delay, so it ranks above the estimated percentile exactly where the true
latency would (an empirical quantile depends only on which values lie below it). Backups are not
observed: only the ones that won are seen, a sample biased towards fast answers.

**Fallbacks**: tiny strategies that the runner consults when a call failed (error, timeout, breaker
open, shed). :meth:`Fallback.fallback` returns the answer to give instead, or :data:`NO_FALLBACK` when
there is none and the failure must be passed on; :meth:`Fallback.remember` is told each good answer.
:class:`DefaultValue` answers a constant, :class:`CachedFallback` the last good answer for the key
(stale but real, from a :class:`patterns.cache.TTLCache` or anything with ``get``/``put``), and
:class:`DegradedResponse` a reduced answer marked with a label so callers can tell it apart.

Invalid configuration raises ``ValueError`` naming the values. Time comes only from the injected clock.
"""

from __future__ import annotations

import enum
import math
from abc import ABC, abstractmethod
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Hashable
from typing import Any, Final, Protocol

from patterns.clock import Clock
from patterns.retry import RetryBudget

__all__ = [
    "NO_FALLBACK",
    "CachedFallback",
    "DefaultValue",
    "DegradedResponse",
    "Fallback",
    "HedgePolicy",
    "LatencyWindow",
    "NoFallback",
]


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: object) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _check_percentile(percentile: float) -> None:
    if not (_is_number(percentile) and 0 < percentile < 1):
        raise ValueError(f"a percentile must lie strictly between 0 and 1, got percentile={percentile!r}")


# -- the latency estimator ----------------------------------------------------------------------------


class LatencyWindow:
    """The last ``size`` latencies, with any empirical percentile of them in O(1).

    Model. A ring of the ``size`` most recent observations (a ``deque`` with ``maxlen``) and, beside
    it, the same values kept sorted. ``add`` inserts the new value into the sorted list and removes the
    one that fell out of the ring (binary search to find, an O(size) memory move to shift: a few
    microseconds for a thousand floats); ``percentile(p)`` is then an index. Old behaviour is forgotten
    after ``size`` observations, so the estimate follows a service whose latency changes.

    The percentile is the nearest-rank one: the smallest observed ``x`` such that at least a fraction
    ``p`` of the window is ``<= x``, i.e. ``sorted[ceil(p * n) - 1]``. It is always an observed value,
    needs no interpolation, and depends only on which values lie below it (see the module docstring on
    censoring). ``p * n`` is computed with a ``1e-9`` slack so that, say, ``0.95 * 20`` counts as 19.
    """

    __slots__ = ("_ring", "_size", "_sorted")

    def __init__(self, size: int = 1000) -> None:
        if not (_is_int(size) and size >= 1):
            raise ValueError(f"a latency window needs an integer sample size >= 1, got size={size!r}")
        self._size = size
        self._ring: deque[float] = deque(maxlen=size)
        self._sorted: list[float] = []

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._ring)

    def add(self, latency: float) -> None:
        """Record one latency in seconds (finite, >= 0), forgetting the oldest once the window is full."""
        if not (_is_number(latency) and latency >= 0):
            raise ValueError(f"a latency must be a finite number >= 0 (seconds), got latency={latency!r}")
        latency = float(latency)
        ring, ordered = self._ring, self._sorted
        if len(ring) == self._size:
            del ordered[bisect_left(ordered, ring[0])]  # the value the append below pushes out
        ring.append(latency)
        insort(ordered, latency)

    def percentile(self, p: float) -> float | None:
        """The nearest-rank ``p``-percentile of the window (``0 < p < 1``), or None if it is empty."""
        _check_percentile(p)
        n = len(self._sorted)
        if n == 0:
            return None
        rank = max(1, math.ceil(p * n - 1e-9))
        return self._sorted[rank - 1]

    def values(self) -> list[float]:
        """The window's latencies, oldest first."""
        return list(self._ring)

    def __repr__(self) -> str:
        return f"LatencyWindow(size={self._size}, n={len(self._ring)})"


# -- the hedging policy --------------------------------------------------------------------------------


class HedgePolicy:
    """When to send a backup try, how many, and whether the fleet can afford it.

    Exactly one of:

    - ``delay``: hedge after a fixed number of seconds (gRPC's ``hedgingDelay``);
    - ``percentile``: hedge after that percentile of the last ``sample_size`` observed latencies
      (:class:`LatencyWindow`); until ``min_samples`` have been observed :meth:`hedge_delay` is None.
      By default ``min_samples = ceil(1 / (1 - percentile))`` (20 for the p95), the fewest samples
      whose ``percentile`` is not simply the slowest one seen.

    ``max_hedges`` is the number of backups one request may send (gRPC's ``maxAttempts - 1``), each
    ``hedge_delay()`` after the previous try. With ``budget_ratio`` set, backups also draw on a
    :class:`patterns.retry.RetryBudget` (``budget_ratio``, ``min_per_second``, ``window`` seconds,
    ``clock``), so that over the trailing window at each granted backup: backups <= ``budget_ratio *
    requests + min_per_second * window``. Without a budget the clock is not needed.

    ``requests`` and ``hedges`` count :meth:`record_request` calls and granted backups.
    """

    __slots__ = (
        "_budget",
        "_delay",
        "_max_hedges",
        "_min_samples",
        "_percentile",
        "_window",
        "hedges",
        "requests",
    )

    def __init__(
        self,
        *,
        delay: float | None = None,
        percentile: float | None = None,
        sample_size: int = 1000,
        min_samples: int | None = None,
        max_hedges: int = 1,
        budget_ratio: float | None = None,
        min_per_second: float = 0.0,
        window: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        if (delay is None) == (percentile is None):
            raise ValueError(
                f"a hedge policy needs exactly one of delay or percentile, got delay={delay!r}, "
                f"percentile={percentile!r}"
            )
        if delay is not None and not (_is_number(delay) and delay >= 0):
            raise ValueError(f"a hedge delay must be a finite number >= 0 (seconds), got delay={delay!r}")
        if percentile is not None:
            _check_percentile(percentile)
        if not (_is_int(sample_size) and sample_size >= 1):
            raise ValueError(
                f"a hedge policy needs an integer sample_size >= 1, got sample_size={sample_size!r}"
            )
        if min_samples is None:
            # the fewest samples whose nearest-rank percentile is not the maximum: ceil(1 / (1 - p))
            min_samples = 1 if percentile is None else math.ceil(1 / (1 - percentile) - 1e-9)
            min_samples = min(sample_size, min_samples)
        elif not (_is_int(min_samples) and 1 <= min_samples <= sample_size):
            raise ValueError(
                "a hedge policy needs an integer 1 <= min_samples <= sample_size, "
                f"got min_samples={min_samples!r}, sample_size={sample_size!r}"
            )
        if not (_is_int(max_hedges) and max_hedges >= 1):
            raise ValueError(
                f"a hedge policy needs an integer max_hedges >= 1, got max_hedges={max_hedges!r}"
            )
        # the budget's settings are checked even without a budget: a typo should not wait to be enabled
        if budget_ratio is not None and not (_is_number(budget_ratio) and budget_ratio >= 0):
            raise ValueError(
                f"a hedging budget needs a finite budget_ratio >= 0, got budget_ratio={budget_ratio!r}"
            )
        if not (_is_number(min_per_second) and min_per_second >= 0):
            raise ValueError(
                f"a hedging budget needs min_per_second >= 0, got min_per_second={min_per_second!r}"
            )
        if not (_is_number(window) and window > 0):
            raise ValueError(f"a hedging budget needs a finite window > 0 (seconds), got window={window!r}")
        budget = None
        if budget_ratio is not None:
            if clock is None:
                raise ValueError(
                    f"a hedging budget needs a clock, got clock=None, budget_ratio={budget_ratio!r}"
                )
            budget = RetryBudget(budget_ratio, min_per_second, window, clock)
        self._delay = None if delay is None else float(delay)
        self._percentile = None if percentile is None else float(percentile)
        self._window = LatencyWindow(sample_size)
        self._min_samples = min_samples
        self._max_hedges = max_hedges
        self._budget = budget
        self.requests = 0
        self.hedges = 0

    @property
    def max_hedges(self) -> int:
        return self._max_hedges

    @property
    def latencies(self) -> LatencyWindow:
        """The window of observed latencies (filled by :meth:`observe` in either mode)."""
        return self._window

    @property
    def budget(self) -> RetryBudget | None:
        return self._budget

    def observe(self, latency: float) -> None:
        """Record a first try's latency in seconds (or its running time when cancelled: module docstring)."""
        self._window.add(latency)

    def record_request(self) -> None:
        """Count one original request: it earns ``budget_ratio`` backups for ``window`` seconds."""
        self.requests += 1
        if self._budget is not None:
            self._budget.record_request()

    def _affordable(self) -> bool:
        return self._budget is None or self._budget.available() >= 1 - 1e-9

    def hedge_delay(self) -> float | None:
        """Seconds to wait for an answer before sending a backup, or None: do not hedge now.

        None when the budget cannot pay for a backup, or (percentile mode) when fewer than
        ``min_samples`` latencies have been observed. Spends nothing: :meth:`try_hedge` does.
        """
        if not self._affordable():
            return None
        if self._delay is not None:
            return self._delay
        if len(self._window) < self._min_samples:
            return None
        assert self._percentile is not None
        return self._window.percentile(self._percentile)

    def try_hedge(self, hedges_sent: int = 0) -> bool:
        """Grant (and count, and pay for) one more backup for a request that has sent ``hedges_sent``.

        False once ``hedges_sent`` reaches ``max_hedges`` or when the budget cannot pay; nothing is
        spent then.
        """
        if not (_is_int(hedges_sent) and hedges_sent >= 0):
            raise ValueError(
                f"hedges_sent counts backups already sent, >= 0, got hedges_sent={hedges_sent!r}"
            )
        if hedges_sent >= self._max_hedges:
            return False
        if self._budget is not None and not self._budget.try_retry():
            return False
        self.hedges += 1
        return True

    def __repr__(self) -> str:
        when = f"delay={self._delay}" if self._delay is not None else f"percentile={self._percentile}"
        budget = "" if self._budget is None else f", budget={self._budget!r}"
        return f"HedgePolicy({when}, max_hedges={self._max_hedges}{budget})"


# -- fallbacks -----------------------------------------------------------------------------------------


class NoFallback(enum.Enum):
    """The type of :data:`NO_FALLBACK` (an enum member, so ``is`` checks narrow the type)."""

    NO_FALLBACK = "NO_FALLBACK"

    def __repr__(self) -> str:
        return "NO_FALLBACK"


NO_FALLBACK: Final = NoFallback.NO_FALLBACK
"""Returned by :meth:`Fallback.fallback` when there is nothing to answer: pass the failure on."""


class _Store(Protocol):
    """What :class:`CachedFallback` needs of a cache: :class:`patterns.cache.TTLCache` has it."""

    def get(self, key: Any, default: Any = None) -> Any: ...

    def put(self, key: Any, value: Any) -> None: ...


class Fallback(ABC):
    """What to answer instead when a call fails; consulted by the runner, never raising on a miss."""

    __slots__ = ()

    @abstractmethod
    def fallback(self, key: Hashable | None = None) -> object:
        """The substitute answer for the failed call on ``key``, or :data:`NO_FALLBACK`."""

    def remember(self, key: Hashable | None, value: object) -> None:
        """Be told a good answer (call after each success); only stateful fallbacks keep it."""
        return None  # concrete no-op: constant fallbacks need not override it


class DefaultValue(Fallback):
    """Answer a fixed ``value`` (an empty list, a zero count, a default setting) for every key."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def fallback(self, key: Hashable | None = None) -> object:
        return self.value

    def __repr__(self) -> str:
        return f"DefaultValue({self.value!r})"


class CachedFallback(Fallback):
    """Answer the last good value seen for the key (stale, but real), or NO_FALLBACK if none is cached.

    ``cache`` is anything with ``get(key, default)`` and ``put(key, value)``: a
    :class:`patterns.cache.TTLCache` bounds both the memory and how stale an answer may be (an entry
    older than its ttl is no longer served). A cached ``None`` is a real answer, not a miss.
    """

    __slots__ = ("cache",)

    def __init__(self, cache: _Store) -> None:
        if not (callable(getattr(cache, "get", None)) and callable(getattr(cache, "put", None))):
            raise ValueError(f"a cached fallback needs a cache with get and put methods, got cache={cache!r}")
        self.cache = cache

    def remember(self, key: Hashable | None, value: object) -> None:
        self.cache.put(key, value)

    def fallback(self, key: Hashable | None = None) -> object:
        return self.cache.get(key, NO_FALLBACK)

    def __repr__(self) -> str:
        return f"CachedFallback({self.cache!r})"


class DegradedResponse(Fallback):
    """Answer a reduced ``value`` marked with ``label``: the answer is this object itself.

    The caller reads ``.value`` and sees from ``.label`` (e.g. sent on as a header) that it got a
    degraded answer (generic recommendations instead of personal ones), not the real one.
    """

    __slots__ = ("label", "value")

    def __init__(self, value: object, label: str = "degraded") -> None:
        if not (isinstance(label, str) and label):
            raise ValueError(f"a degraded response needs a non-empty label, got label={label!r}")
        self.value = value
        self.label = label

    def fallback(self, key: Hashable | None = None) -> DegradedResponse:
        return self

    def __repr__(self) -> str:
        return f"DegradedResponse({self.value!r}, label={self.label!r})"
