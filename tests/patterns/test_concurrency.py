"""Tests for patterns.concurrency: the bulkhead's bounds and FIFO order, the shedders' thresholds, the
adaptive limits' documented steps and bounds, and the gate never exceeding the current limit."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patterns.clock import ManualClock
from patterns.concurrency import (
    AdaptiveLimit,
    AIMDLimit,
    Bulkhead,
    GradientLimit,
    LatencyShedder,
    LimitedGate,
    QueueLengthShedder,
)

# -- bulkhead -----------------------------------------------------------------------------------------

OPS = st.lists(
    st.tuples(st.sampled_from(["call", "leave", "cancel"]), st.integers(0, 50)),
    max_size=300,
)


@settings(max_examples=200)
@given(max_concurrent=st.integers(1, 5), max_waiting=st.integers(0, 5), ops=OPS)
def test_bulkhead_bounds_fifo_and_permit_conservation(max_concurrent, max_waiting, ops):
    """Against a model: permits held by callers, a FIFO list of waiters, every count in bounds."""
    bulkhead: Bulkhead[int] = Bulkhead(max_concurrent, max_waiting)
    holders = 0  # callers running (each will leave once)
    queue: list[int] = []  # the model's FIFO of waiters
    rejected = 0
    next_id = 0
    for op, pick in ops:
        if op == "call":
            if bulkhead.try_enter():
                holders += 1
            else:
                assert holders == max_concurrent  # try_enter refuses only when every permit is held
                next_id += 1
                if bulkhead.enqueue(next_id):
                    queue.append(next_id)
                else:
                    assert len(queue) == max_waiting
                    rejected += 1
        elif op == "leave" and holders:
            admitted = bulkhead.leave()
            if queue:
                assert admitted == queue.pop(0)  # the oldest waiter, who now holds the permit
            else:
                assert admitted is None
                holders -= 1
        elif op == "cancel" and next_id:
            waiter = pick % next_id + 1
            assert bulkhead.cancel(waiter) == (waiter in queue)
            if waiter in queue:
                queue.remove(waiter)
        assert bulkhead.in_use == holders <= max_concurrent
        assert bulkhead.waiting == len(queue) <= max_waiting
        assert bulkhead.rejected == rejected
        assert not queue or holders == max_concurrent


def test_bulkhead_admits_waiters_first_in_first_out_and_no_newcomer_overtakes():
    bulkhead: Bulkhead[str] = Bulkhead(1, 3)
    assert bulkhead.try_enter()
    assert not bulkhead.try_enter()
    for name in "abc":
        assert bulkhead.enqueue(name)
    assert not bulkhead.enqueue("d")
    assert bulkhead.rejected == 1
    assert bulkhead.cancel("b")
    assert not bulkhead.cancel("b")
    assert bulkhead.leave() == "a"
    assert not bulkhead.try_enter()  # the permit went to "a", not to a newcomer
    assert bulkhead.leave() == "c"
    assert bulkhead.cancel("c") is False  # already admitted: it holds the permit and must leave
    assert bulkhead.leave() is None
    assert (bulkhead.in_use, bulkhead.waiting, bulkhead.cancelled) == (0, 0, 1)


def test_bulkhead_refuses_misuse():
    bulkhead: Bulkhead[str] = Bulkhead(1, 1)
    with pytest.raises(RuntimeError, match="no permit"):
        bulkhead.leave()
    with pytest.raises(RuntimeError, match="free permit"):
        bulkhead.enqueue("a")
    bulkhead.try_enter()
    bulkhead.enqueue("a")
    with pytest.raises(RuntimeError, match="already waiting"):
        bulkhead.enqueue("a")


# -- shedders -----------------------------------------------------------------------------------------


@given(max_queue=st.integers(0, 100), queue_length=st.integers(0, 200))
def test_queue_length_shedder_threshold(max_queue, queue_length):
    shedder = QueueLengthShedder(max_queue)
    assert shedder.admit(queue_length) == (queue_length < max_queue)
    assert shedder.admitted + shedder.shed == 1


TICK = 1 / 64  # dyadic times and intervals: the comparisons with the interval are exact


def test_latency_shedder_sheds_only_after_interval_above_target_and_recovers():
    clock = ManualClock()
    shedder = LatencyShedder(target=0.005, interval=8 * TICK, clock=clock)
    for _ in range(8):  # ticks 0 .. 7: above target, but not yet for a whole interval
        shedder.observe(0.02)
        assert shedder.admit()
        clock.advance(TICK)
    shedder.observe(0.02)  # tick 8: above target for exactly one interval
    assert not shedder.admit()
    clock.advance(4 * TICK)
    shedder.observe(0.03)
    assert not shedder.admit()
    shedder.observe(0.001)  # the queue drained once: no standing queue
    assert shedder.admit()
    shedder.observe(0.02)  # a new run starts now and needs a full interval again
    clock.advance(7 * TICK)
    shedder.observe(0.02)
    assert shedder.admit()
    clock.advance(TICK)
    assert not shedder.admit()
    assert shedder.shed == 3


def test_latency_shedder_a_brief_spike_is_not_a_standing_queue():
    clock = ManualClock()
    shedder = LatencyShedder(target=0.005, interval=8 * TICK, clock=clock)
    for step in range(100):  # above target most of the time, but below once every 7 ticks
        shedder.observe(0.001 if step % 7 == 0 else 0.05)
        assert shedder.admit()
        clock.advance(TICK)


def test_latency_shedder_recovers_when_observations_stop():
    """Once shedding drained the queue nothing is observed; stale high delays must not shed forever."""
    clock = ManualClock()
    shedder = LatencyShedder(target=0.005, interval=8 * TICK, clock=clock)
    for _ in range(20):
        shedder.observe(0.05)
        clock.advance(TICK)
    assert not shedder.admit()  # last observation 1 tick old
    clock.advance(6 * TICK)
    assert not shedder.admit()  # 7 ticks old: still fresh
    clock.advance(TICK)
    assert shedder.admit()  # a whole interval without evidence
    shedder.observe(0.05)  # one high delay after the gap starts a fresh run, not a standing queue
    clock.advance(TICK)
    assert shedder.admit()


# -- adaptive limits ----------------------------------------------------------------------------------


def test_aimd_grows_by_one_per_saturated_sample_and_backs_off_by_the_ratio():
    limit = AIMDLimit(initial=10, minimum=2, maximum=13, backoff_ratio=0.5, timeout=1.0)
    for expected in (11, 12, 13, 13):
        limit.on_sample(0.01, inflight=limit.limit, dropped=False)
        assert limit.limit == expected
    limit.on_sample(0.01, inflight=1)  # inflight far below the limit: no growth
    assert limit.limit == 13
    limit.on_sample(0.01, inflight=13, dropped=True)
    assert limit.limit == 6  # floor(13 * 0.5)
    limit.on_sample(1.5, inflight=6)  # rtt above the timeout counts as a drop
    assert limit.limit == 3
    limit.on_sample(0.01, inflight=3, dropped=True)
    assert limit.limit == 2  # the minimum
    limit.on_sample(0.01, inflight=2, dropped=True)
    assert limit.limit == 2


SAMPLES = st.lists(
    st.tuples(st.floats(0, 10), st.integers(0, 300), st.booleans()),
    max_size=300,
)


@given(
    bounds=st.tuples(st.integers(1, 50), st.integers(0, 50), st.integers(0, 50)),
    ratio=st.floats(0.01, 0.99),
    samples=SAMPLES,
)
def test_aimd_stays_within_bounds_and_moves_as_documented(bounds, ratio, samples):
    minimum, up, up2 = bounds
    limit = AIMDLimit(minimum + up, minimum, minimum + up + up2, backoff_ratio=ratio, timeout=5.0)
    for rtt, inflight, dropped in samples:
        before = limit.limit
        limit.on_sample(rtt, inflight, dropped)
        after = limit.limit
        assert minimum <= after <= limit.maximum
        if dropped or rtt > 5.0:
            assert after == max(minimum, math.floor(before * ratio))
            assert after < before or before == minimum
        elif 2 * inflight >= before:
            assert after == min(before + 1, limit.maximum)
        else:
            assert after == before


def _feed(limit: GradientLimit, rtt: float, n: int) -> list[int]:
    seen = []
    for _ in range(n):
        limit.on_sample(rtt, inflight=limit.limit)
        seen.append(limit.limit)
    return seen


def test_gradient_limit_shrinks_when_latency_rises_and_grows_back_when_it_falls():
    limit = GradientLimit(initial=50, minimum=5, maximum=100, long_window=100)
    _feed(limit, 0.010, 20)  # baseline: no queueing, the limit probes upward
    grown = limit.limit
    assert grown > 50
    shrinking = _feed(limit, 0.040, 15)  # 4x the baseline: well beyond the tolerance of 1.5
    assert shrinking == sorted(shrinking, reverse=True)
    low = limit.limit
    assert low < grown / 2
    assert limit.short_rtt > limit.tolerance * limit.long_rtt  # still queueing, as the model sees it
    recovering = _feed(limit, 0.010, 40)
    assert recovering == sorted(recovering)
    assert limit.limit > low + 5


def test_gradient_limit_ignores_samples_when_the_limit_is_not_used():
    limit = GradientLimit(initial=40, minimum=1, maximum=100)
    limit.on_sample(0.01, inflight=10)
    limit.on_sample(1.0, inflight=10)
    assert limit.limit == 40


def test_gradient_limit_drop_counts_as_the_steepest_gradient():
    limit = GradientLimit(initial=40, minimum=1, maximum=100, smoothing=0.5, queue_size=0)
    limit.on_sample(0.01, inflight=40, dropped=True)
    assert limit.estimate == pytest.approx(30.0)  # 40 * 0.5 + (40 * 0.5) * 0.5
    assert limit.long_rtt == 0.0  # a drop's rtt is not averaged


@given(
    bounds=st.tuples(st.integers(1, 50), st.integers(0, 50), st.integers(0, 50)),
    smoothing=st.floats(0.01, 1),
    samples=SAMPLES,
)
def test_gradient_limit_stays_within_bounds(bounds, smoothing, samples):
    minimum, up, up2 = bounds
    limit = GradientLimit(minimum + up, minimum, minimum + up + up2, smoothing=smoothing, long_window=20)
    for rtt, inflight, dropped in samples:
        limit.on_sample(rtt, inflight, dropped)
        assert minimum <= limit.limit <= limit.maximum


# -- the gate -----------------------------------------------------------------------------------------


@given(
    ops=st.lists(st.tuples(st.booleans(), st.floats(0, 10), st.booleans()), max_size=300),
    kind=st.sampled_from(["aimd", "gradient"]),
)
def test_limited_gate_never_admits_above_the_current_limit(ops, kind):
    limit: AdaptiveLimit = (
        AIMDLimit(5, 1, 20, timeout=2.0) if kind == "aimd" else GradientLimit(5, 1, 20, long_window=10)
    )
    gate = LimitedGate(limit)
    inflight = 0
    for acquire, rtt, dropped in ops:
        if acquire:
            current = limit.limit
            admitted = gate.try_acquire()
            assert admitted == (inflight < current)
            inflight += admitted
            assert not admitted or inflight <= current
        elif inflight:
            gate.release(rtt, dropped)
            inflight -= 1
        assert gate.inflight == inflight


def test_limited_gate_feeds_samples_back():
    limit = AIMDLimit(initial=2, minimum=1, maximum=10)
    gate = LimitedGate(limit)
    assert gate.try_acquire()
    assert gate.try_acquire()
    assert not gate.try_acquire()
    assert gate.rejected == 1
    gate.release(0.01)  # inflight 2 at release: saturated, the limit grows
    assert limit.limit == 3
    gate.release(0.01, dropped=True)
    assert limit.limit == 2
    with pytest.raises(RuntimeError, match="nothing in flight"):
        gate.release(0.01)


# -- configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: Bulkhead(0), "max_concurrent=0"),
        (lambda: Bulkhead(2, -1), "max_waiting=-1"),
        (lambda: Bulkhead(2.5), "max_concurrent=2.5"),
        (lambda: Bulkhead(True), "max_concurrent=True"),
        (lambda: QueueLengthShedder(-1), "max_queue=-1"),
        (lambda: LatencyShedder(-0.1, 1.0, ManualClock()), "target=-0.1"),
        (lambda: LatencyShedder(0.1, 0.0, ManualClock()), "interval=0.0"),
        (lambda: LatencyShedder(0.1, math.nan, ManualClock()), "interval=nan"),
        (lambda: AIMDLimit(initial=0, minimum=0), "minimum=0"),
        (lambda: AIMDLimit(initial=5, minimum=6, maximum=10), "minimum=6"),
        (lambda: AIMDLimit(initial=11, maximum=10), "initial=11"),
        (lambda: AIMDLimit(backoff_ratio=1.0), "backoff_ratio=1.0"),
        (lambda: AIMDLimit(timeout=0), "timeout=0"),
        (lambda: GradientLimit(smoothing=0), "smoothing=0"),
        (lambda: GradientLimit(tolerance=0.5), "tolerance=0.5"),
        (lambda: GradientLimit(long_window=0), "long_window=0"),
        (lambda: GradientLimit(queue_size=-1), "queue_size=-1"),
        (lambda: LimitedGate(object()), "limit=<object"),
    ],
)
def test_bad_configuration_raises_naming_the_value(build, named):
    with pytest.raises(ValueError, match=re.escape(named)):
        build()


@pytest.mark.parametrize(
    "call",
    [
        lambda: QueueLengthShedder(3).admit(-1),
        lambda: LatencyShedder(0.1, 1.0, ManualClock()).observe(math.inf),
        lambda: AIMDLimit().on_sample(-1.0, 1),
        lambda: GradientLimit().on_sample(0.1, -1),
    ],
)
def test_bad_samples_raise(call):
    with pytest.raises(ValueError, match="got"):
        call()
