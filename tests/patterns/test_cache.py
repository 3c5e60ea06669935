"""Tests for patterns.cache: TTLCache against a reference model, LRU theory on a Zipf stream, SingleFlight.

The model-based test advances time in quarter seconds and uses ttls that are multiples of a quarter,
so expiry instants are exact floats and the cache and the model cannot disagree about rounding.
"""

from __future__ import annotations

import math
import random
from itertools import accumulate

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from patterns.cache import CacheStats, SingleFlight, TTLCache
from patterns.clock import ManualClock

# --- TTLCache against a reference model ------------------------------------------------------------------


class ReferenceCache:
    """The obvious, slow LRU+TTL cache: a dict of (value, expiry) and a list ordered least recent first."""

    def __init__(self, capacity: int, ttl: float, clock: ManualClock) -> None:
        self.capacity, self.ttl, self.clock = capacity, ttl, clock
        self.entries: dict[int, tuple[int, float]] = {}
        self.order: list[int] = []
        self.stats = CacheStats()

    def _expired(self, key: int) -> bool:
        return self.clock.now >= self.entries[key][1]

    def _drop(self, key: int) -> None:
        del self.entries[key]
        self.order.remove(key)

    def get(self, key: int) -> int | None:
        if key not in self.entries:
            self.stats.misses += 1
            return None
        if self._expired(key):
            self._drop(key)
            self.stats.expirations += 1
            self.stats.misses += 1
            return None
        self.order.remove(key)
        self.order.append(key)
        self.stats.hits += 1
        return self.entries[key][0]

    def put(self, key: int, value: int, ttl: float | None) -> None:
        expires = self.clock.now + (self.ttl if ttl is None else ttl)
        if key in self.entries:
            self.order.remove(key)
        elif len(self.entries) == self.capacity:
            victim = self.order[0]
            if self._expired(victim):
                self.stats.expirations += 1
            else:
                self.stats.evictions += 1
            self._drop(victim)
        self.entries[key] = (value, expires)
        self.order.append(key)

    def contains(self, key: int) -> bool:
        if key not in self.entries:
            return False
        if self._expired(key):
            self._drop(key)
            self.stats.expirations += 1
            return False
        return True

    def invalidate(self, key: int) -> None:
        if key in self.entries:
            self._drop(key)


KEYS = st.integers(0, 5)  # few keys against capacities up to 4: overwrites, refreshes and evictions abound
TTLS = st.sampled_from([None, None, 0.25, 1.0, 3.0, math.inf])


class TTLCacheAgainstReference(RuleBasedStateMachine):
    """Random put/get/contains/invalidate/advance sequences: the cache must answer as the model does."""

    @initialize(capacity=st.integers(1, 4), ttl=st.sampled_from([0.25, 1.0, 2.0, math.inf]))
    def build(self, capacity: int, ttl: float) -> None:
        self.clock = ManualClock()
        self.cache: TTLCache[int, int] = TTLCache(capacity, ttl, self.clock)
        self.model = ReferenceCache(capacity, ttl, self.clock)

    @rule(key=KEYS, value=st.integers(0, 99), ttl=TTLS)
    def put(self, key: int, value: int, ttl: float | None) -> None:
        self.cache.put(key, value, ttl)
        self.model.put(key, value, ttl)

    @rule(key=KEYS)
    def get(self, key: int) -> None:
        assert self.cache.get(key) == self.model.get(key)

    @rule(key=KEYS)
    def contains(self, key: int) -> None:
        assert (key in self.cache) == self.model.contains(key)

    @rule(key=KEYS)
    def invalidate(self, key: int) -> None:
        self.cache.invalidate(key)
        self.model.invalidate(key)

    @rule(quarters=st.integers(0, 8))
    def advance(self, quarters: int) -> None:
        self.clock.advance(quarters * 0.25)

    @invariant()
    def same_stats_and_size_within_capacity(self) -> None:
        assert self.cache.stats == self.model.stats
        assert len(self.cache) == len(self.model.entries) <= self.model.capacity


