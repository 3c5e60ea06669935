"""A database seen by its callers: a connection pool, row locks, and read replicas that lag.

Bookkeeping only, as in :mod:`patterns.concurrency`: the runner (the simulator's call nodes, a live
service's driver) does the waiting and the timing, and tells these classes what happened.

- :class:`ConnectionPool`: at most ``max_connections`` connections lent out at once; a borrower that
  finds none free waits in a FIFO queue for at most ``max_wait`` seconds, then gives up (HikariCP's
  ``connectionTimeout``). It is a :class:`patterns.concurrency.Bulkhead` (the permit bookkeeping and
  its FIFO hand-over are the same) plus the clock that measures how long each borrower waited.
- :class:`LockTable`: exclusive locks per key (a row lock), granted first come, first served; a
  release hands the lock straight to the oldest waiter. It measures how long each lock was waited
  for and held: the contention that hot keys and a high share of writes cause.
- :class:`ReplicationLog`: the primary's commits per key, read through a replica that applies them
  ``lag`` seconds late. A read at time ``t`` with lag ``L`` sees exactly the writes committed at or
  before ``t - L``: its staleness is ``L``, and it is *stale* when it misses a write the primary has
  already committed. For a key written as a Poisson stream of rate ``w`` and an independent lag
  ``L``, ``P(stale) = 1 - E[exp(-w L)]`` (``w m / (1 + w m)`` for an exponential lag of mean ``m``).

Invalid configuration raises ``ValueError`` naming the values; releasing what was not taken raises
``RuntimeError``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import OrderedDict, deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from patterns.clock import Clock
from patterns.concurrency import Bulkhead

__all__ = ["ConnectionPool", "LockGrant", "LockTable", "ReplicaRead", "ReplicationLog"]

W = TypeVar("W", bound=Hashable)
K = TypeVar("K", bound=Hashable)


class ConnectionPool(Generic[W]):
    """A client's pool of ``max_connections`` connections with a bounded wait for one.

    The runner's protocol for one query::

        if pool.try_acquire():                 # a connection now
            run()
        else:
            pool.wait(borrower)                # then, after max_wait seconds: if pool.give_up(borrower)
                                               # is True it never got one: fail (pool exhausted)
        ...
        nxt = pool.release()                   # after the query; nxt (if any) now holds the connection

    Borrowers are served in the order they started waiting; a connection passes straight from the
    releaser to the oldest waiter, so a newcomer never jumps the queue. ``waited`` is the total time
    borrowers that got a connection spent waiting for it, ``timed_out`` counts those that gave up.
    """

    __slots__ = ("_bulkhead", "_clock", "_since", "acquired", "max_wait", "timed_out", "waited")

    def __init__(self, max_connections: int, max_wait: float, clock: Clock) -> None:
        if not (math.isfinite(max_wait) and max_wait >= 0):
            raise ValueError(
                f"a connection pool needs a finite max_wait >= 0 (seconds), got max_wait={max_wait!r}"
            )
        if not (
            isinstance(max_connections, int)
            and not isinstance(max_connections, bool)
            and max_connections >= 1
        ):
            raise ValueError(
                "a connection pool needs an integer max_connections >= 1, "
                f"got max_connections={max_connections!r}"
            )
        # Waiters are bounded by time, not by count: the queue may hold every borrower there is.
        self._bulkhead: Bulkhead[W] = Bulkhead(max_connections, max_waiting=2**62)
        self._clock = clock
        self._since: dict[W, float] = {}
        self.max_wait = float(max_wait)
        self.acquired = 0
        self.timed_out = 0
        self.waited = 0.0

    @property
    def max_connections(self) -> int:
        return self._bulkhead.max_concurrent

    @property
    def in_use(self) -> int:
        """Connections lent out now."""
        return self._bulkhead.in_use

    @property
    def waiting(self) -> int:
        """Borrowers waiting for a connection now."""
        return self._bulkhead.waiting

    def try_acquire(self) -> bool:
        """Take a free connection now (True), or say that none is free (False: then :meth:`wait`)."""
        if self._bulkhead.try_enter():
            self.acquired += 1
            return True
        return False

    def wait(self, borrower: W) -> None:
        """Queue ``borrower`` for the next connection given back; the runner gives up after ``max_wait``."""
        self._bulkhead.enqueue(borrower)
        self._since[borrower] = self._clock()

    def release(self) -> W | None:
        """Give a connection back: to the oldest waiter (returned; it holds it now) or to the pool."""
        borrower = self._bulkhead.leave()
        if borrower is not None:
            self.acquired += 1
            self.waited += self._clock() - self._since.pop(borrower)
        return borrower

    def give_up(self, borrower: W) -> bool:
        """``borrower`` stops waiting (``max_wait`` passed). False if it was handed a connection already."""
        if self._bulkhead.cancel(borrower):
            del self._since[borrower]
            self.timed_out += 1
            return True
        return False

    def __repr__(self) -> str:
        return f"ConnectionPool(in_use={self.in_use}/{self.max_connections}, waiting={self.waiting})"


@dataclass(frozen=True, slots=True)
class LockGrant(Generic[W]):
    """A lock handed to ``owner`` after it waited ``waited`` seconds."""

    owner: W
    waited: float


class _Lock:
    __slots__ = ("holder", "since", "waiters")

    def __init__(self, holder: object, since: float) -> None:
        self.holder, self.since = holder, since
        self.waiters: OrderedDict[object, float] = OrderedDict()  # owner -> when it started waiting


class LockTable(Generic[K, W]):
    """Exclusive locks by key, each with a FIFO queue of waiters.

    ``acquire(key, owner)`` grants the lock at once (True) when nobody holds ``key``, else queues
    ``owner`` (False). ``release(key, owner)`` ends ``owner``'s hold and returns the next holder (a
    :class:`LockGrant`) or None. Invariants: at most one holder per key; waiters are granted in the
    order they asked; a key nobody holds has no waiters (so the table holds only keys in use).
    Statistics: ``granted`` and ``contended`` (grants that had to wait), ``waited`` and ``held`` (total
    seconds), per :meth:`release`.
    """

    __slots__ = ("_clock", "_locks", "contended", "granted", "held", "waited")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._locks: dict[K, _Lock] = {}
        self.granted = 0
        self.contended = 0
        self.waited = 0.0
        self.held = 0.0

    def holder(self, key: K) -> W | None:
        lock = self._locks.get(key)
        return None if lock is None else lock.holder  # type: ignore[return-value]

    def waiting(self, key: K) -> int:
        """How many owners wait for ``key`` now."""
        lock = self._locks.get(key)
        return 0 if lock is None else len(lock.waiters)

    @property
    def locked(self) -> int:
        """How many keys are locked now."""
        return len(self._locks)

    def acquire(self, key: K, owner: W) -> bool:
        """Lock ``key`` for ``owner`` now (True), or queue it behind the holder (False)."""
        now = self._clock()
        lock = self._locks.get(key)
        if lock is None:
            self._locks[key] = _Lock(owner, now)
            self.granted += 1
            return True
        if owner is lock.holder or owner in lock.waiters:
            raise RuntimeError(f"{owner!r} already holds or waits for lock {key!r}")
        lock.waiters[owner] = now
        return False

    def release(self, key: K, owner: W) -> LockGrant[W] | None:
        """``owner`` lets go of ``key``: the oldest waiter holds it now (returned), or nobody does."""
        lock = self._locks.get(key)
        if lock is None or lock.holder is not owner:
            raise RuntimeError(f"{owner!r} releases lock {key!r}, which it does not hold")
        now = self._clock()
        self.held += now - lock.since
        if not lock.waiters:
            del self._locks[key]
            return None
        nxt, since = lock.waiters.popitem(last=False)
        lock.holder, lock.since = nxt, now
        self.granted += 1
        self.contended += 1
        self.waited += now - since
        return LockGrant(nxt, now - since)  # type: ignore[arg-type]

    def cancel(self, key: K, owner: W) -> bool:
        """``owner`` stops waiting for ``key``; False if it was not waiting (it may hold it: release)."""
        lock = self._locks.get(key)
        if lock is None or owner not in lock.waiters:
            return False
        del lock.waiters[owner]
        return True


@dataclass(frozen=True, slots=True)
class ReplicaRead:
    """What a read through a lagging replica saw.

    ``seen`` and ``latest`` are the key's version (number of writes) on the replica and on the
    primary; ``staleness`` is how far behind the replica's view is (its lag, seconds); ``stale`` says
    whether it missed a committed write.
    """

    seen: int
    latest: int
    staleness: float

    @property
    def stale(self) -> bool:
        return self.seen < self.latest

    @property
    def missed(self) -> int:
        """Committed writes of the key the read did not see."""
        return self.latest - self.seen


class ReplicationLog(Generic[K]):
    """The primary's commit times per key, and what a replica ``lag`` seconds behind sees of them.

    Commits must come in time order (the clock never goes back). A key's history is kept only as far
    back as ``horizon`` seconds (the longest lag that will be asked about; infinite by default), so a
    long run holds the recent writes only.
    """

    __slots__ = ("_clock", "_commits", "horizon", "writes")

    def __init__(self, clock: Clock, horizon: float = math.inf) -> None:
        if not horizon > 0:
            raise ValueError(f"a replication log needs a horizon > 0 (seconds), got horizon={horizon!r}")
        self._clock = clock
        self._commits: dict[K, tuple[deque[float], list[int]]] = {}  # key -> (times, [dropped count])
        self.horizon = horizon
        self.writes = 0

    def commit(self, key: K) -> int:
        """The primary commits a write of ``key`` now; returns the key's new version."""
        now = self._clock()
        times, dropped = self._commits.setdefault(key, (deque(), [0]))
        if times and now < times[-1]:
            raise ValueError(f"commits must come in time order: {now} after {times[-1]}")
        times.append(now)
        while now - times[0] > self.horizon:
            times.popleft()
            dropped[0] += 1
        self.writes += 1
        return dropped[0] + len(times)

    def version(self, key: K) -> int:
        """Writes of ``key`` committed on the primary so far."""
        entry = self._commits.get(key)
        return 0 if entry is None else entry[1][0] + len(entry[0])

    def read(self, key: K, lag: float) -> ReplicaRead:
        """A read of ``key`` now on a replica ``lag`` seconds behind the primary."""
        if not (math.isfinite(lag) and 0 <= lag <= self.horizon):
            raise ValueError(
                f"a replica's lag must be finite, >= 0 and <= horizon={self.horizon}, got lag={lag!r}"
            )
        latest = self.version(key)
        if latest == 0:
            return ReplicaRead(0, 0, lag)
        times, dropped = self._commits[key]
        seen = dropped[0] + bisect_right(times, self._clock() - lag)  # type: ignore[arg-type]
        return ReplicaRead(seen, latest, lag)
