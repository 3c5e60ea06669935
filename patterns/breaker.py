"""Circuit breaker: stop calling a dependency that is failing or slow, and probe it before trusting it again.

The model is resilience4j's ``CircuitBreaker``: a three-state machine fed by the outcomes of the calls it
let through.

``CLOSED``
    Every call is permitted. Outcomes go into a sliding window. Once the window holds at least
    ``minimum_calls`` calls, after each outcome the breaker computes the failure rate
    (``100 * failed / calls``) and the slow-call rate (``100 * slow / calls``, a call is slow when its
    duration is ``>= slow_call_duration``, whether it succeeded or failed). If either rate is
    ``>=`` its threshold the breaker goes ``OPEN``.
``OPEN``
    Every call is refused, until ``wait_in_open`` seconds have passed since it opened: the first
    ``try_acquire`` at or after ``opened_at + wait_in_open`` moves it to ``HALF_OPEN`` (lazily, as
    resilience4j without ``automaticTransitionFromOpenToHalfOpen``: :attr:`CircuitBreaker.state` reads
    ``OPEN`` until someone asks for a permit).
``HALF_OPEN``
    At most ``permitted_calls_in_half_open`` calls are permitted in this half-open period (a permit is
    spent when granted, not returned when the call ends), the rest are refused. Their outcomes go into
    a fresh count window of that size; when it is full the rates are evaluated once: both below their
    thresholds -> ``CLOSED`` with an empty window, otherwise -> ``OPEN`` again for ``wait_in_open``.

As in resilience4j, an outcome is recorded in whatever state the breaker is in when it arrives: a slow
call permitted while ``CLOSED`` may finish while ``OPEN`` (recorded, no transition) or ``HALF_OPEN``
(counts towards the trial). Outcomes are reported by the caller with the call's duration, so the
breaker never measures time itself; the clock only places outcomes in the time window and times the
open state.

The windows, both O(1) per outcome:

- ``window_type="count"``: the last ``window_size`` outcomes, a ring buffer with running totals. As in
  resilience4j, a ``minimum_calls`` above ``window_size`` is clamped to ``window_size`` (the window
  could never hold more).
- ``window_type="time"``: the outcomes of the last ``window_size`` seconds, in per-second buckets
  (``floor(t)``) with running totals; the window is the current second plus the ``window_size - 1``
  before it, so an outcome at ``t`` counts until ``floor(t) + window_size``: between ``window_size - 1``
  and ``window_size`` seconds. Buckets that fall out are cleared as the clock passes them (amortised
  O(1); at most ``window_size`` per call).

The parameters and their trade-offs:

- ``window_size``: longer windows smooth noise but react slowly and keep tripping on old failures after
  recovery; shorter ones react fast but open on a small unlucky run.
- ``minimum_calls``: the smallest sample the rates are trusted on. Low values open on a couple of
  early failures (3 failures of 4 calls is 75 %); high values let a dead dependency burn that many
  calls first, and a time window at low traffic may never reach it (the breaker then never opens).
- ``failure_rate_threshold`` / ``slow_call_rate_threshold`` (percent, 1-100): low values shed load at
  the first sign of trouble but flap on background errors; 100 means "only when every call fails /
  is slow". ``slow_call_duration`` should sit above the healthy tail latency (p99), or normal calls
  count as slow; below the caller's timeout, or timeouts only ever show up as failures.
- ``wait_in_open``: how long the dependency gets to recover before being probed. Short waits probe a
  still-broken dependency often (each probe is a failed request); long waits keep refusing after it
  has recovered.
- ``permitted_calls_in_half_open``: the trial sample. One call decides on a single coin flip; many
  calls give a better estimate but send more traffic to a dependency that may still be down, and the
  breaker stays half-open (refusing the rest) until all of them report back.

Transitions are appended to :attr:`CircuitBreaker.events` (a bounded deque of :class:`Transition`) and
passed to the optional ``on_transition`` listener, for the simulator's time series of breaker states.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, NamedTuple

from patterns.clock import Clock

__all__ = [
    "BreakerConfig",
    "BreakerMetrics",
    "BreakerState",
    "CircuitBreaker",
    "Transition",
]


class BreakerState(StrEnum):
    """The three states of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Transition(NamedTuple):
    """One state change: at clock time ``time`` the breaker went from ``from_state`` to ``to_state``."""

    time: float
    from_state: BreakerState
    to_state: BreakerState


