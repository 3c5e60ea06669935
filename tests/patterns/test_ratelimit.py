"""Tests for patterns.ratelimit: each limiter's documented bound, its long-run rate, exact retry_after.

Window-based checks use times on a 1/64 s grid and windows that are powers of two, so every time, every
difference and every window boundary is an exact float: the test and the limiter cannot disagree on
which window a request fell in. The token bucket is also checked on arbitrary float times, with a
tolerance far above float rounding (1e-6 tokens) and far below one request.
"""

from __future__ import annotations

import copy
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from patterns.clock import ManualClock
from patterns.ratelimit import (
    LIMITERS,
    FixedWindow,
    KeyedLimiter,
    RateLimiter,
    SlidingWindowCounter,
    SlidingWindowLog,
    TokenBucket,
    make_limiter,
)

TICK = 1 / 64
WINDOWS = st.sampled_from([0.25, 0.5, 1.0, 2.0])
TICK_GAPS = st.lists(st.integers(0, 40), max_size=300)
UNIT_OR_HEAVY = st.sampled_from([1, 1, 1, 2, 3])


def run(
    limiter: RateLimiter, clock: ManualClock, arrivals: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Offer (gap, cost) arrivals in order; return the admitted ones as (time, cost)."""
    admitted = []
    for gap, cost in arrivals:
        clock.advance(gap)
        if limiter.try_acquire(cost):
            admitted.append((clock.now, cost))
    return admitted


def max_window_sum(admitted: list[tuple[float, float]], window: float) -> float:
    """Largest total cost of admissions within any half-open window [a, a + window) (two pointers)."""
    best = total = 0.0
    i = 0
    for t, cost in admitted:
        total += cost
        while t - admitted[i][0] >= window:
            total -= admitted[i][1]
            i += 1
        best = max(best, total)
    return best


# --- token bucket ----------------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    rate=st.floats(0.1, 1e4),
    burst=st.floats(1, 50),
    arrivals=st.lists(st.tuples(st.floats(0, 0.2), st.floats(0, 4)), max_size=300),
)
def test_token_bucket_admits_at_most_burst_plus_rate_times_length_in_every_window(rate, burst, arrivals):
    clock = ManualClock(3.0)
    admitted = run(TokenBucket(rate, burst, clock), clock, arrivals)
    # Every window [t_i, t_j] between two admissions, in O(n): with S_j the admitted cost up to and
    # including j, the window holds S_j - S_(i-1); it must not exceed burst + rate * (t_j - t_i).
    prefix = 0.0
    best = math.inf  # min over i <= j of S_(i-1) - rate * t_i
    for t, cost in admitted:
        best = min(best, prefix - rate * t)
        prefix += cost
        held = prefix - rate * t - best  # = max over i of (S_j - S_(i-1)) - rate * (t_j - t_i)
        assert held <= burst + 1e-6 + 1e-12 * rate * t


def test_token_bucket_long_run_rate_tends_to_rate_under_overload():
    rate, burst, horizon = 50.0, 20.0, 200.0
    clock = ManualClock()
    bucket = TokenBucket(rate, burst, clock)
    gap = 1 / 800  # offered 800/s, 16x the rate
    admitted = len(run(bucket, clock, [(gap, 1.0)] * int(horizon / gap)))
    # Upper: the bound itself. Lower: once the first arrival has drained it, the bucket never reaches the
    # cap again (an arrival comes every 1/16 token), so the only inflow lost is the first gap's 1/16
    # token (it arrived into a full bucket) and the fraction of a token still accruing at the end.
    assert admitted <= burst + rate * horizon
    assert admitted >= burst + rate * horizon - 1
    assert admitted / horizon == pytest.approx(rate, rel=0.005)


@settings(max_examples=100, deadline=None)
@given(
    rate=st.floats(0.1, 1e4),
    burst=st.floats(1, 20),
    arrivals=st.lists(st.tuples(st.floats(0, 0.05), st.floats(0, 3)), min_size=1, max_size=50),
)
def test_token_bucket_retry_after_is_exact(rate, burst, arrivals):
    clock = ManualClock(7.0)
    bucket = TokenBucket(rate, burst, clock)
    run(bucket, clock, arrivals)
    assert (bucket.retry_after() == 0.0) == (bucket.tokens >= 1 - 1e-9)
    while bucket.try_acquire():  # drain what is left now, leaving a random fraction of a token
        pass
    wait = bucket.retry_after()
    assert wait > 0
    now = clock.now
    before = min(wait, 1e-3 / rate)  # 1e-3 tokens short: far above rounding, far below a request
    clock.now = now + wait - before
    assert not bucket.try_acquire()
    clock.now = now + wait
    assert bucket.try_acquire()


def test_token_bucket_refuses_a_cost_above_burst_forever():
    clock = ManualClock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock)
    assert bucket.retry_after(6) == math.inf
    clock.advance(1e6)
    assert not bucket.try_acquire(6)
    assert bucket.try_acquire(5)
    assert bucket.retry_after() == pytest.approx(0.1)


# --- fixed window -----------------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(limit=st.integers(1, 8), window=WINDOWS, gaps=TICK_GAPS, costs=st.lists(UNIT_OR_HEAVY, max_size=300))
def test_fixed_window_admits_at_most_limit_per_aligned_window_and_fills_it(limit, window, gaps, costs):
    clock = ManualClock()
    arrivals = [(g * TICK, c) for g, c in zip(gaps, costs, strict=False)]
    admitted = run(FixedWindow(limit, window, clock), clock, arrivals)
    per_window: dict[int, float] = {}
    for t, cost in admitted:
        per_window[math.floor(t / window)] = per_window.get(math.floor(t / window), 0) + cost
    assert all(total <= limit for total in per_window.values())
    # Not over-strict: a unit request refused means its aligned window was already full.
    clock2 = ManualClock()
    limiter = FixedWindow(limit, window, clock2)
    counts: dict[int, int] = {}
    for g in gaps:
        clock2.advance(g * TICK)
        k = math.floor(clock2.now / window)
        if limiter.try_acquire():
            counts[k] = counts.get(k, 0) + 1
        else:
            assert counts.get(k, 0) == limit


def test_fixed_window_lets_twice_the_limit_through_across_a_boundary():
    limit = 10
    clock = ManualClock(0.96875)  # the last 1/32 s of window [0, 1)
    limiter = FixedWindow(limit, 1.0, clock)
    first = sum(limiter.try_acquire() for _ in range(limit + 3))
    clock.advance(1 / 32)  # t = 1.0: a new window
    second = sum(limiter.try_acquire() for _ in range(limit + 3))
    assert (first, second) == (limit, limit)  # 2 * limit within 1/32 s, the documented weakness
    assert limiter.retry_after() == 1.0


# --- sliding window log ---------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    limit=st.integers(1, 8),
    window=st.floats(0.01, 3),
    arrivals=st.lists(st.tuples(st.floats(0, 0.5), st.sampled_from([0, 0.5, 1, 1, 2, 3])), max_size=300),
)
def test_sliding_log_never_has_more_than_limit_in_any_window(limit, window, arrivals):
    clock = ManualClock(1.0)
    limiter = SlidingWindowLog(limit, window, clock)
    admitted = run(limiter, clock, arrivals)
    assert max_window_sum(admitted, window) <= limit + 1e-9
    assert len(limiter._log) <= 2 * limit  # memory stays bounded by the limit (costs here are >= 0.5)


def test_sliding_log_refuses_the_boundary_burst_and_fills_each_window_under_overload():
    limit = 10
    clock = ManualClock(0.96875)
    limiter = SlidingWindowLog(limit, 1.0, clock)
    assert sum(limiter.try_acquire() for _ in range(limit + 3)) == limit
    clock.advance(1 / 32)
    assert not limiter.try_acquire()
    assert limiter.retry_after() == 0.96875
    # Under overload (64 offers per second), exactly `limit` pass per window length.
    clock = ManualClock()
    admitted = run(SlidingWindowLog(limit, 1.0, clock), clock, [(TICK, 1)] * 64 * 20)
    assert len(admitted) == 20 * limit


# --- sliding window counter -------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(limit=st.integers(1, 8), window=WINDOWS, gaps=TICK_GAPS, costs=st.lists(UNIT_OR_HEAVY, max_size=300))
def test_sliding_counter_stays_within_its_documented_bound(limit, window, gaps, costs):
    clock = ManualClock()
    arrivals = [(g * TICK, c) for g, c in zip(gaps, costs, strict=False)]
    admitted = run(SlidingWindowCounter(limit, window, clock), clock, arrivals)
    per_window: dict[int, float] = {}
    for t, cost in admitted:
        per_window[math.floor(t / window)] = per_window.get(math.floor(t / window), 0) + cost
    assert all(total <= limit for total in per_window.values())  # aligned windows: at most limit
    # A window [a, a + window) starting s seconds before the next boundary (0 < s <= window) holds less
    # than limit * (2 - s / window). Check it for the windows starting at each admission.
    for i, (a, _) in enumerate(admitted):
        s = (math.floor(a / window) + 1) * window - a
        held = sum(cost for t, cost in admitted[i:] if t - a < window)
        assert held <= limit * (2 - s / window) + 1e-9
        assert held < 2 * limit


def test_sliding_counter_worst_case_approaches_twice_the_limit():
    limit = 10
    clock = ManualClock(0.96875)
    limiter = SlidingWindowCounter(limit, 1.0, clock)
    admitted = run(limiter, clock, [(0, 1)] * (limit + 3))  # previous window was empty: all of limit
    admitted += run(limiter, clock, [(TICK, 1)] * 63)  # a steady stream through window [1, 2)
    held = sum(1 for t, _ in admitted if t < 0.96875 + 1.0)
    assert 1.8 * limit <= held < 2 * limit  # well above the exact log's limit, below the bound


def test_sliding_counter_admits_about_limit_per_window_under_steady_overload():
    limit, window, windows, offers = 100, 1.0, 50, 1024  # offered 1024/s against 100/s
    clock = ManualClock()
    limiter = SlidingWindowCounter(limit, window, clock)
    admitted = run(limiter, clock, [(window / offers, 1)] * (windows * offers))
    # Each aligned window admits at most limit; in the steady state it ends with curr + 1 > limit -
    # prev / offers, i.e. it admits at least limit - 1 (see the class docstring). So the long-run rate
    # lies in [(limit - 1) / window, limit / window], plus the first window's start-up.
    rate = len(admitted) / (windows * window)
    assert (limit - 1) / window - limit / windows <= rate <= limit / window
    assert rate == pytest.approx(limit / window, rel=0.02)


# --- all kinds: retry_after is exact, and agrees with try_acquire -----------------------------------------


@pytest.mark.parametrize("kind", list(LIMITERS))
@settings(max_examples=40, deadline=None)
@given(
    limit=st.integers(1, 6), window=WINDOWS, gaps=st.lists(st.integers(0, 20), max_size=120), data=st.data()
)
def test_retry_after_is_exact_for_every_kind(kind, limit, window, gaps, data):
    clock = ManualClock()
    limiter = make_limiter(kind, limit=limit, window=window, clock=clock)
    costs = data.draw(st.lists(st.sampled_from([1, 1, 2, 3]), min_size=len(gaps), max_size=len(gaps)))
    for gap, cost in zip(gaps, costs, strict=True):
        clock.advance(gap * TICK)
        wait = limiter.retry_after()
        admitted = limiter.try_acquire(1)
        assert admitted == (wait == 0.0)
        if cost > 1 and limiter.retry_after(cost) == 0.0:
            assert limiter.try_acquire(cost)
    wait = limiter.retry_after()
    assume(0 < wait < math.inf)
    # "Slightly before" is 0.1% of the limiter's time scale: far above float rounding, and enough to
    # leave the request at least 1e-3 over the limit (the bucket fills at rate = limit / window, the
    # counter's estimate falls at >= 1 / window per second, the other two free capacity in a step).
    scale = window / limit if kind == "token_bucket" else window
    before = min(wait, 1e-3 * scale)
    fork_clock, fork = copy.deepcopy((clock, limiter))
    fork_clock.now = clock.now + wait - before
    assert not fork.try_acquire()
    clock.now = clock.now + wait
    assert limiter.try_acquire()


@pytest.mark.parametrize("kind", list(LIMITERS))
def test_cost_above_capacity_is_refused_not_looped(kind):
    clock = ManualClock()
    limiter = make_limiter(kind, limit=4, window=1.0, clock=clock)
    assert not limiter.try_acquire(5)
    assert limiter.retry_after(5) == math.inf
    assert limiter.try_acquire(4)
    assert limiter.try_acquire(0)  # weightless requests always pass
    with pytest.raises(ValueError, match="cost=-1"):
        limiter.try_acquire(-1)
    with pytest.raises(ValueError, match="cost=nan"):
        limiter.retry_after(math.nan)


# --- keyed ------------------------------------------------------------------------------------------------


def test_keyed_limiter_keeps_keys_independent():
    clock = ManualClock()
    keyed: KeyedLimiter[str] = KeyedLimiter(lambda: FixedWindow(2, 1.0, clock))
    assert [keyed.try_acquire("alice") for _ in range(3)] == [True, True, False]
    assert [keyed.try_acquire("bob") for _ in range(3)] == [True, True, False]
    assert keyed.retry_after("alice") == 1.0
    assert keyed.retry_after("carol") == 0.0
    assert "carol" not in keyed  # asking about a key does not create it
    assert keyed.try_acquire(("alice", "/orders"))  # any hashable key, e.g. (client, route)


def test_keyed_limiter_evicts_the_least_recently_used_key():
    clock = ManualClock()
    keyed: KeyedLimiter[str] = KeyedLimiter(lambda: FixedWindow(1, 1.0, clock), max_keys=2)
    assert keyed.try_acquire("a")
    assert keyed.try_acquire("b")
    assert not keyed.try_acquire("a")  # refreshes "a": "b" is now the least recent
    assert keyed.try_acquire("c")  # third key: evicts "b"
    assert len(keyed) == 2
    assert keyed.evictions == 1
    assert "a" in keyed
    assert "b" not in keyed
    assert not keyed.try_acquire("a")  # "a" kept its state
    assert keyed.try_acquire("b")  # "b" returns with a fresh allowance, evicting "c"
    assert "c" not in keyed


# --- configuration ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda c: TokenBucket(0, 5, c), "rate=0"),
        (lambda c: TokenBucket(-1.5, 5, c), "rate=-1.5"),
        (lambda c: TokenBucket(math.nan, 5, c), "rate=nan"),
        (lambda c: TokenBucket(math.inf, 5, c), "rate=inf"),
        (lambda c: TokenBucket(1, 0.5, c), "burst=0.5"),
        (lambda c: TokenBucket(1, math.nan, c), "burst=nan"),
        (lambda c: FixedWindow(0, 1, c), "limit=0"),
        (lambda c: FixedWindow(5, 0, c), "window=0"),
        (lambda c: SlidingWindowLog(math.nan, 1, c), "limit=nan"),
        (lambda c: SlidingWindowLog(5, -2, c), "window=-2"),
        (lambda c: SlidingWindowCounter(0.5, 1, c), "limit=0.5"),
        (lambda c: SlidingWindowCounter(5, math.nan, c), "window=nan"),
        (lambda c: KeyedLimiter(lambda: TokenBucket(1, 1, c), max_keys=0), "max_keys=0"),
        (lambda c: make_limiter("token_bucket", limit=5, window=0, clock=c), "window=0"),
        (lambda c: make_limiter("fixed_window", limit=5, window=1, clock=c, burst=3), "burst=3"),
    ],
)
def test_bad_configuration_raises_naming_the_value(build, named):
    with pytest.raises(ValueError, match=named):
        build(ManualClock())


def test_make_limiter_builds_each_kind_and_rejects_unknown_names():
    clock = ManualClock()
    for kind, cls in LIMITERS.items():
        assert type(make_limiter(kind, limit=10, window=2.0, clock=clock)) is cls
    bucket = make_limiter("token_bucket", limit=10, window=2.0, clock=clock)
    assert isinstance(bucket, TokenBucket)
    assert (bucket.rate, bucket.burst) == (5.0, 10.0)
    assert make_limiter("token_bucket", limit=10, window=2.0, clock=clock, burst=3).burst == 3.0
    with pytest.raises(ValueError, match="leaky_bucket") as error:
        make_limiter("leaky_bucket", limit=10, window=1.0, clock=clock)
    assert all(kind in str(error.value) for kind in LIMITERS)
    with pytest.raises(TypeError):
        LIMITERS["mine"] = TokenBucket  # type: ignore[index]
