"""Tests for patterns.retry: the blog's backoff formulas and bounds, retry decisions, budget, deadline.

Jittered backoffs are checked against the formula replayed on a second ``random.Random`` with the same
seed, so a change of formula (or of the exponent convention) fails. Budget streams use times on a 1/64 s
grid and power-of-two windows, so every time and every window edge is an exact float.
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patterns.clock import ManualClock
from patterns.retry import (
    BACKOFFS,
    Backoff,
    ConstantBackoff,
    Deadline,
    DecorrelatedJitter,
    EqualJitter,
    ExponentialBackoff,
    FullJitter,
    NoBackoff,
    RetryBudget,
    RetryPolicy,
    make_backoff,
)

BASES = st.floats(1e-3, 10)
CAP_FACTORS = st.floats(1, 1e4)
ATTEMPTS = st.integers(1, 2000)
SEEDS = st.integers(0, 2**32 - 1)

# --- formulas on fixed inputs -------------------------------------------------------------------------


def test_no_and_constant_backoff():
    assert [NoBackoff().delay(n) for n in (1, 2, 50)] == [0.0, 0.0, 0.0]
    assert [ConstantBackoff(0.3).delay(n, 7.0) for n in (1, 2, 50)] == [0.3, 0.3, 0.3]


def test_exponential_is_base_times_two_to_the_attempt_capped():
    backoff = ExponentialBackoff(0.1, 5.0)
    # attempt 1 (the first retry) waits 2 * base: the blog's base * 2**attempt.
    assert [backoff.delay(n) for n in range(1, 8)] == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0])
    assert backoff.delay(10**6) == 5.0  # no overflow for absurd attempts


def test_full_jitter_matches_the_formula():
    base, cap, seed = 0.05, 2.0, 7
    backoff, ref = FullJitter(base, cap, random.Random(seed)), random.Random(seed)
    for n in range(1, 12):
        assert backoff.delay(n) == ref.uniform(0, min(cap, base * 2**n))


def test_equal_jitter_matches_the_formula():
    base, cap, seed = 0.05, 2.0, 11
    backoff, ref = EqualJitter(base, cap, random.Random(seed)), random.Random(seed)
    for n in range(1, 12):
        v = min(cap, base * 2**n)
        assert backoff.delay(n) == v / 2 + ref.uniform(0, v / 2)


def test_decorrelated_jitter_matches_the_formula_walking_from_base():
    base, cap, seed = 0.05, 2.0, 13
    backoff, ref = DecorrelatedJitter(base, cap, random.Random(seed)), random.Random(seed)
    previous, expected_previous = None, base
    for n in range(1, 20):
        previous = backoff.delay(n, previous)
        expected_previous = min(cap, ref.uniform(base, expected_previous * 3))
        assert previous == expected_previous


# --- bounds, over inputs hypothesis chooses ------------------------------------------------------------


@given(base=BASES, factor=CAP_FACTORS, attempt=ATTEMPTS)
def test_exponential_is_capped_and_never_below_base(base, factor, attempt):
    cap = base * factor
    delay = ExponentialBackoff(base, cap).delay(attempt)
    assert base <= delay <= cap
    if attempt < 1000:
        assert delay == min(cap, base * 2.0**attempt)


@given(base=BASES, factor=CAP_FACTORS, attempt=ATTEMPTS, seed=SEEDS)
def test_full_jitter_within_zero_and_ceiling(base, factor, attempt, seed):
    cap = base * factor
    v = min(cap, base * 2.0 ** min(attempt, 1000))
    assert 0 <= FullJitter(base, cap, random.Random(seed)).delay(attempt) <= v


@given(base=BASES, factor=CAP_FACTORS, attempt=ATTEMPTS, seed=SEEDS)
def test_equal_jitter_within_half_ceiling_and_ceiling(base, factor, attempt, seed):
    cap = base * factor
    v = min(cap, base * 2.0 ** min(attempt, 1000))
    assert v / 2 <= EqualJitter(base, cap, random.Random(seed)).delay(attempt) <= v * (1 + 1e-15)


@given(
    base=BASES,
    factor=CAP_FACTORS,
    seed=SEEDS,
    steps=st.integers(1, 60),
    stray=st.one_of(st.none(), st.floats(0, 1e6)),
)
def test_decorrelated_jitter_stays_within_base_and_cap(base, factor, seed, steps, stray):
    cap = base * factor
    backoff = DecorrelatedJitter(base, cap, random.Random(seed))
    previous = stray  # any starting "previous", even one this backoff never produced
    for n in range(1, steps + 1):
        previous = backoff.delay(n, previous)
        assert base <= previous <= cap


def test_full_jitter_mean_is_half_the_ceiling():
    # uniform(0, v) has mean v/2 and sd v/sqrt(12); with n draws the sample mean's standard error is
    # v/sqrt(12 n). A tolerance of 5 standard errors is missed by a correct implementation with
    # probability ~6e-7 (and the seed is fixed); equal jitter's mean 3v/4 would be ~430 SEs away.
    base, cap, n = 0.1, 100.0, 20_000
    backoff = FullJitter(base, cap, random.Random(2015))
    v = base * 2**4
    mean = sum(backoff.delay(4) for _ in range(n)) / n
    assert abs(mean - v / 2) <= 5 * v / math.sqrt(12 * n)


# --- make_backoff ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BACKOFFS)
def test_make_backoff_builds_every_kind(kind):
    backoff = make_backoff(kind, base=0.1, cap=1.0, rng=random.Random(1))
    assert isinstance(backoff, Backoff)
    assert 0 <= backoff.delay(1) <= 1.0
    backoff.reset()


def test_make_backoff_maps_names_to_classes():
    built = {kind: type(make_backoff(kind, base=0.1, cap=1.0)) for kind in BACKOFFS}
    assert built == {
        "none": NoBackoff,
        "constant": ConstantBackoff,
        "exponential": ExponentialBackoff,
        "full_jitter": FullJitter,
        "equal_jitter": EqualJitter,
        "decorrelated_jitter": DecorrelatedJitter,
    }
    assert make_backoff("constant", base=0.25, cap=1.0).delay(3) == 0.25


def test_make_backoff_rejects_unknown_kinds_listing_known_ones():
    with pytest.raises(ValueError, match="'fibonacci'") as info:
        make_backoff("fibonacci", base=0.1, cap=1.0)
    for kind in BACKOFFS:
        assert kind in str(info.value)


# --- RetryPolicy -----------------------------------------------------------------------------------------


@given(
    max_attempts=st.integers(1, 10),
    outcomes=st.lists(st.sampled_from(["error", "timeout", "rejected", "ok"]), min_size=1, max_size=20),
)
def test_retry_policy_stops_after_max_attempts_and_only_retries_listed_outcomes(max_attempts, outcomes):
    policy = RetryPolicy(max_attempts, NoBackoff())
    tries = 0
    for outcome in outcomes:  # each try ends in the next outcome; stop when the policy says so
        tries += 1
        if not policy.should_retry(tries, outcome):
            break
    assert tries <= max_attempts
    last = outcomes[tries - 1]
    if tries < max_attempts and last in ("error", "timeout"):
        assert tries == len(outcomes)  # only running out of outcomes ends a retryable run early
    for outcome in outcomes[: tries - 1]:
        assert outcome in ("error", "timeout")


def test_retry_policy_decisions():
    policy = RetryPolicy(3, ExponentialBackoff(0.1, 1.0), retry_on={"timeout"})
    assert policy.should_retry(1, "timeout")
    assert policy.should_retry(2, "timeout")
    assert not policy.should_retry(3, "timeout")
    assert not policy.should_retry(1, "error")
    assert not RetryPolicy(1, NoBackoff()).should_retry(1, "error")
    assert RetryPolicy(2, NoBackoff()).retry_on == frozenset({"error", "timeout"})


# --- RetryBudget -------------------------------------------------------------------------------------------

TICK = 1 / 64


def run_budget(budget: RetryBudget, clock: ManualClock, events) -> tuple[list[float], list[float]]:
    """Offer (gap in ticks, is_retry) events; return (request times, admitted retry times)."""
    requests, retries = [], []
    for gap, is_retry in events:
        clock.advance(gap * TICK)
        if is_retry:
            if budget.try_retry():
                retries.append(clock.now)
        else:
            budget.record_request()
            requests.append(clock.now)
    return requests, retries


def count(times: list[float], lo: float, hi: float) -> int:
    """Events in the half-open-on-the-left interval (lo, hi]."""
    return sum(lo < t <= hi for t in times)


@settings(max_examples=60, deadline=None)
@given(
    ratio=st.sampled_from([0.0, 0.1, 0.2, 0.5, 1.0]),
    min_per_second=st.sampled_from([0.0, 0.5, 1.0, 4.0]),
    window=st.sampled_from([0.25, 0.5, 1.0, 2.0]),
    events=st.lists(st.tuples(st.integers(0, 20), st.booleans()), max_size=250),
)
def test_retry_budget_bound_holds_in_every_window(ratio, min_per_second, window, events):
    clock = ManualClock(1.0)
    budget = RetryBudget(ratio, min_per_second, window, clock)
    requests, retries = run_budget(budget, clock, events)
    floor = min_per_second * window
    # At each admission: the trailing window, the retry itself included, is within the budget.
    for s in retries:
        assert count(retries, s - window, s) <= ratio * count(requests, s - window, s) + floor + 1e-9
    # Any window (a, a + window]: enough to try left ends at event times (a window's retry count only
    # changes as an edge crosses an event), paid for by the requests of that window and the one before.
    for a in {t - d for t in requests + retries for d in (0.0, window)}:
        held = count(retries, a, a + window)
        assert held <= ratio * count(requests, a - window, a + window) + floor + 1e-9


def test_retry_budget_same_window_bound_cannot_hold_so_the_earlier_window_counts():
    """The documented counterexample: retries spent late in the requests' window land in the next one."""
    clock = ManualClock()
    budget = RetryBudget(0.1, 0.0, 1.0, clock)
    for _ in range(100):
        budget.record_request()
    clock.advance(0.75)
    granted = sum(budget.try_retry() for _ in range(20))
    assert granted == 10  # 10% of the 100 requests, and no more
    # The window (0.5, 1.5] holds these 10 retries and no request at all.
    clock.advance(0.25)  # the requests expire at t = 1.0; the retries still count, so the balance is negative
    assert budget.available() == pytest.approx(-10)
    assert not budget.try_retry()


