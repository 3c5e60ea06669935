"""Caching: an LRU cache whose entries expire, and request coalescing for the misses.

:class:`TTLCache` holds at most ``capacity`` entries. Each entry lives for a time-to-live (the cache's
``ttl`` or one given to ``put``) from the moment it was written: it is served during
``[written, written + ttl)`` and is a miss from then on. When a new key needs room, the least recently
used entry is dropped. Expiry is lazy: no timers, an expired entry is removed when a lookup meets it,
or when it reaches the LRU end and is pushed out (counted as an expiration, not an eviction, since
it was dead anyway), or by an explicit :meth:`TTLCache.purge_expired`. Until then it occupies a slot,
which is what a bounded memory budget wants to know anyway (``len`` counts it). Every operation is
O(1) on an ``OrderedDict`` (``purge_expired`` is O(n)).

Under the independent reference model (keys drawn independently with fixed popularities) an LRU cache
of ``C`` entries hits about ``sum_i p_i * (1 - exp(-p_i * T))`` where ``T`` solves
``sum_i (1 - exp(-p_i * T)) = C`` (Che's approximation), and never beats keeping the ``C`` most popular
keys, whose hit ratio is their total probability. The tests check both.

:class:`SingleFlight` is the bookkeeping of request coalescing (Go's ``singleflight``, Finagle's
request deduplication): when many callers miss the same key at once, only the first (the leader)
fetches it; the others register as waiters and are handed the leader's result. It never awaits
anything itself, so the simulator (SimPy events as waiters) and the live services (asyncio futures)
use the same class.

Time is read only from the injected clock, see :mod:`patterns.clock`.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from patterns.clock import Clock

__all__ = ["CacheStats", "SingleFlight", "TTLCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
W = TypeVar("W")


def _check_ttl(ttl: float) -> None:
    if not ttl > 0:  # also refuses NaN; math.inf means "never expires"
        raise ValueError(f"a cache entry's ttl must be > 0 seconds (math.inf for no expiry), got ttl={ttl!r}")


@dataclass(slots=True)
class CacheStats:
    """Counters of a :class:`TTLCache`, cumulative since construction (``clear`` keeps them).

    ``hits`` and ``misses`` count ``get`` calls; an expired entry found by ``get`` is a miss.
    ``evictions`` counts live entries dropped to make room (capacity), ``expirations`` entries dropped
    because their time-to-live had passed.
    """

    hits: int = 0
    misses: int = 0
    evictions: int = 0
    expirations: int = 0

    @property
    def lookups(self) -> int:
        return self.hits + self.misses

    @property
    def hit_ratio(self) -> float:
        """hits / (hits + misses); 0.0 before the first lookup."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


