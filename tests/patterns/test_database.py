"""Tests for patterns.database: the pool's bound and FIFO hand-over with measured waits, the lock
table's mutual exclusion and FIFO grants, and what a lagging replica sees (exactly, and against the
stale-read probability of Poisson writes)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patterns.clock import ManualClock
from patterns.database import ConnectionPool, LockTable, ReplicationLog

# -- connection pool ----------------------------------------------------------------------------------


def test_a_pool_lends_at_most_max_connections_and_hands_over_in_order_with_the_wait_measured() -> None:
    clock = ManualClock()
    pool: ConnectionPool[str] = ConnectionPool(2, max_wait=1.0, clock=clock)
    assert pool.try_acquire()
    assert pool.try_acquire()
    assert not pool.try_acquire()
    pool.wait("a")
    clock.advance(0.1)
    pool.wait("b")
    clock.advance(0.2)
    assert pool.release() == "a"  # waited 0.3 s
    assert pool.in_use == 2
    clock.advance(0.5)
    assert pool.give_up("b")  # gave up after its max wait (the runner's timer)
    assert pool.release() is None
    assert pool.release() is None
    assert pool.in_use == 0
    assert pool.acquired == 3
    assert pool.timed_out == 1
    assert pool.waited == pytest.approx(0.3)


def test_a_borrower_handed_a_connection_cannot_give_up() -> None:
    pool: ConnectionPool[str] = ConnectionPool(1, max_wait=0.5, clock=ManualClock())
    assert pool.try_acquire()
    pool.wait("a")
    assert pool.release() == "a"
    assert not pool.give_up("a")
    assert pool.timed_out == 0


@pytest.mark.parametrize(
    ("connections", "wait", "message"),
    [(0, 1.0, "max_connections >= 1"), (2, -1.0, "max_wait >= 0"), (2, math.inf, "finite max_wait")],
)
def test_a_pool_refuses_nonsense(connections: int, wait: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConnectionPool(connections, wait, ManualClock())


@settings(max_examples=200)
@given(size=st.integers(1, 4), ops=st.lists(st.sampled_from(["take", "release", "give_up"]), max_size=200))
def test_a_pool_never_lends_more_than_its_size_and_serves_waiters_first_come(size, ops) -> None:
    pool: ConnectionPool[int] = ConnectionPool(size, 1.0, ManualClock())
    holders, queue, served, arrivals = 0, [], [], 0
    for op in ops:
        if op == "take":
            if pool.try_acquire():
                holders += 1
            else:
                pool.wait(arrivals)
                queue.append(arrivals)
            arrivals += 1
        elif op == "release" and holders:
            nxt = pool.release()
            if queue:
                assert nxt == queue.pop(0)  # the oldest waiter, and the connection goes with it
                served.append(nxt)
            else:
                assert nxt is None
                holders -= 1
        elif op == "give_up" and queue:
            assert pool.give_up(queue.pop())
        assert pool.in_use == holders <= size
        assert pool.waiting == len(queue)
        assert not queue or holders == size  # nobody waits while a connection is free
    assert served == sorted(served)


# -- lock table ---------------------------------------------------------------------------------------


def test_locks_are_exclusive_per_key_and_granted_in_order_with_waits_and_holds_measured() -> None:
    clock = ManualClock()
    locks: LockTable[int, str] = LockTable(clock)
    assert locks.acquire(1, "a")
    assert locks.acquire(2, "b")  # another key: no contention
    assert not locks.acquire(1, "c")
    clock.advance(0.1)
    assert not locks.acquire(1, "d")
    clock.advance(0.2)
    grant = locks.release(1, "a")
    assert grant is not None
    assert grant.owner == "c"
    assert grant.waited == pytest.approx(0.3)
    assert locks.holder(1) == "c"
    assert locks.waiting(1) == 1
    clock.advance(0.4)
    grant = locks.release(1, "c")
    assert grant is not None
    assert grant.owner == "d"
    assert grant.waited == pytest.approx(0.6)
    assert locks.release(1, "d") is None
    assert locks.release(2, "b") is None
    assert locks.locked == 0
    assert (locks.granted, locks.contended) == (4, 2)
    assert locks.waited == pytest.approx(0.9)
    assert locks.held == pytest.approx(0.3 + 0.4 + 0.0 + 0.7)


def test_releasing_a_lock_one_does_not_hold_is_an_error_and_waiters_can_leave() -> None:
    locks: LockTable[str, str] = LockTable(ManualClock())
    with pytest.raises(RuntimeError, match="does not hold"):
        locks.release("k", "a")
    locks.acquire("k", "a")
    locks.acquire("k", "b")
    with pytest.raises(RuntimeError, match="already"):
        locks.acquire("k", "b")
    assert locks.cancel("k", "b")
    assert not locks.cancel("k", "b")
    assert locks.release("k", "a") is None


@settings(max_examples=200)
@given(ops=st.lists(st.tuples(st.sampled_from(["lock", "unlock"]), st.integers(0, 3)), max_size=200))
def test_a_lock_has_one_holder_and_its_waiters_are_granted_first_come(ops) -> None:
    locks: LockTable[int, int] = LockTable(ManualClock())
    model: dict[int, list[int]] = {}  # key -> [holder, waiters...]
    owner = 0
    for op, key in ops:
        if op == "lock":
            owner += 1
            granted = locks.acquire(key, owner)
            assert granted == (key not in model)
            model.setdefault(key, []).append(owner)
        elif key in model:
            holder = model[key].pop(0)
            grant = locks.release(key, holder)
            if model[key]:
                assert grant is not None
                assert grant.owner == model[key][0]
            else:
                assert grant is None
                del model[key]
        for k, queue in model.items():
            assert locks.holder(k) == queue[0]
            assert locks.waiting(k) == len(queue) - 1
        assert locks.locked == len(model)


# -- replication lag ----------------------------------------------------------------------------------


def test_a_replica_sees_exactly_the_writes_committed_lag_seconds_ago() -> None:
    clock = ManualClock()
    log: ReplicationLog[str] = ReplicationLog(clock)
    for at in (1.0, 2.0, 3.0):
        clock.now = at
        assert log.commit("k") == at
    clock.now = 3.5
    read = log.read("k", lag=1.0)  # sees writes up to t = 2.5: two of three
    assert (read.seen, read.latest, read.staleness, read.stale, read.missed) == (2, 3, 1.0, True, 1)
    assert not log.read("k", lag=0.5).stale
    assert log.read("other", lag=5.0).latest == 0


@settings(max_examples=100)
@given(
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=50),
    lag=st.floats(0, 3),
    horizon=st.floats(3, 10),
)
def test_a_bounded_history_answers_as_the_whole_history_would(gaps, lag, horizon) -> None:
    clock = ManualClock()
    whole: ReplicationLog[int] = ReplicationLog(clock)
    recent: ReplicationLog[int] = ReplicationLog(clock, horizon=horizon)
    for gap in gaps:
        clock.advance(gap)
        assert whole.commit(0) == recent.commit(0)
        assert whole.read(0, lag) == recent.read(0, lag)


def test_stale_reads_of_poisson_writes_through_an_exponential_lag_match_w_m_over_1_plus_w_m() -> None:
    """P(a read misses a committed write) = 1 - E[exp(-w L)] = w m / (1 + w m) for L ~ Exp(mean m)."""
    rng = np.random.default_rng(7)
    clock = ManualClock()
    log: ReplicationLog[int] = ReplicationLog(clock, horizon=10.0)
    write_rate, mean_lag, reads = 2.0, 0.25, 20_000
    writes = np.cumsum(rng.exponential(1 / write_rate, 200_000))
    read_times = np.sort(rng.uniform(10, writes[-1] - 1, reads))
    lags = np.minimum(rng.exponential(mean_lag, reads), 10.0)
    stale, w = 0, 0
    for at, lag in zip(read_times, lags, strict=True):
        while writes[w] <= at:
            clock.now = writes[w]
            log.commit(0)
            w += 1
        clock.now = at
        stale += log.read(0, lag).stale
    expected = write_rate * mean_lag / (1 + write_rate * mean_lag)  # 1/3
    # binomial standard error ~ sqrt(p (1 - p) / n) = 0.0033; allow 4 of them
    assert stale / reads == pytest.approx(expected, abs=4 * math.sqrt(expected * (1 - expected) / reads))


def test_a_replication_log_refuses_time_travel_and_lags_beyond_its_horizon() -> None:
    clock = ManualClock(5.0)
    log: ReplicationLog[int] = ReplicationLog(clock, horizon=1.0)
    log.commit(0)
    clock.now = 4.0
    with pytest.raises(ValueError, match="time order"):
        log.commit(0)
    with pytest.raises(ValueError, match="horizon"):
        log.read(0, 2.0)
    with pytest.raises(ValueError, match="horizon > 0"):
        ReplicationLog(clock, horizon=0.0)