def test_retry_budget_floor_allows_min_per_second_without_requests_and_recovers():
    clock = ManualClock()
    budget = RetryBudget(0.2, 2.0, 2.0, clock)  # floor: 2/s * 2 s = 4 retries per window
    assert budget.available() == pytest.approx(4)
    assert sum(budget.try_retry() for _ in range(10)) == 4
    assert budget.available() == pytest.approx(0)
    for _ in range(10):
        budget.record_request()
    assert budget.available() == pytest.approx(2)
    assert sum(budget.try_retry() for _ in range(10)) == 2
    clock.advance(2.0)  # everything has expired
    assert budget.available() == pytest.approx(4)


def test_retry_budget_long_run_rate_is_ratio_of_requests():
    clock = ManualClock()
    budget = RetryBudget(0.1, 0.0, 1.0, clock)
    granted = 0
    for _ in range(10_000):  # 100 requests/s, each followed by a retry attempt, for 100 s
        clock.advance(0.01)
        budget.record_request()
        granted += budget.try_retry()
    assert granted == pytest.approx(1000, abs=10)


# --- Deadline -------------------------------------------------------------------------------------------


def test_deadline_remaining_child_and_expired():
    clock = ManualClock(100.0)
    deadline = Deadline(clock, 2.0)
    assert deadline.expires_at == 102.0
    assert deadline.remaining() == 2.0
    assert not deadline.expired()
    assert deadline.child(0.5) == 0.5  # the per-try timeout fits
    assert deadline.child() == 2.0  # no per-try timeout: pass the whole remainder downstream
    clock.advance(1.75)
    assert deadline.remaining() == pytest.approx(0.25)
    assert deadline.child(0.5) == pytest.approx(0.25)  # never beyond the overall deadline
    clock.advance(0.25)
    assert deadline.expired()
    assert deadline.remaining() == 0.0
    assert deadline.child(0.5) == 0.0
    clock.advance(5.0)
    assert deadline.remaining() == 0.0  # never negative


