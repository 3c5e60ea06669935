"""Autoscaling rules: from an observed metric to a desired number of replicas (or a replica size).

Every rule is a small object with an injected clock. A control loop (the simulator's timer, or a
live supervisor) calls ``desired(current, metric)`` every sync period with the replicas it runs now
and the metric it measured over the last period, and then starts or stops replicas to reach the
answer. A rule remembers what it recommended and when it scaled, because stabilization windows and
cooldowns are about the past; it assumes the caller applies what it returns.

* :class:`HorizontalPodAutoscaler` -- the Kubernetes HPA (``pkg/controller/podautoscaler``):
  ``raw = ceil(current * metric / target)``, no change while ``|metric / target - 1| <= tolerance``;
  a scale-down takes the *largest* recommendation of the last ``scale_down_window`` seconds (default
  300) and a scale-up the *smallest* of the last ``scale_up_window`` (default 0), so a dip or a spike
  shorter than the window changes nothing; optional :class:`ScalingPolicy` rate limits (at most N
  replicas or P% per period); the answer always lies in ``[min_replicas, max_replicas]``.
  At a steady per-replica load ``metric = load / current`` the rule settles where
  ``ceil(load / target)`` replicas serve it, within the tolerance band.
* :class:`TargetTracking` -- AWS target tracking: the same proportional rule without a tolerance,
  scale-out at once (after ``scale_out_cooldown``), scale-in only ``scale_in_cooldown`` after the
  last scaling activity.
* :class:`StepScaling` -- AWS step scaling: metric intervals mapped to adjustments (a change in
  replicas, a percent change, or an exact count), then a cooldown.
* :class:`QueueLengthScaler` -- KEDA for consumers: ``ceil(backlog / target_per_replica)`` through an
  HPA (as KEDA feeds its HPA an average-value target), an activation threshold below which the
  consumers are idle, and optional scale to zero after ``cooldown`` of inactivity.
* :class:`ScheduledScaling` -- a list of ``(at, min, max)`` entries, repeating every ``period`` if
  given (a day, a week); it clamps the count an inner rule (or the current count) gives.
* :class:`VerticalScaler` -- more slots per replica: the proportional rule on the per-replica size
  (``concurrency``) instead of the count, with a tolerance and a cooldown, because every change
  costs a restart of every replica.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal, Protocol

from patterns.clock import Clock

__all__ = [
    "Autoscaler",
    "HorizontalPodAutoscaler",
    "QueueLengthScaler",
    "ScalingPolicy",
    "ScheduleEntry",
    "ScheduledScaling",
    "Step",
    "StepScaling",
    "TargetTracking",
    "VerticalScaler",
    "proportional",
]


class Autoscaler(Protocol):
    """What a control loop asks every sync period."""

    def desired(self, current: int, metric: float) -> int:
        """How many replicas to run, given ``current`` replicas and the ``metric`` just measured."""
        ...


def _check_bounds(low: int, high: int) -> None:
    if not (0 <= low <= high):
        raise ValueError(f"need 0 <= min_replicas <= max_replicas, got min={low}, max={high}")


def _check_positive(name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _check_non_negative(name: str, value: float) -> None:
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def proportional(current: int, metric: float, target: float) -> int:
    """``ceil(current * metric / target)``: the count that would bring a per-replica metric to target.

    A tiny relative slack keeps float noise (``0.6 / 0.6 * 3 = 3.0000000000000004``) from adding one.
    """
    return math.ceil(current * metric / target * (1 - 1e-12))


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    """At most ``value`` replicas (``kind="pods"``) or ``value`` percent (``"percent"``) per ``period``."""

    kind: Literal["pods", "percent"]
    value: float
    period: float

    def __post_init__(self) -> None:
        if self.kind not in ("pods", "percent"):
            raise ValueError(f"a scaling policy's kind is 'pods' or 'percent', not {self.kind!r}")
        _check_positive("scaling policy value", self.value)
        _check_positive("scaling policy period", self.period)


def _limit(policies: tuple[ScalingPolicy, ...], select: str, base: dict[float, int], up: bool) -> int:
    """The count the policies allow from ``base[period]`` (replicas at the start of each policy's period).

    ``select="max"`` takes the policy that allows the biggest change (Kubernetes' default), ``"min"``
    the smallest.
    """
    limits = []
    for policy in policies:
        start = base[policy.period]
        if policy.kind == "pods":
            limits.append(start + int(policy.value) if up else start - int(policy.value))
        elif up:
            limits.append(math.ceil(start * (1 + policy.value / 100)))
        else:
            limits.append(math.ceil(start * (1 - policy.value / 100)))
    biggest_change = max(limits) if up else min(limits)
    smallest_change = min(limits) if up else max(limits)
    return biggest_change if select == "max" else smallest_change


@dataclass(slots=True)
class HorizontalPodAutoscaler:
    """The Kubernetes HPA rule for one metric (see the module docstring).

    ``metric`` is the per-replica average the HPA compares with ``target`` (a utilization, requests
    per second per replica, calls in flight per replica). ``scale_up`` / ``scale_down`` are optional
    rate limits; ``select`` picks among several (``"max"``: the most permissive, Kubernetes' default;
    ``"min"``: the most restrictive).
    """

    target: float
    min_replicas: int
    max_replicas: int
    clock: Clock
    tolerance: float = 0.1
    scale_up_window: float = 0.0
    scale_down_window: float = 300.0
    scale_up: tuple[ScalingPolicy, ...] = ()
    scale_down: tuple[ScalingPolicy, ...] = ()
    select: Literal["max", "min"] = "max"
    _recommendations: deque[tuple[float, int]] = field(init=False, default_factory=deque)
    _events: deque[tuple[float, int]] = field(init=False, default_factory=deque)

    def __post_init__(self) -> None:
        _check_positive("target", self.target)
        _check_bounds(self.min_replicas, self.max_replicas)
        _check_non_negative("tolerance", self.tolerance)
        _check_non_negative("scale_up_window", self.scale_up_window)
        _check_non_negative("scale_down_window", self.scale_down_window)
        if self.select not in ("max", "min"):
            raise ValueError(f"select is 'max' or 'min', not {self.select!r}")

    def raw(self, current: int, metric: float) -> int:
        """The unstabilized recommendation: proportional outside the tolerance band, else ``current``."""
        if current == 0 or not math.isfinite(metric):
            return current
        if abs(metric / self.target - 1) <= self.tolerance:
            return current
        return proportional(current, metric, self.target)

    def desired(self, current: int, metric: float) -> int:
        now = self.clock()
        recommendation = self.raw(current, metric)
        history = self._recommendations
        history.append((now, recommendation))
        longest = max(self.scale_up_window, self.scale_down_window)
        while history and history[0][0] < now - longest:
            history.popleft()
        # Kubernetes' stabilizeRecommendationWithBehaviors: a scale-up goes no higher than the lowest
        # recommendation of the up window, a scale-down no lower than the highest of the down window.
        up = min(r for t, r in history if t >= now - self.scale_up_window)
        down = max(r for t, r in history if t >= now - self.scale_down_window)
        stabilized = current
        if stabilized < up:
            stabilized = up
        if stabilized > down:
            stabilized = down
        limited = self._rate_limited(current, stabilized, now)
        desired = _clamp(limited, self.min_replicas, self.max_replicas)
        if desired != current:
            self._events.append((now, desired - current))
        return desired

    def _rate_limited(self, current: int, wanted: int, now: float) -> int:
        policies = self.scale_up if wanted > current else self.scale_down if wanted < current else ()
        if not policies:
            return wanted
        events = self._events
        longest = max(p.period for p in (*self.scale_up, *self.scale_down))
        while events and events[0][0] <= now - longest:
            events.popleft()
        up = wanted > current
        base = {}
        for policy in policies:
            # Replicas at the start of the period: undo the changes of this direction made since.
            moved = sum(c for t, c in events if t > now - policy.period and (c > 0) == up)
            base[policy.period] = current - moved
        bound = _limit(policies, self.select, base, up)
        return min(wanted, max(bound, current)) if up else max(wanted, min(bound, current))


@dataclass(slots=True)
class TargetTracking:
    """AWS target tracking: keep a per-replica metric at ``target``; out fast, in after a cooldown.

    Scale-out happens as soon as the proportional count is above the current one (and
    ``scale_out_cooldown`` has passed since the last scale-out); scale-in only when
    ``scale_in_cooldown`` has passed since the last scaling activity of either kind.
    """

    target: float
    min_replicas: int
    max_replicas: int
    clock: Clock
    scale_out_cooldown: float = 0.0
    scale_in_cooldown: float = 300.0
    _last_out: float = field(init=False, default=-math.inf)
    _last_any: float = field(init=False, default=-math.inf)

    def __post_init__(self) -> None:
        _check_positive("target", self.target)
        _check_bounds(self.min_replicas, self.max_replicas)
        _check_non_negative("scale_out_cooldown", self.scale_out_cooldown)
        _check_non_negative("scale_in_cooldown", self.scale_in_cooldown)

    def desired(self, current: int, metric: float) -> int:
        now = self.clock()
        wanted = current
        if current > 0 and math.isfinite(metric):
            wanted = proportional(current, metric, self.target)
        wanted = _clamp(wanted, self.min_replicas, self.max_replicas)
        if wanted > current and now - self._last_out >= self.scale_out_cooldown:
            self._last_out = self._last_any = now
            return wanted
        if wanted < current and now - self._last_any >= self.scale_in_cooldown:
            self._last_any = now
            return wanted
        return _clamp(current, self.min_replicas, self.max_replicas)


@dataclass(frozen=True, slots=True)
class Step:
    """Metric in ``[lower, upper)`` (``None``: unbounded) -> ``adjustment``."""

    lower: float | None
    upper: float | None
    adjustment: float


@dataclass(slots=True)
class StepScaling:
    """AWS step scaling: the step the metric falls in says how to adjust; then wait ``cooldown``.

    ``kind`` is ``"change"`` (add ``adjustment`` replicas; negative removes), ``"percent"`` (change by
    ``adjustment`` percent of the current count, at least one replica either way) or ``"exact"``
    (run ``adjustment`` replicas). A metric in no step changes nothing. Steps must not overlap.
    """

    steps: tuple[Step, ...]
    min_replicas: int
    max_replicas: int
    clock: Clock
    kind: Literal["change", "percent", "exact"] = "change"
    cooldown: float = 60.0
    _last: float = field(init=False, default=-math.inf)

    def __post_init__(self) -> None:
        _check_bounds(self.min_replicas, self.max_replicas)
        _check_non_negative("cooldown", self.cooldown)
        if self.kind not in ("change", "percent", "exact"):
            raise ValueError(f"kind is 'change', 'percent' or 'exact', not {self.kind!r}")
        if not self.steps:
            raise ValueError("step scaling needs at least one step")
        spans = sorted(
            (-math.inf if s.lower is None else s.lower, math.inf if s.upper is None else s.upper)
            for s in self.steps
        )
        for low, high in spans:
            if not low < high:
                raise ValueError(f"a step's lower bound must be below its upper bound, got [{low}, {high})")
        for (_, high), (low, _) in pairwise(spans):
            if low < high:
                raise ValueError(f"steps overlap: one ends at {high}, the next starts at {low}")

    def step_for(self, metric: float) -> Step | None:
        for step in self.steps:
            low = -math.inf if step.lower is None else step.lower
            high = math.inf if step.upper is None else step.upper
            if low <= metric < high:
                return step
        return None

    def desired(self, current: int, metric: float) -> int:
        now = self.clock()
        step = self.step_for(metric)
        if step is None or now - self._last < self.cooldown:
            return _clamp(current, self.min_replicas, self.max_replicas)
        if self.kind == "exact":
            wanted = int(step.adjustment)
        elif self.kind == "change":
            wanted = current + int(step.adjustment)
        else:
            change = current * step.adjustment / 100
            wanted = current + (math.ceil(change) if change > 0 else math.floor(change) if change < 0 else 0)
        wanted = _clamp(wanted, self.min_replicas, self.max_replicas)
        if wanted != current:
            self._last = now
        return wanted


@dataclass(slots=True)
class QueueLengthScaler:
    """KEDA-style consumers: ``ceil(backlog / target_per_replica)`` replicas while the backlog is active.

    ``metric`` is the *total* backlog (messages or calls waiting). Above ``activation`` the count
    comes from an HPA whose per-replica metric is ``backlog / current`` (so it is exactly
    ``ceil(backlog / target_per_replica)`` outside the tolerance band, stabilized as an HPA is). At
    or below ``activation`` nothing changes -- except that with ``min_replicas == 0`` the consumers
    go to zero after ``cooldown`` seconds without activity. From zero, an active backlog starts
    ``max(1, ceil(backlog / target_per_replica))``.
    """

    target_per_replica: float
    min_replicas: int
    max_replicas: int
    clock: Clock
    activation: float = 0.0
    cooldown: float = 300.0
    tolerance: float = 0.1
    scale_down_window: float = 300.0
    _hpa: HorizontalPodAutoscaler = field(init=False)
    _last_active: float = field(init=False, default=-math.inf)

    def __post_init__(self) -> None:
        _check_positive("target_per_replica", self.target_per_replica)
        _check_non_negative("activation", self.activation)
        _check_non_negative("cooldown", self.cooldown)
        self._hpa = HorizontalPodAutoscaler(
            self.target_per_replica,
            max(1, self.min_replicas),
            max(1, self.max_replicas),
            self.clock,
            tolerance=self.tolerance,
            scale_down_window=self.scale_down_window,
        )

    def desired(self, current: int, metric: float) -> int:
        now = self.clock()
        if metric > self.activation:
            self._last_active = now
            if current == 0:
                wanted = max(1, proportional(1, metric, self.target_per_replica))
                return _clamp(wanted, max(1, self.min_replicas), self.max_replicas)
            return self._hpa.desired(current, metric / current)
        if self.min_replicas == 0 and current > 0 and now - self._last_active >= self.cooldown:
            return 0
        if current == 0:
            return 0
        return self._hpa.desired(current, metric / current)


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """From ``at`` seconds on (within each period, if the schedule repeats), keep ``[min, max]`` replicas."""

    at: float
    min_replicas: int
    max_replicas: int

    def __post_init__(self) -> None:
        _check_non_negative("at", self.at)
        _check_bounds(self.min_replicas, self.max_replicas)


@dataclass(slots=True)
class ScheduledScaling:
    """Scheduled actions: bounds that change at set times, clamping an inner rule's answer.

    The entry in force is the last one whose ``at`` has passed (time taken modulo ``period`` when the
    schedule repeats, so a daily schedule is ``period=86400``). Before the first entry the bounds
    are ``default``. Without an ``inner`` rule the current count is clamped to the bounds.
    """

    entries: tuple[ScheduleEntry, ...]
    default: tuple[int, int]
    clock: Clock
    inner: Autoscaler | None = None
    period: float | None = None

    def __post_init__(self) -> None:
        _check_bounds(*self.default)
        if self.period is not None:
            _check_positive("period", self.period)
            late = [e.at for e in self.entries if e.at >= self.period]
            if late:
                raise ValueError(f"an entry at {late[0]} s lies outside the period of {self.period} s")
        self.entries = tuple(sorted(self.entries, key=lambda e: e.at))

    def bounds(self) -> tuple[int, int]:
        """``(min, max)`` in force now."""
        now = self.clock()
        if self.period is not None:
            now %= self.period
        low, high = self.default
        for entry in self.entries:
            if entry.at <= now:
                low, high = entry.min_replicas, entry.max_replicas
        return low, high

    def desired(self, current: int, metric: float) -> int:
        wanted = current if self.inner is None else self.inner.desired(current, metric)
        return _clamp(wanted, *self.bounds())


@dataclass(slots=True)
class VerticalScaler:
    """Size each replica (its ``concurrency``: workers or threads) to keep its utilization at ``target``.

    ``desired(size, utilization)`` is the proportional rule on the size, with a tolerance band and a
    ``cooldown`` between changes: a new size takes effect only when replicas restart, so changing it
    often would keep the service restarting.
    """

    target: float
    min_size: int
    max_size: int
    clock: Clock
    tolerance: float = 0.1
    cooldown: float = 300.0
    _last: float = field(init=False, default=-math.inf)

    def __post_init__(self) -> None:
        _check_positive("target", self.target)
        if not 1 <= self.min_size <= self.max_size:
            raise ValueError(f"need 1 <= min_size <= max_size, got min={self.min_size}, max={self.max_size}")
        _check_non_negative("tolerance", self.tolerance)
        _check_non_negative("cooldown", self.cooldown)

    def desired(self, current: int, metric: float) -> int:
        now = self.clock()
        if not math.isfinite(metric) or abs(metric / self.target - 1) <= self.tolerance:
            return current
        if now - self._last < self.cooldown:
            return current
        wanted = _clamp(proportional(current, metric, self.target), self.min_size, self.max_size)
        if wanted != current:
            self._last = now
        return wanted