class BreakerMetrics(NamedTuple):
    """A snapshot of the window the current state evaluates.

    ``failure_rate`` and ``slow_call_rate`` are percentages, or NaN while the window holds fewer calls
    than the state needs to evaluate (``minimum_calls`` when closed, ``permitted_calls_in_half_open``
    when half-open): resilience4j reports -1 there. ``not_permitted_calls`` counts every refusal since
    the breaker was built.
    """

    state: BreakerState
    failure_rate: float
    slow_call_rate: float
    calls: int
    failed_calls: int
    slow_calls: int
    not_permitted_calls: int


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """A breaker's configuration (resilience4j's defaults); see the module docstring for each trade-off.

    Times are in seconds. Invalid values raise ``ValueError`` naming the field and the value.
    """

    window_type: Literal["count", "time"] = "count"
    window_size: int = 100  # calls ("count") or whole seconds ("time")
    minimum_calls: int = 100
    failure_rate_threshold: float = 50.0  # percent
    slow_call_rate_threshold: float = 100.0  # percent
    slow_call_duration: float = 60.0  # seconds; a call at least this long is slow
    wait_in_open: float = 60.0  # seconds
    permitted_calls_in_half_open: int = 10

    def __post_init__(self) -> None:
        if self.window_type not in ("count", "time"):
            raise ValueError(f"window_type must be 'count' or 'time', got window_type={self.window_type!r}")
        for name in ("window_size", "minimum_calls", "permitted_calls_in_half_open"):
            value = getattr(self, name)
            if not (_is_int(value) and value >= 1):
                raise ValueError(f"{name} must be an integer >= 1, got {name}={value!r}")
        for name in ("failure_rate_threshold", "slow_call_rate_threshold"):
            value = getattr(self, name)
            if not (_is_number(value) and 1 <= value <= 100):
                raise ValueError(f"{name} must be a percentage in [1, 100], got {name}={value!r}")
        for name in ("slow_call_duration", "wait_in_open"):
            value = getattr(self, name)
            if not (_is_number(value) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number of seconds > 0, got {name}={value!r}")


class _CountWindow:
    """The last ``size`` outcomes: a ring of codes (bit 0 failed, bit 1 slow) and running totals."""

    __slots__ = ("_pos", "_ring", "_size", "calls", "failed", "slow")

    def __init__(self, size: int) -> None:
        self._ring = [0] * size
        self._size = size
        self._pos = 0
        self.calls = self.failed = self.slow = 0

    def record(self, failed: bool, slow: bool, now: float) -> None:
        pos = self._pos
        if self.calls == self._size:
            old = self._ring[pos]
            self.failed -= old & 1
            self.slow -= old >> 1
        else:
            self.calls += 1
        self._ring[pos] = failed | (slow << 1)
        self.failed += failed
        self.slow += slow
        pos += 1
        self._pos = 0 if pos == self._size else pos

    def totals(self, now: float) -> tuple[int, int, int]:
        return self.calls, self.failed, self.slow


class _TimeWindow:
    """Outcomes of the last ``size`` seconds: one bucket per whole second ``floor(t)``, running totals."""

    __slots__ = (
        "_bucket_calls",
        "_bucket_failed",
        "_bucket_slow",
        "_head",
        "_size",
        "calls",
        "failed",
        "slow",
    )

    def __init__(self, size: int, now: float) -> None:
        self._size = size
        self._bucket_calls = [0] * size
        self._bucket_failed = [0] * size
        self._bucket_slow = [0] * size
        self._head = math.floor(now)  # the newest second the buckets describe
        self.calls = self.failed = self.slow = 0

    def _advance(self, now: float) -> int:
        """Clear the buckets of seconds that left the window; return the index of the current bucket."""
        second = math.floor(now)
        head = self._head
        if second > head:  # a clock stepping back keeps writing into the newest bucket
            size = self._size
            calls, failed, slow = self._bucket_calls, self._bucket_failed, self._bucket_slow
            for k in range(max(head + 1, second - size + 1), second + 1):
                i = k % size
                if calls[i]:
                    self.calls -= calls[i]
                    self.failed -= failed[i]
                    self.slow -= slow[i]
                    calls[i] = failed[i] = slow[i] = 0
            self._head = head = second
        return head % self._size

    def record(self, failed: bool, slow: bool, now: float) -> None:
        i = self._advance(now)
        self._bucket_calls[i] += 1
        self._bucket_failed[i] += failed
        self._bucket_slow[i] += slow
        self.calls += 1
        self.failed += failed
        self.slow += slow

    def totals(self, now: float) -> tuple[int, int, int]:
        self._advance(now)
        return self.calls, self.failed, self.slow


_CLOSED, _OPEN, _HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class CircuitBreaker:
    """A resilience4j-style circuit breaker on an injected clock (see the module docstring).

    Usage: ``if breaker.try_acquire():`` make the call, then report ``on_success(duration)`` or
    ``on_error(duration)``; otherwise fail fast. Only report outcomes of permitted calls.

    ``max_events`` bounds :attr:`events` (oldest transitions are dropped first); ``on_transition``, if
    given, is called with each :class:`Transition` right after the state changed.
    """

    __slots__ = (
        "_clock",
        "_config",
        "_failure_threshold",
        "_min_calls",
        "_not_permitted",
        "_on_transition",
        "_open_until",
        "_permits",
        "_slow_duration",
        "_slow_threshold",
        "_state",
        "_window",
        "events",
    )

    def __init__(
        self,
        config: BreakerConfig | None = None,
        *,
        clock: Clock,
        max_events: int = 1000,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        if config is None:
            config = BreakerConfig()
        elif not isinstance(config, BreakerConfig):
            raise ValueError(f"config must be a BreakerConfig, got config={config!r}")
        if not callable(clock):
            raise ValueError(f"clock must be a callable returning seconds, got clock={clock!r}")
        if not (_is_int(max_events) and max_events >= 1):
            raise ValueError(f"max_events must be an integer >= 1, got max_events={max_events!r}")
        if on_transition is not None and not callable(on_transition):
            raise ValueError(f"on_transition must be callable or None, got on_transition={on_transition!r}")
        self._config = config
        self._clock = clock
        self._on_transition = on_transition
        self._failure_threshold = float(config.failure_rate_threshold)
        self._slow_threshold = float(config.slow_call_rate_threshold)
        self._slow_duration = float(config.slow_call_duration)
        self._not_permitted = 0
        self._open_until = -math.inf
        self._permits = 0
        self.events: deque[Transition] = deque(maxlen=max_events)
        self._state = _CLOSED
        self._window: _CountWindow | _TimeWindow
        self._min_calls = 0
        self._reset_closed_window(clock())

    @property
    def config(self) -> BreakerConfig:
        return self._config

    @property
    def state(self) -> BreakerState:
        """The current state (``OPEN`` stays ``OPEN`` past its wait until the next ``try_acquire``)."""
        return self._state

    def _reset_closed_window(self, now: float) -> None:
        config = self._config
        if config.window_type == "count":
            self._window = _CountWindow(config.window_size)
            self._min_calls = min(config.minimum_calls, config.window_size)
        else:
            self._window = _TimeWindow(config.window_size, now)
            self._min_calls = config.minimum_calls

    def _transition(self, to: BreakerState, now: float) -> None:
        event = Transition(now, self._state, to)
        self._state = to
        if to is _OPEN:
            self._open_until = now + self._config.wait_in_open
        elif to is _HALF_OPEN:
            permitted = self._config.permitted_calls_in_half_open
            self._window = _CountWindow(permitted)
            self._min_calls = permitted
            self._permits = permitted
        else:
            self._reset_closed_window(now)
        self.events.append(event)
        if self._on_transition is not None:
            self._on_transition(event)

    def try_acquire(self) -> bool:
        """Ask to make a call now: True to go ahead (then report its outcome), False to fail fast."""
        state = self._state
        if state is _CLOSED:
            return True
        if state is _OPEN:
            now = self._clock()
            if now < self._open_until:
                self._not_permitted += 1
                return False
            self._transition(_HALF_OPEN, now)
        if self._permits > 0:
            self._permits -= 1
            return True
        self._not_permitted += 1
        return False

    def on_success(self, duration: float) -> None:
        """Record a permitted call that succeeded after ``duration`` seconds."""
        self._record(False, duration)

    def on_error(self, duration: float) -> None:
        """Record a permitted call that failed after ``duration`` seconds."""
        self._record(True, duration)

    def _record(self, failed: bool, duration: float) -> None:
        if not duration >= 0.0:
            raise ValueError(f"a call's duration must be a number >= 0 (seconds), got duration={duration!r}")
        now = self._clock()
        window = self._window
        window.record(failed, duration >= self._slow_duration, now)
        state = self._state
        if state is _OPEN:
            return
        calls = window.calls
        if calls < self._min_calls:
            return
        if (
            window.failed * 100.0 / calls >= self._failure_threshold
            or window.slow * 100.0 / calls >= self._slow_threshold
        ):
            self._transition(_OPEN, now)
        elif state is _HALF_OPEN:
            self._transition(_CLOSED, now)

    def metrics(self) -> BreakerMetrics:
        """The current window's rates and counts (rates NaN below the number of calls needed to evaluate)."""
        calls, failed, slow = self._window.totals(self._clock())
        if calls >= self._min_calls and calls > 0:
            failure_rate, slow_rate = failed * 100.0 / calls, slow * 100.0 / calls
        else:
            failure_rate = slow_rate = math.nan
        return BreakerMetrics(self._state, failure_rate, slow_rate, calls, failed, slow, self._not_permitted)

    def __repr__(self) -> str:
        return f"CircuitBreaker(state={self._state.value}, config={self._config!r})"