def test_deadline_without_limit_and_zero_budget():
    clock = ManualClock()
    unbounded = Deadline(clock, math.inf)
    clock.advance(1e6)
    assert not unbounded.expired()
    assert unbounded.child(0.3) == 0.3
    assert Deadline(clock, 0.0).expired()


# --- invalid configuration -------------------------------------------------------------------------------

NAN = float("nan")


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: ConstantBackoff(-1.0), "delay=-1.0"),
        (lambda: ConstantBackoff(NAN), "delay=nan"),
        (lambda: ExponentialBackoff(0.0, 1.0), "base=0.0"),
        (lambda: ExponentialBackoff(-0.1, 1.0), "base=-0.1"),
        (lambda: ExponentialBackoff(NAN, 1.0), "base=nan"),
        (lambda: FullJitter(1.0, 0.5), "cap=0.5"),
        (lambda: EqualJitter(0.1, math.inf), "cap=inf"),
        (lambda: DecorrelatedJitter(0.1, NAN), "cap=nan"),
        (lambda: make_backoff("full_jitter", base=2.0, cap=1.0), "cap=1.0"),
        (lambda: ExponentialBackoff(0.1, 1.0).delay(0), "attempt=0"),
        (lambda: FullJitter(0.1, 1.0).delay(1.5), "attempt=1.5"),
        (lambda: DecorrelatedJitter(0.1, 1.0).delay(1, -1.0), "previous=-1.0"),
        (lambda: RetryPolicy(0, NoBackoff()), "max_attempts=0"),
        (lambda: RetryPolicy(2.5, NoBackoff()), "max_attempts=2.5"),
        (lambda: RetryPolicy(3, "exponential"), "backoff='exponential'"),
        (lambda: RetryPolicy(3, NoBackoff(), retry_on="error"), "retry_on='error'"),
        (lambda: RetryPolicy(3, NoBackoff()).should_retry(0, "error"), "attempt=0"),
        (lambda: RetryBudget(-0.1, 1.0, 1.0, ManualClock()), "ratio=-0.1"),
        (lambda: RetryBudget(NAN, 1.0, 1.0, ManualClock()), "ratio=nan"),
        (lambda: RetryBudget(0.1, -1.0, 1.0, ManualClock()), "min_per_second=-1.0"),
        (lambda: RetryBudget(0.1, 1.0, 0.0, ManualClock()), "window=0.0"),
        (lambda: RetryBudget(0.1, 1.0, math.inf, ManualClock()), "window=inf"),
        (lambda: Deadline(ManualClock(), -1.0), "budget=-1.0"),
        (lambda: Deadline(ManualClock(), NAN), "budget=nan"),
        (lambda: Deadline(ManualClock(), 1.0).child(0.0), "timeout=0.0"),
        (lambda: Deadline(ManualClock(), 1.0).child(NAN), "timeout=nan"),
    ],
)
def test_bad_configuration_raises_value_error_naming_the_value(build, named):
    with pytest.raises(ValueError, match=named.replace("(", r"\(").replace(".", r"\.")):
        build()
