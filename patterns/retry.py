"""Retries done safely: how long to wait, whether to retry at all, and when to stop.

Three separate decisions, each a small pure class that the simulator and the live services share:

- **How long to wait** before retry number ``n``: a :class:`Backoff`. The jittered policies follow
  Marc Brooker, "Exponential Backoff And Jitter" (AWS Architecture Blog, 2015), formulas as written
  there, with ``attempt = n``, the number of the retry about to be made (1 for the first retry):

  ========================  ==============================================================
  ``exponential``           ``min(cap, base * 2**attempt)``
  ``full_jitter``           ``uniform(0, min(cap, base * 2**attempt))``
  ``equal_jitter``          ``v = min(cap, base * 2**attempt)``; ``v / 2 + uniform(0, v / 2)``
  ``decorrelated_jitter``   ``min(cap, uniform(base, previous * 3))``, ``previous`` = ``base`` at first
  ========================  ==============================================================

  Exponent convention: the first retry already waits up to ``2 * base`` (not ``base``), exactly the
  blog's ``base * 2 ** attempt`` evaluated at ``attempt = 1``. Full jitter spreads a herd of clients the
  most (mean ``v / 2``); equal jitter keeps at least ``v / 2``; decorrelated jitter walks from the
  previous sleep and stays within ``[base, cap]``.

- **Whether this outcome is worth another try**: :class:`RetryPolicy`, at most ``max_attempts`` tries
  in total, and only for outcomes listed in ``retry_on`` (by default ``"error"`` and ``"timeout"``).

- **Whether the system can afford it**: :class:`RetryBudget` caps retries at a fraction of recent
  requests (Finagle's ``RetryBudget``, Envoy's retry budget), so that retries cannot multiply the load
  of an already overloaded service; :class:`Deadline` bounds the total time across all tries and hands
  the remainder downstream (gRPC-style deadline propagation).

Time comes only from the injected clock; randomness only from the ``random.Random`` passed in (a fresh
unseeded one if none is given, so pass a seeded one wherever runs must be reproducible).
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable

from patterns.clock import Clock

__all__ = [
    "BACKOFFS",
    "Backoff",
    "ConstantBackoff",
    "Deadline",
    "DecorrelatedJitter",
    "EqualJitter",
    "ExponentialBackoff",
    "FullJitter",
    "NoBackoff",
    "RetryBudget",
    "RetryPolicy",
    "make_backoff",
]

_EPS = 1e-9
"""Absolute slack (in retries) in the budget's admission test, absorbing float rounding of ``ratio * n``."""


def _check_attempt(attempt: int) -> None:
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError(f"attempt counts retries from 1, got attempt={attempt!r}")


def _check_previous(previous: float | None) -> None:
    if previous is not None and not (math.isfinite(previous) and previous >= 0):
        raise ValueError(f"previous delay must be None or a finite number >= 0, got previous={previous!r}")