TestTTLCacheAgainstReference = TTLCacheAgainstReference.TestCase
TestTTLCacheAgainstReference.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


def test_expired_entries_are_misses_and_are_removed():
    clock = ManualClock()
    cache: TTLCache[str, str] = TTLCache(capacity=4, ttl=10.0, clock=clock)
    cache.put("a", "A")
    cache.put("b", "B", ttl=2.0)
    clock.advance(2.0)  # "b" lived [0, 2): expired exactly now
    assert cache.get("b", "gone") == "gone"
    assert "b" not in cache
    assert cache.get("a") == "A"
    clock.advance(7.75)
    assert "a" in cache
    clock.advance(0.25)  # t = 10: "a" lived [0, 10)
    assert cache.get("a") is None
    assert len(cache) == 0
    assert cache.stats == CacheStats(hits=1, misses=2, evictions=0, expirations=2)
    assert cache.stats.hit_ratio == pytest.approx(1 / 3)


def test_put_restarts_the_ttl_and_get_refreshes_only_recency():
    clock = ManualClock()
    cache: TTLCache[str, int] = TTLCache(capacity=2, ttl=1.0, clock=clock)
    cache.put("a", 1)
    cache.put("b", 2)
    clock.advance(0.5)
    assert cache.get("a") == 1  # "b" is now least recent
    cache.put("c", 3)  # evicts "b", a live entry
    assert "b" not in cache
    assert cache.stats.evictions == 1
    clock.advance(0.5)
    assert cache.get("a") is None  # reading "a" did not extend its life
    cache.put("c", 30)
    clock.advance(0.75)
    assert cache.get("c") == 30  # rewriting "c" did


def test_a_dead_entry_pushed_out_for_room_counts_as_an_expiration():
    clock = ManualClock()
    cache: TTLCache[str, int] = TTLCache(capacity=2, ttl=1.0, clock=clock)
    cache.put("a", 1)
    cache.put("b", 2, ttl=5.0)
    clock.advance(1.0)
    cache.put("c", 3)
    assert (cache.stats.evictions, cache.stats.expirations) == (0, 1)
    cache.put("d", 4, ttl=0.5)
    clock.advance(0.5)
    assert cache.purge_expired() == 1  # "d"
    assert len(cache) == 1
    cache.clear()
    assert len(cache) == 0
    assert cache.stats.expirations == 2  # clear keeps the counters


def test_none_values_are_cached_and_distinguished_from_misses():
    clock = ManualClock()
    cache: TTLCache[str, object] = TTLCache(capacity=2, ttl=1.0, clock=clock)
    cache.put("k", None)
    sentinel = object()
    assert cache.get("k", sentinel) is None
    assert cache.get("other", sentinel) is sentinel
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


def che_lru_hit_ratio(popularity: list[float], capacity: int) -> float:
    """Che's approximation of LRU's hit ratio under the independent reference model.

    The characteristic time T solves sum_i (1 - exp(-p_i T)) = C (an entry survives T requests of other
    keys); key i is then in the cache with probability 1 - exp(-p_i T).
    """
    low, high = 0.0, 1.0
    while sum(1 - math.exp(-p * high) for p in popularity) < capacity:
        high *= 2
    for _ in range(60):
        mid = (low + high) / 2
        if sum(1 - math.exp(-p * mid) for p in popularity) < capacity:
            low = mid
        else:
            high = mid
    return sum(p * (1 - math.exp(-p * high)) for p in popularity)