class TTLCache(Generic[K, V]):
    """An LRU cache of at most ``capacity`` entries, each expiring ``ttl`` seconds after it was written.

    ``get`` refreshes an entry's recency (not its expiry); ``put`` writes (or overwrites) an entry,
    makes it the most recent and restarts its time-to-live; ``key in cache`` and ``len(cache)`` do not
    change recency. See the module docstring for the expiry model.
    """

    __slots__ = ("_capacity", "_clock", "_data", "_ttl", "stats")

    def __init__(self, capacity: int, ttl: float, clock: Clock) -> None:
        if not (isinstance(capacity, int) and capacity >= 1) or not ttl > 0:
            raise ValueError(
                f"a TTL cache needs an integer capacity >= 1 and a ttl > 0 seconds (math.inf for no expiry), "
                f"got capacity={capacity!r}, ttl={ttl!r}"
            )
        self._capacity = capacity
        self._ttl = float(ttl)
        self._clock = clock
        self._data: OrderedDict[K, tuple[V, float]] = OrderedDict()  # key -> (value, expires at)
        self.stats = CacheStats()

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def ttl(self) -> float:
        """The default time-to-live in seconds."""
        return self._ttl

    def get(self, key: K, default: V | None = None) -> V | None:
        """The live value for ``key`` (a hit, made most recent), else ``default`` (a miss)."""
        entry = self._data.get(key)
        stats = self.stats
        if entry is None:
            stats.misses += 1
            return default
        if self._clock() >= entry[1]:
            del self._data[key]
            stats.expirations += 1
            stats.misses += 1
            return default
        self._data.move_to_end(key)
        stats.hits += 1
        return entry[0]

    def put(self, key: K, value: V, ttl: float | None = None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (default: the cache's), as most recent."""
        if ttl is None:
            ttl = self._ttl
        else:
            _check_ttl(ttl)
        now = self._clock()
        data = self._data
        if key in data:
            data[key] = (value, now + ttl)
            data.move_to_end(key)
            return
        data[key] = (value, now + ttl)
        if len(data) > self._capacity:
            _, (_, expires) = data.popitem(last=False)
            if now >= expires:
                self.stats.expirations += 1
            else:
                self.stats.evictions += 1

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` has a live entry; an expired one is removed. Neither recency nor hits change."""
        entry = self._data.get(key)  # type: ignore[call-overload]
        if entry is None:
            return False
        if self._clock() >= entry[1]:
            del self._data[key]  # type: ignore[arg-type]
            self.stats.expirations += 1
            return False
        return True

    def __len__(self) -> int:
        """Entries held, including expired ones no lookup has met yet (they still take a slot)."""
        return len(self._data)

    def invalidate(self, key: K) -> None:
        """Forget ``key`` (no-op if absent), e.g. after the data behind it changed."""
        self._data.pop(key, None)

    def clear(self) -> None:
        """Forget every entry; ``stats`` keep counting."""
        self._data.clear()

    def purge_expired(self) -> int:
        """Remove every expired entry now (O(n)), count them as expirations, and return how many."""
        now = self._clock()
        dead = [key for key, (_, expires) in self._data.items() if now >= expires]
        for key in dead:
            del self._data[key]
        self.stats.expirations += len(dead)
        return len(dead)

    def __repr__(self) -> str:
        ttl = "inf" if math.isinf(self._ttl) else f"{self._ttl}"
        return f"TTLCache(capacity={self._capacity}, ttl={ttl}, size={len(self._data)})"


class SingleFlight(Generic[W]):
    """Request coalescing bookkeeping: at most one call in flight per key, everyone else waits for it.

    ``join(key, waiter)`` returns True when no call for ``key`` is in flight: the caller is the leader
    and must do the work (and later call ``complete``). Otherwise ``waiter`` (whatever the runtime uses
    to wake a caller: a SimPy event, an asyncio future, a callback) is recorded and False is returned.
    ``complete(key)`` ends the flight and returns the waiters, in the order they joined, for the leader
    to hand its result (or its error) to; the next ``join`` for ``key`` leads again. The leader must
    call ``complete`` on failure too, or the waiters are stranded.

    ``leaders`` counts flights started and ``coalesced`` callers that piggybacked on one, so
    ``coalesced / (leaders + coalesced)`` is the share of backend calls saved.
    """

    __slots__ = ("_flights", "coalesced", "leaders")

    def __init__(self) -> None:
        self._flights: dict[Hashable, list[W]] = {}
        self.leaders = 0
        self.coalesced = 0

    def join(self, key: Hashable, waiter: W) -> bool:
        """True if the caller leads the call for ``key``; else ``waiter`` is queued and False returned."""
        waiters = self._flights.get(key)
        if waiters is None:
            self._flights[key] = []
            self.leaders += 1
            return True
        waiters.append(waiter)
        self.coalesced += 1
        return False

    def complete(self, key: Hashable) -> list[W]:
        """End the flight for ``key`` and return its waiters in join order. KeyError if none is in flight."""
        try:
            return self._flights.pop(key)
        except KeyError:
            raise KeyError(f"no call in flight for key {key!r} (completed twice, or never joined)") from None

    def in_flight(self, key: Hashable) -> bool:
        return key in self._flights

    def __len__(self) -> int:
        """Number of keys with a call in flight."""
        return len(self._flights)

    def __repr__(self) -> str:
        flights = len(self._flights)
        return f"SingleFlight(in_flight={flights}, leaders={self.leaders}, coalesced={self.coalesced})"