class Backoff(ABC):
    """How long to wait before a retry: ``delay(attempt, previous)`` in seconds.

    ``attempt`` is the number of the retry about to be made (1 for the first retry, i.e. the second
    try); ``previous`` is the delay returned for the retry before (``None`` before the first retry).
    Only :class:`DecorrelatedJitter` uses ``previous``; the others ignore it. The policies here keep no
    state between calls (the caller carries ``previous``), so ``reset()`` is a no-op hook for stateful
    subclasses, called when a new request starts its retry sequence.
    """

    __slots__ = ()

    @abstractmethod
    def delay(self, attempt: int, previous: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (>= 1)."""

    def reset(self) -> None:
        """Forget any state carried between retries of one request (nothing, for the policies here)."""
        return None  # a concrete no-op, not an abstract method: stateless policies need not override it


class NoBackoff(Backoff):
    """Retry at once: always 0 seconds. Fine for a different replica; a retry storm against the same one."""

    __slots__ = ()

    def delay(self, attempt: int, previous: float | None = None) -> float:
        _check_attempt(attempt)
        _check_previous(previous)
        return 0.0

    def __repr__(self) -> str:
        return "NoBackoff()"


class ConstantBackoff(Backoff):
    """Always wait ``delay`` seconds: simple, but clients that failed together retry together."""

    __slots__ = ("_delay",)

    def __init__(self, delay: float) -> None:
        if not (math.isfinite(delay) and delay >= 0):
            raise ValueError(f"a constant backoff needs a finite delay >= 0 (seconds), got delay={delay!r}")
        self._delay = float(delay)

    def delay(self, attempt: int, previous: float | None = None) -> float:
        _check_attempt(attempt)
        _check_previous(previous)
        return self._delay

    def __repr__(self) -> str:
        return f"ConstantBackoff(delay={self._delay})"


class _Capped(Backoff):
    """Shared by the exponential family: ``base`` and ``cap`` in seconds, ``0 < base <= cap < inf``."""

    __slots__ = ("_base", "_cap")

    def __init__(self, kind: str, base: float, cap: float) -> None:
        if not (math.isfinite(base) and base > 0 and math.isfinite(cap) and cap >= base):
            raise ValueError(f"{kind} needs finite 0 < base <= cap (seconds), got base={base!r}, cap={cap!r}")
        self._base = float(base)
        self._cap = float(cap)

    @property
    def base(self) -> float:
        return self._base

    @property
    def cap(self) -> float:
        return self._cap

    def _ceiling(self, attempt: int) -> float:
        """``min(cap, base * 2**attempt)`` without overflowing for huge ``attempt``."""
        _check_attempt(attempt)
        try:
            grown = math.ldexp(self._base, attempt)
        except OverflowError:
            return self._cap
        return min(self._cap, grown)


class ExponentialBackoff(_Capped):
    """``min(cap, base * 2**attempt)``: doubling waits, capped, and no jitter (so herds stay in step)."""

    __slots__ = ()

    def __init__(self, base: float, cap: float) -> None:
        super().__init__("an exponential backoff", base, cap)

    def delay(self, attempt: int, previous: float | None = None) -> float:
        _check_previous(previous)
        return self._ceiling(attempt)

    def __repr__(self) -> str:
        return f"ExponentialBackoff(base={self._base}, cap={self._cap})"


class _Jittered(_Capped):
    __slots__ = ("_rng",)

    def __init__(self, kind: str, base: float, cap: float, rng: random.Random | None) -> None:
        super().__init__(kind, base, cap)
        self._rng = random.Random() if rng is None else rng

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base={self._base}, cap={self._cap})"


class FullJitter(_Jittered):
    """``uniform(0, v)`` with ``v = min(cap, base * 2**attempt)``: mean ``v / 2``, anywhere in ``[0, v]``."""

    __slots__ = ()

    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        super().__init__("full jitter", base, cap, rng)

    def delay(self, attempt: int, previous: float | None = None) -> float:
        _check_previous(previous)
        return self._rng.uniform(0.0, self._ceiling(attempt))


class EqualJitter(_Jittered):
    """``v / 2 + uniform(0, v / 2)`` with ``v = min(cap, base * 2**attempt)``: always at least ``v / 2``."""

    __slots__ = ()

    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        super().__init__("equal jitter", base, cap, rng)

    def delay(self, attempt: int, previous: float | None = None) -> float:
        _check_previous(previous)
        half = self._ceiling(attempt) / 2
        return half + self._rng.uniform(0.0, half)


class DecorrelatedJitter(_Jittered):
    """``min(cap, uniform(base, previous * 3))``, with ``previous = base`` before the first retry.

    The next sleep depends on the last one rather than on ``attempt``; the caller passes the previous
    delay back in. Every delay lies in ``[base, cap]``: by induction ``previous >= base``, so the draw is
    at least ``base``, and ``min`` keeps it at most ``cap``. A ``previous`` from elsewhere is first
    clamped into ``[base, cap]`` (a no-op for sequences this class produced), so the bound always holds.
    """

    __slots__ = ()

    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        super().__init__("decorrelated jitter", base, cap, rng)

    def delay(self, attempt: int, previous: float | None = None) -> float:
        _check_attempt(attempt)
        _check_previous(previous)
        last = self._base if previous is None else min(max(previous, self._base), self._cap)
        return min(self._cap, self._rng.uniform(self._base, last * 3))


BACKOFFS: tuple[str, ...] = (
    "none",
    "constant",
    "exponential",
    "full_jitter",
    "equal_jitter",
    "decorrelated_jitter",
)
"""The backoff kinds :func:`make_backoff` knows."""

_JITTERED: dict[str, Callable[[float, float, random.Random | None], Backoff]] = {
    "full_jitter": FullJitter,
    "equal_jitter": EqualJitter,
    "decorrelated_jitter": DecorrelatedJitter,
}


def make_backoff(kind: str, *, base: float, cap: float, rng: random.Random | None = None) -> Backoff:
    """Build a backoff by name (one of :data:`BACKOFFS`).

    ``none`` ignores ``base`` and ``cap``; ``constant`` waits ``base`` every time (``cap`` unused); the
    others take both. ``rng`` is used by the jittered kinds only. Unknown kinds raise ``ValueError``
    listing the known ones.
    """
    if kind not in BACKOFFS:
        raise ValueError(f"unknown backoff kind {kind!r}; known kinds: {', '.join(BACKOFFS)}")
    if kind == "none":
        return NoBackoff()
    if kind == "constant":
        return ConstantBackoff(base)
    if kind == "exponential":
        return ExponentialBackoff(base, cap)
    return _JITTERED[kind](base, cap, rng)


class RetryPolicy:
    """Whether to try again: at most ``max_attempts`` tries in all, and only after a retryable outcome.

    ``should_retry(attempt, outcome)`` is asked after a try fails, with ``attempt`` the number of tries
    made so far (1 after the first) and ``outcome`` a label such as ``"error"``, ``"timeout"`` or
    ``"rejected"``. It says yes iff ``attempt < max_attempts`` and ``outcome in retry_on``. The retry that
    follows is retry number ``attempt``, so its wait is ``backoff.delay(attempt, previous)``.
    ``max_attempts=1`` never retries. Outcomes outside ``retry_on`` (a 4xx, a shed request) are final:
    retrying them only adds load.
    """

    __slots__ = ("backoff", "max_attempts", "retry_on")

    def __init__(
        self,
        max_attempts: int,
        backoff: Backoff,
        retry_on: Iterable[str] = frozenset({"error", "timeout"}),
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(
                f"a retry policy needs an integer max_attempts >= 1, got max_attempts={max_attempts!r}"
            )
        if not isinstance(backoff, Backoff):
            raise ValueError(f"a retry policy needs a Backoff, got backoff={backoff!r}")
        if isinstance(retry_on, str):
            raise ValueError(f"retry_on must be a set of outcome names, not a string: retry_on={retry_on!r}")
        outcomes = frozenset(retry_on)
        if not all(isinstance(o, str) for o in outcomes):
            raise ValueError(f"retry_on must hold outcome names (str), got retry_on={retry_on!r}")
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.retry_on = outcomes

    def should_retry(self, attempt: int, outcome: str) -> bool:
        """True iff another try is allowed after ``attempt`` tries, the last of which ended in ``outcome``."""
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValueError(f"attempt counts tries made so far, from 1, got attempt={attempt!r}")
        return attempt < self.max_attempts and outcome in self.retry_on

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(max_attempts={self.max_attempts}, backoff={self.backoff!r}, "
            f"retry_on={sorted(self.retry_on)})"
        )


class RetryBudget:
    """Retries limited to a fraction of recent requests, plus a small floor: Finagle's ``RetryBudget``.

    Model. Over the trailing window ``(now - window, now]`` the budget holds
    ``ratio * requests + min_per_second * window - retries`` (:meth:`available`). ``record_request()``
    counts an original request (not a retry); ``try_retry()`` admits a retry, and counts it, iff at least
    one retry is available (up to a slack of ``1e-9``), else refuses and changes nothing. This is
    Finagle's design (each request deposits ``ratio``, each retry withdraws 1, deposits and withdrawals
    expire after ``window`` = its ``ttl``, and ``min_per_second * window`` is its reserve), with an exact
    sliding window (timestamps in deques) instead of Finagle's ten time slices. Envoy's
    ``retry_budget`` bounds retries by a percentage of *active* requests instead; the idea is the same.

    Property. At each admitted retry at time ``s``: retries in ``(s - window, s]``, itself included, are
    at most ``ratio * requests in (s - window, s] + min_per_second * window``. For an arbitrary window
    ``(a, a + window]`` the requests that paid for its retries may have arrived up to ``window`` earlier,
    so the bound there reads: retries in ``(a, a + window]`` <= ``ratio * requests in (a - window,
    a + window] + min_per_second * window`` (proof: with ``s`` the last retry in the window,
    ``(a, s]`` lies in ``(s - window, s]``, whose requests lie in ``(a - window, a + window]``). Counting
    only the window's own requests no causal budget can promise: 100 requests followed, just before they
    expire, by ``100 * ratio`` retries fill a window that holds none of the requests. The constant beyond
    ``ratio * requests + floor`` is 0 (plus the ``1e-9`` slack).

    Memory is one timestamp per request and per retry in the last ``window`` seconds.
    """

    __slots__ = ("_clock", "_min_per_second", "_ratio", "_requests", "_retries", "_window")

    def __init__(self, ratio: float, min_per_second: float, window: float, clock: Clock) -> None:
        if not (math.isfinite(ratio) and ratio >= 0):
            raise ValueError(f"a retry budget needs a finite ratio >= 0, got ratio={ratio!r}")
        if not (math.isfinite(min_per_second) and min_per_second >= 0):
            raise ValueError(
                f"a retry budget needs a finite min_per_second >= 0, got min_per_second={min_per_second!r}"
            )
        if not (math.isfinite(window) and window > 0):
            raise ValueError(f"a retry budget needs a finite window > 0 (seconds), got window={window!r}")
        self._ratio = float(ratio)
        self._min_per_second = float(min_per_second)
        self._window = float(window)
        self._clock = clock
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()

    @property
    def ratio(self) -> float:
        return self._ratio

    @property
    def min_per_second(self) -> float:
        return self._min_per_second

    @property
    def window(self) -> float:
        return self._window

    def _expire(self, now: float) -> None:
        window = self._window
        for stamps in (self._requests, self._retries):
            while stamps and now - stamps[0] >= window:
                stamps.popleft()

    def _available(self, now: float) -> float:
        self._expire(now)
        return self._ratio * len(self._requests) + self._min_per_second * self._window - len(self._retries)

    def record_request(self) -> None:
        """Count one original request (not a retry): it earns ``ratio`` retries for ``window`` seconds."""
        now = self._clock()
        self._expire(now)
        self._requests.append(now)

    def try_retry(self) -> bool:
        """Spend one retry and return True if the budget allows one now; else return False."""
        now = self._clock()
        if self._available(now) >= 1 - _EPS:
            self._retries.append(now)
            return True
        return False

    def available(self) -> float:
        """Retries the budget could still grant now (a retry needs >= 1); negative once requests expire
        faster than the retries they paid for."""
        return self._available(self._clock())

    def __repr__(self) -> str:
        return (
            f"RetryBudget(ratio={self._ratio}, min_per_second={self._min_per_second}, window={self._window})"
        )


class Deadline:
    """An overall time budget for a request and all its retries, passed on to the calls it makes.

    Created with ``budget`` seconds from ``clock()`` now; expires at that instant. ``remaining()`` is
    the time left (never negative), ``expired()`` whether none is left, and ``child(timeout)`` the
    timeout for the next try or downstream call: the per-try ``timeout`` if one is given, but never more
    than what remains. Sending ``child(...)`` downstream (as gRPC sends ``grpc-timeout``) makes every
    hop give up when the caller would: no work continues for an answer nobody waits for.
    ``budget=math.inf`` means no overall deadline.
    """

    __slots__ = ("_clock", "_expires")

    def __init__(self, clock: Clock, budget: float) -> None:
        if not budget >= 0:  # also refuses NaN
            raise ValueError(f"a deadline needs a budget >= 0 (seconds), got budget={budget!r}")
        self._clock = clock
        self._expires = clock() + budget

    @property
    def expires_at(self) -> float:
        """The clock reading at which the deadline passes."""
        return self._expires

    def remaining(self) -> float:
        """Seconds left, 0.0 once expired."""
        return max(0.0, self._expires - self._clock())

    def expired(self) -> bool:
        return self._clock() >= self._expires

    def child(self, timeout: float | None = None) -> float:
        """The timeout to give the next try: ``min(timeout, remaining())``, or ``remaining()`` if None."""
        if timeout is not None and not timeout > 0:  # also refuses NaN
            raise ValueError(f"a per-try timeout must be None or > 0 (seconds), got timeout={timeout!r}")
        remaining = self.remaining()
        return remaining if timeout is None else min(timeout, remaining)

    def __repr__(self) -> str:
        return f"Deadline(expires_at={self._expires})"