def test_lru_hit_ratio_on_a_zipf_stream_matches_che_and_stays_below_the_top_c_mass():
    keys, capacity, warmup, measured = 1000, 100, 10_000, 60_000
    weights = [1 / rank for rank in range(1, keys + 1)]  # Zipf, s = 1
    total = sum(weights)
    popularity = [w / total for w in weights]
    rng = random.Random(20240601)
    stream = rng.choices(range(keys), cum_weights=list(accumulate(weights)), k=warmup + measured)
    cache: TTLCache[int, int] = TTLCache(capacity, math.inf, ManualClock())
    for key in stream[:warmup]:  # fill the cache so cold misses do not count
        if cache.get(key) is None:
            cache.put(key, key)
    cache.stats = CacheStats()
    for key in stream[warmup:]:
        if cache.get(key) is None:
            cache.put(key, key)
    hit_ratio = cache.stats.hit_ratio
    che = che_lru_hit_ratio(popularity, capacity)
    top_c = sum(popularity[:capacity])  # hit ratio of the best static cache, optimal under the IRM
    # Tolerances: the measured ratio is a mean of 60,000 hit indicators; were they independent its
    # standard error would be sqrt(h (1 - h) / n) ~ 0.002, and LRU's hits are only weakly correlated
    # over a few thousand requests, so 4 such errors (0.008) bound the noise with room to spare. Che's
    # approximation is asymptotically exact for Zipf popularity and off by well under 0.01 at
    # C = 100 (Fricker, Robert & Roberts, ITC 2012). Hence |h - che| <= 0.02. The top-C bound is
    # exact in expectation, so only the noise allowance applies to it.
    assert abs(hit_ratio - che) <= 0.02
    assert hit_ratio <= top_c + 0.008
    assert cache.stats.evictions == cache.stats.misses  # full cache, no expiry: every miss evicts
    assert len(cache) == capacity


# --- SingleFlight -----------------------------------------------------------------------------------------


def test_single_flight_has_one_leader_per_key_and_returns_waiters_in_order():
    flight: SingleFlight[str] = SingleFlight()
    assert flight.join("user:1", "w0")
    assert flight.in_flight("user:1")
    assert not flight.join("user:1", "w1")
    assert not flight.join("user:1", "w2")
    assert flight.join("user:2", "x0")  # another key leads independently
    assert not flight.join("user:2", "x1")
    assert flight.complete("user:1") == ["w1", "w2"]
    assert not flight.in_flight("user:1")
    assert flight.in_flight("user:2")
    assert flight.join("user:1", "w3")  # after completion the next caller leads again
    assert flight.complete("user:1") == []
    assert (flight.leaders, flight.coalesced, len(flight)) == (3, 3, 1)
    with pytest.raises(KeyError, match="user:1"):
        flight.complete("user:1")


@settings(max_examples=50, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(0, 3)), max_size=100))
def test_single_flight_against_a_model(ops):
    flight: SingleFlight[int] = SingleFlight()
    waiting: dict[int, list[int]] = {}
    for serial, (is_join, key) in enumerate(ops):
        if is_join:
            leads = flight.join(key, serial)
            assert leads == (key not in waiting)
            if leads:
                waiting[key] = []
            else:
                waiting[key].append(serial)
        elif key in waiting:
            assert flight.complete(key) == waiting.pop(key)
        assert all(flight.in_flight(k) == (k in waiting) for k in range(4))
    assert flight.leaders + flight.coalesced == sum(is_join for is_join, _ in ops)


# --- configuration ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capacity", "ttl", "named"),
    [
        (0, 1.0, "capacity=0"),
        (-3, 1.0, "capacity=-3"),
        (2.5, 1.0, "capacity=2.5"),
        (10, 0, "ttl=0"),
        (10, -1.0, "ttl=-1.0"),
        (10, math.nan, "ttl=nan"),
    ],
)
def test_bad_cache_configuration_raises_naming_the_value(capacity, ttl, named):
    with pytest.raises(ValueError, match=named):
        TTLCache(capacity, ttl, ManualClock())


def test_bad_entry_ttl_raises_naming_the_value():
    cache: TTLCache[str, int] = TTLCache(2, 1.0, ManualClock())
    with pytest.raises(ValueError, match="ttl=0"):
        cache.put("k", 1, ttl=0)
    with pytest.raises(ValueError, match="ttl=nan"):
        cache.put("k", 1, ttl=math.nan)
    assert "k" not in cache
