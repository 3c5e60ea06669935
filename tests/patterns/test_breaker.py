"""Tests for patterns.breaker: resilience4j's state machine, each window against a brute-force oracle.

Times are whole or quarter seconds (exact floats), so the test and the breaker cannot disagree on which
second an outcome fell in or whether ``wait_in_open`` has passed.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patterns.breaker import BreakerConfig, BreakerMetrics, BreakerState, CircuitBreaker, Transition
from patterns.clock import ManualClock

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
FAST, SLOW = 0.1, 5.0  # durations below / above the slow_call_duration of 1.0 used throughout


def make(clock: ManualClock, **overrides: object) -> CircuitBreaker:
    settings_ = {
        "window_type": "count",
        "window_size": 10,
        "minimum_calls": 10,
        "failure_rate_threshold": 50,
        "slow_call_rate_threshold": 100,
        "slow_call_duration": 1.0,
        "wait_in_open": 5.0,
        "permitted_calls_in_half_open": 3,
    }
    settings_.update(overrides)
    return CircuitBreaker(BreakerConfig(**settings_), clock=clock)  # type: ignore[arg-type]


def record(breaker: CircuitBreaker, failed: bool, duration: float = FAST) -> None:
    assert breaker.try_acquire() or breaker.state is OPEN
    (breaker.on_error if failed else breaker.on_success)(duration)


def trip(breaker: CircuitBreaker) -> None:
    """Open a closed breaker made by :func:`make` with failures."""
    while breaker.state is CLOSED:
        record(breaker, True)


# --- closed -> open -------------------------------------------------------------------------------------


def test_opens_exactly_at_the_failure_threshold_and_not_before_minimum_calls() -> None:
    clock = ManualClock()
    breaker = make(clock, window_size=20, minimum_calls=10, failure_rate_threshold=50)
    for _ in range(5):
        record(breaker, True)  # 5 of 5 failed, but below minimum_calls
    for _ in range(4):
        record(breaker, False)
    assert breaker.state is CLOSED
    assert math.isnan(breaker.metrics().failure_rate)
    record(breaker, False)  # 10 calls, 5 failed: exactly 50 %
    assert breaker.state is OPEN
    assert breaker.metrics().failure_rate == 50.0


def test_stays_closed_just_below_the_threshold() -> None:
    clock = ManualClock()
    breaker = make(clock, window_size=20, minimum_calls=10, failure_rate_threshold=50)
    for failed in [True] * 4 + [False] * 6 + [True] + [False] * 2:  # at most 5/11 < 50 % after call 10
        record(breaker, failed)
    assert breaker.state is CLOSED
    assert breaker.metrics().calls == 13


OUTCOMES = st.lists(st.tuples(st.booleans(), st.booleans()), max_size=120)  # (failed, slow)


@settings(max_examples=150, deadline=None)
@given(
    window=st.integers(1, 12),
    minimum=st.integers(1, 15),
    failure_threshold=st.integers(1, 100),
    slow_threshold=st.integers(1, 100),
    outcomes=OUTCOMES,
)
def test_count_window_holds_the_last_n_calls_and_opens_when_the_oracle_says(
    window: int, minimum: int, failure_threshold: int, slow_threshold: int, outcomes: list[tuple[bool, bool]]
) -> None:
    clock = ManualClock()
    breaker = make(
        clock,
        window_size=window,
        minimum_calls=minimum,
        failure_rate_threshold=failure_threshold,
        slow_call_rate_threshold=slow_threshold,
    )
    effective_minimum = min(minimum, window)  # resilience4j clamps minimum_calls to a count window's size
    opened = False
    for i, (failed, slow) in enumerate(outcomes):
        record(breaker, failed, SLOW if slow else FAST)
        last = outcomes[max(0, i + 1 - window) : i + 1]
        n, f, s = len(last), sum(o[0] for o in last), sum(o[1] for o in last)
        if not opened and n >= effective_minimum:
            opened = f * 100 / n >= failure_threshold or s * 100 / n >= slow_threshold
        assert breaker.state is (OPEN if opened else CLOSED)
        m = breaker.metrics()
        assert (m.calls, m.failed_calls, m.slow_calls) == (n, f, s)  # the open state keeps recording


def test_slow_calls_open_it_even_when_all_succeed() -> None:
    clock = ManualClock()
    breaker = make(
        clock, window_size=20, minimum_calls=10, failure_rate_threshold=100, slow_call_rate_threshold=50
    )
    for _ in range(4):
        record(breaker, False, 1.0)  # exactly slow_call_duration counts as slow
    for _ in range(6):
        record(breaker, False, math.nextafter(1.0, 0.0))  # a hair under does not
    assert breaker.state is CLOSED  # 4 slow of 10 = 40 %
    record(breaker, False, 2.0)
    assert breaker.state is CLOSED  # 5 of 11 = 45 %
    record(breaker, False, 2.0)
    assert breaker.state is OPEN  # 6 of 12 = 50 %
    assert breaker.metrics().slow_call_rate == 50.0


def test_minimum_calls_above_a_count_window_is_clamped_to_its_size() -> None:
    clock = ManualClock()
    breaker = make(clock, window_size=4, minimum_calls=50)
    for _ in range(4):
        record(breaker, True)
    assert breaker.state is OPEN


# --- open -> half-open ----------------------------------------------------------------------------------


def test_open_rejects_until_wait_in_open_has_elapsed() -> None:
    clock = ManualClock(start=1.0)
    breaker = make(clock, wait_in_open=5.0)
    clock.advance(2.0)
    trip(breaker)  # opened at t = 3
    assert breaker.events[-1] == Transition(3.0, CLOSED, OPEN)
    clock.now = math.nextafter(8.0, 0.0)
    assert not breaker.try_acquire()
    assert breaker.state is OPEN
    assert breaker.metrics().not_permitted_calls == 1
    clock.now = 8.0
    assert breaker.try_acquire()
    assert breaker.state is HALF_OPEN
    assert breaker.events[-1] == Transition(8.0, OPEN, HALF_OPEN)


def test_outcomes_arriving_while_open_are_recorded_without_a_transition() -> None:
    clock = ManualClock()
    breaker = make(clock)
    trip(breaker)
    calls = breaker.metrics().calls
    breaker.on_success(FAST)
    assert breaker.state is OPEN
    assert breaker.metrics().calls == min(calls + 1, 10)


# --- half-open ------------------------------------------------------------------------------------------


def open_then_half_open(clock: ManualClock, breaker: CircuitBreaker) -> None:
    trip(breaker)
    clock.advance(breaker.config.wait_in_open)
    assert breaker.try_acquire()
    assert breaker.state is HALF_OPEN


def test_half_open_closes_on_good_results_and_resets_the_window() -> None:
    clock = ManualClock()
    breaker = make(clock, permitted_calls_in_half_open=3, failure_rate_threshold=50)
    open_then_half_open(clock, breaker)
    assert breaker.try_acquire()
    assert breaker.try_acquire()
    assert not breaker.try_acquire()  # 3 permits spent
    breaker.on_success(FAST)
    breaker.on_error(FAST)  # 1 of 3 failed: 33 % < 50 %, but not evaluated until all 3 report
    assert breaker.state is HALF_OPEN
    breaker.on_success(FAST)
    assert breaker.state is CLOSED
    assert breaker.metrics().calls == 0
    assert breaker.try_acquire()


@pytest.mark.parametrize(
    ("outcomes", "why"),
    [([True, True, False], "failure rate 67 %"), ([False, False, False], "slow rate 100 %")],
)
def test_half_open_reopens_on_bad_results(outcomes: list[bool], why: str) -> None:
    clock = ManualClock()
    breaker = make(
        clock, permitted_calls_in_half_open=3, failure_rate_threshold=50, slow_call_rate_threshold=60
    )
    open_then_half_open(clock, breaker)
    assert breaker.try_acquire()
    assert breaker.try_acquire()
    duration = SLOW if why.startswith("slow") else FAST
    for failed in outcomes:
        (breaker.on_error if failed else breaker.on_success)(duration)
    assert breaker.state is OPEN, why
    reopened_at = clock.now
    assert breaker.events[-1] == Transition(reopened_at, HALF_OPEN, OPEN)
    clock.advance(4.0)
    assert not breaker.try_acquire()  # a fresh wait_in_open from the re-opening
    clock.advance(1.0)
    assert breaker.try_acquire()


OPS = st.lists(
    st.one_of(
        st.just(("acquire", 0.0)),
        st.tuples(st.sampled_from(["success", "error"]), st.sampled_from([FAST, SLOW])),
        st.tuples(st.just("advance"), st.sampled_from([0.25, 1.0, 3.0])),
    ),
    max_size=200,
)


@settings(max_examples=200, deadline=None)
@given(permitted=st.integers(1, 4), ops=OPS)
def test_half_open_never_permits_more_than_the_permitted_calls(
    permitted: int, ops: list[tuple[str, float]]
) -> None:
    clock = ManualClock()
    breaker = make(
        clock,
        window_size=4,
        minimum_calls=2,
        failure_rate_threshold=50,
        slow_call_rate_threshold=50,
        wait_in_open=2.0,
        permitted_calls_in_half_open=permitted,
    )
    in_flight = 0
    granted = 0  # permits granted in the current half-open period
    for op, arg in ops:
        if op == "advance":
            clock.advance(arg)
        elif op == "acquire":
            before, periods = breaker.state, len(breaker.events)
            ok = breaker.try_acquire()
            if breaker.state is HALF_OPEN and (before is OPEN or len(breaker.events) != periods):
                granted = 0  # this call opened a new half-open period
            if before is CLOSED:
                assert ok
            elif breaker.state is OPEN:
                assert not ok
            else:  # half-open: exactly the first `permitted` requests pass
                assert ok == (granted < permitted)
                granted += ok
                assert granted <= permitted
            in_flight += ok
        elif in_flight:
            in_flight -= 1
            (breaker.on_error if op == "error" else breaker.on_success)(arg)
    states = [e.to_state for e in breaker.events]
    assert all(a != b for a, b in zip([CLOSED, *states], states, strict=False))


# --- time-based window ----------------------------------------------------------------------------------


def test_time_window_forgets_calls_older_than_the_window() -> None:
    clock = ManualClock(start=0.5)
    breaker = make(clock, window_type="time", window_size=10, minimum_calls=4, failure_rate_threshold=50)
    for _ in range(3):
        record(breaker, True)  # second 0
    clock.now = 9.75
    assert breaker.metrics().calls == 3  # seconds 0..9 are the window
    clock.now = 10.0
    assert breaker.metrics().calls == 0
    record(breaker, True)
    for _ in range(3):
        record(breaker, False)  # 1 failed of 4; with the old failures it would be 4 of 7
    assert breaker.state is CLOSED


@settings(max_examples=150, deadline=None)
@given(
    window=st.integers(1, 6),
    events=st.lists(st.tuples(st.integers(0, 12), st.booleans(), st.booleans()), max_size=80),
)
def test_time_window_counts_exactly_the_calls_of_the_last_n_seconds(
    window: int, events: list[tuple[int, bool, bool]]
) -> None:
    clock = ManualClock()
    breaker = make(
        clock,
        window_type="time",
        window_size=window,
        minimum_calls=1000,  # never evaluates: this test checks the window alone
    )
    log: list[tuple[float, bool, bool]] = []
    for quarters, failed, slow in events:
        clock.advance(quarters / 4)
        record(breaker, failed, SLOW if slow else FAST)
        log.append((clock.now, failed, slow))
        now_second = math.floor(clock.now)
        live = [e for e in log if math.floor(e[0]) > now_second - window]
        m = breaker.metrics()
        assert (m.calls, m.failed_calls, m.slow_calls) == (
            len(live),
            sum(e[1] for e in live),
            sum(e[2] for e in live),
        )
    clock.advance(window)
    assert breaker.metrics().calls == 0


# --- events ---------------------------------------------------------------------------------------------


def test_events_record_every_transition_in_order_and_reach_the_listener() -> None:
    clock = ManualClock()
    heard: list[Transition] = []
    breaker = CircuitBreaker(
        BreakerConfig(minimum_calls=2, window_size=2, wait_in_open=5.0, permitted_calls_in_half_open=1),
        clock=clock,
        on_transition=heard.append,
    )
    trip(breaker)  # t=0 closed -> open
    clock.advance(5.0)
    assert breaker.try_acquire()  # t=5 open -> half-open
    breaker.on_error(FAST)  # t=5 half-open -> open
    clock.advance(7.0)
    assert breaker.try_acquire()  # t=12 open -> half-open
    clock.advance(1.0)
    breaker.on_success(FAST)  # t=13 half-open -> closed
    expected = [
        Transition(0.0, CLOSED, OPEN),
        Transition(5.0, OPEN, HALF_OPEN),
        Transition(5.0, HALF_OPEN, OPEN),
        Transition(12.0, OPEN, HALF_OPEN),
        Transition(13.0, HALF_OPEN, CLOSED),
    ]
    assert list(breaker.events) == expected
    assert heard == expected


def test_events_are_bounded() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(
        BreakerConfig(minimum_calls=1, window_size=1, wait_in_open=1.0, permitted_calls_in_half_open=1),
        clock=clock,
        max_events=3,
    )
    for _ in range(5):
        breaker.on_error(FAST)  # closed/half-open -> open
        clock.advance(1.0)
        assert breaker.try_acquire()  # open -> half-open
    assert len(breaker.events) == 3
    assert breaker.events[-1] == Transition(5.0, OPEN, HALF_OPEN)


def test_metrics_snapshot() -> None:
    clock = ManualClock()
    breaker = make(clock, minimum_calls=2, failure_rate_threshold=100)
    record(breaker, True, SLOW)
    record(breaker, False)
    assert breaker.metrics() == BreakerMetrics(CLOSED, 50.0, 50.0, 2, 1, 1, 0)


# --- configuration --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("window_type", "sliding"),
        ("window_size", 0),
        ("window_size", 2.5),
        ("minimum_calls", 0),
        ("minimum_calls", True),
        ("failure_rate_threshold", 0),
        ("failure_rate_threshold", 100.5),
        ("slow_call_rate_threshold", 0.5),
        ("slow_call_rate_threshold", math.nan),
        ("slow_call_duration", 0),
        ("slow_call_duration", math.inf),
        ("wait_in_open", -1.0),
        ("wait_in_open", "5s"),
        ("permitted_calls_in_half_open", 0),
    ],
)
def test_bad_config_raises_naming_the_value(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"{field}={value!r}".replace("(", r"\(").replace(".", r"\.")):
        BreakerConfig(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"config": {"window_size": 3}}, "config="),
        ({"max_events": 0}, "max_events=0"),
        ({"on_transition": 3}, "on_transition=3"),
    ],
)
def test_bad_breaker_arguments_raise_naming_the_value(kwargs: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        CircuitBreaker(clock=ManualClock(), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("duration", [-0.5, math.nan])
def test_bad_duration_raises(duration: float) -> None:
    breaker = make(ManualClock())
    with pytest.raises(ValueError, match="duration="):
        breaker.on_success(duration)
