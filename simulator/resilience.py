"""Resilience policies in a scenario: what a caller does about a slow or failing call, and what a
service does about more work than it can take.

**Client side, per call edge** (``resilience:`` at the top level). ``defaults`` apply to every call
edge -- every (caller, callee) pair a route calls, the workload's ``client`` included -- and each
entry of ``edges`` (``from``, ``to``) overrides them key by key: a key written on the edge replaces the
default's whole block (``retry: null`` switches a default retry off for that edge), as Envoy's
route-level retry policy replaces the virtual host's. The policies, each from :mod:`patterns`:

- ``timeout``: per try; the caller gives up on a try after it (the callee is not told: its work goes
  on and is wasted, which is how a retry storm amplifies load);
- ``deadline``: for the whole call, retries included, set by the first edge of the request that has
  one and propagated downstream (gRPC-style): later tries and nested calls get at most what is
  left, and services drop queued calls whose request's deadline has passed instead of serving them;
- ``retry``: :class:`patterns.retry.RetryPolicy` with a backoff (``none``, ``constant``,
  ``exponential``, ``full_jitter``, ``equal_jitter``, ``decorrelated_jitter``) and an optional
  ``budget`` (:class:`patterns.retry.RetryBudget`: retries at most ``ratio`` of recent calls);
- ``breaker``: :class:`patterns.breaker.CircuitBreaker` (resilience4j's model and names);
- ``bulkhead``: :class:`patterns.concurrency.Bulkhead`, at most ``max_concurrent`` calls in flight on
  the edge and ``max_waiting`` waiting up to ``max_wait`` for a permit;
- ``hedge``: :class:`patterns.hedging.HedgePolicy`, a backup try after a fixed ``delay`` or a latency
  ``percentile``; the first answer wins and the losers still queued are cancelled;
- ``fallback``: answer anyway when the call finally fails (``default``, ``cached``: the last good
  answer for the request's key, or ``degraded``), which turns the request's outcome into
  ``fallback`` instead of a failure.

A call through an edge takes a bulkhead permit, then a breaker permit, then is sent; each try is one
row of the run's ``tries`` records.

**Server side, per service**: ``shedding`` (:class:`patterns.concurrency.QueueLengthShedder` or the
CoDel-style :class:`patterns.concurrency.LatencyShedder`) and ``concurrency_limit`` (an adaptive
:class:`patterns.concurrency.LimitedGate` with an AIMD or gradient limit) refuse work at a replica's
door, before it queues: cheap, early rejections instead of timeouts after a long wait.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import Field, model_validator

from patterns.breaker import BreakerConfig, CircuitBreaker, Transition
from patterns.cache import TTLCache
from patterns.clock import Clock
from patterns.concurrency import (
    AIMDLimit,
    Bulkhead,
    GradientLimit,
    LatencyShedder,
    LimitedGate,
    QueueLengthShedder,
)
from patterns.hedging import CachedFallback, DefaultValue, DegradedResponse, Fallback, HedgePolicy
from patterns.retry import BACKOFFS, RetryBudget, RetryPolicy, make_backoff
from simulator.fields import Duration, PositiveDuration, StrictModel

__all__ = [
    "RETRYABLE",
    "BreakerSettings",
    "BudgetSettings",
    "BulkheadSettings",
    "ConcurrencyLimitSettings",
    "EdgePolicy",
    "EdgeSettings",
    "FallbackSettings",
    "HedgeSettings",
    "ResilienceConfig",
    "RetrySettings",
    "SheddingSettings",
    "build_breaker",
    "build_bulkhead",
    "build_fallback",
    "build_gate",
    "build_hedge",
    "build_retry",
    "build_shedder",
]

RETRYABLE = (
    "error",
    "timeout",
    "rejected",
    "shed",
    "concurrency_limited",
    "limited",
    "breaker_open",
    "bulkhead_full",
)
"""Outcomes of a try that ``retry.on`` may list (see :mod:`simulator.records` for their meaning)."""

Percent = Annotated[float, Field(ge=1, le=100)]


class BudgetSettings(StrictModel):
    """Retries (or hedges) at most ``ratio`` of the calls of the last ``window``, plus a floor."""

    ratio: float = Field(0.2, ge=0, allow_inf_nan=False)
    min_per_second: float = Field(10.0, ge=0, allow_inf_nan=False)
    window: PositiveDuration = 10.0


class RetrySettings(StrictModel):
    """At most ``max_attempts`` tries in all, waiting ``backoff`` between them, on the outcomes in ``on``."""

    max_attempts: int = Field(3, ge=1, le=1000)
    backoff: Literal[BACKOFFS] = "exponential"  # type: ignore[valid-type]
    base: PositiveDuration = 0.025
    cap: PositiveDuration = 2.0
    on: list[Literal[RETRYABLE]] = Field(default_factory=lambda: ["error", "timeout"])  # type: ignore[valid-type]
    budget: BudgetSettings | None = None


class BreakerSettings(StrictModel):
    """resilience4j's circuit breaker settings (see :mod:`patterns.breaker` for each trade-off)."""

    window: Literal["count", "time"] = "count"
    window_size: int = Field(100, ge=1)
    minimum_calls: int = Field(20, ge=1)
    failure_rate_threshold: Percent = 50.0
    slow_call_rate_threshold: Percent = 100.0
    slow_call_duration: PositiveDuration = 60.0
    wait_in_open: PositiveDuration = 10.0
    permitted_calls_in_half_open: int = Field(10, ge=1)


class BulkheadSettings(StrictModel):
    max_concurrent: int = Field(ge=1)
    max_waiting: int = Field(0, ge=0)
    max_wait: Duration = 0.0

    @model_validator(mode="after")
    def _wait_needs_room(self) -> BulkheadSettings:
        if self.max_wait > 0 and self.max_waiting == 0:
            raise ValueError("'max_wait' needs 'max_waiting' above 0: nobody may wait otherwise")
        return self


class HedgeSettings(StrictModel):
    """A backup try after ``delay``, or after the ``percentile`` (e.g. 95) of recent first tries."""

    delay: Duration | None = None
    percentile: float | None = Field(None, gt=0, lt=100)
    max_hedges: int = Field(1, ge=1, le=100)
    sample_size: int = Field(1000, ge=1)
    budget: BudgetSettings | None = None

    @model_validator(mode="after")
    def _one_trigger(self) -> HedgeSettings:
        if (self.delay is None) == (self.percentile is None):
            raise ValueError("a hedge needs exactly one of 'delay' or 'percentile'")
        return self


class FallbackSettings(StrictModel):
    """``default`` and ``degraded`` always answer; ``cached`` only for keys answered within ``ttl``."""

    kind: Literal["default", "cached", "degraded"] = "default"
    ttl: PositiveDuration = 60.0
    capacity: int = Field(100_000, ge=1)


class EdgePolicy(StrictModel):
    """The resilience policies of a call edge (every key optional: nothing set means a plain call)."""

    timeout: PositiveDuration | None = None
    deadline: PositiveDuration | None = None
    retry: RetrySettings | None = None
    breaker: BreakerSettings | None = None
    bulkhead: BulkheadSettings | None = None
    hedge: HedgeSettings | None = None
    fallback: FallbackSettings | None = None

    @property
    def active(self) -> bool:
        return any(getattr(self, name) is not None for name in type(self).model_fields)


class EdgeSettings(EdgePolicy):
    """Overrides for the calls from ``from`` to ``to``."""

    source: str = Field(alias="from")
    target: str = Field(alias="to")


class ResilienceConfig(StrictModel):
    defaults: EdgePolicy = Field(default_factory=EdgePolicy)
    edges: list[EdgeSettings] = Field(default_factory=list)

    def policy(self, caller: str, callee: str) -> EdgePolicy:
        """The effective policy of the edge: the defaults, with each key the edge sets replaced."""
        policy = self.defaults
        for edge in self.edges:
            if edge.source == caller and edge.target == callee:
                keys = edge.model_fields_set & set(EdgePolicy.model_fields)
                update = {key: getattr(edge, key) for key in keys}
                policy = policy.model_copy(update=update)
        return policy


class SheddingSettings(StrictModel):
    """Refuse a call at the replica's door: ``queue_length`` (queue already that long) or ``latency``
    (queueing delay above ``target`` for at least ``interval``: CoDel's standing queue)."""

    queue_length: int | None = Field(None, ge=0)
    target: Duration | None = None
    interval: PositiveDuration = 0.1

    @model_validator(mode="after")
    def _one_rule(self) -> SheddingSettings:
        if (self.queue_length is None) == (self.target is None):
            raise ValueError("shedding needs exactly one of 'queue_length' or 'target' (a queueing delay)")
        return self


class ConcurrencyLimitSettings(StrictModel):
    """An adaptive limit on calls in a replica (waiting or served), Netflix concurrency-limits style."""

    kind: Literal["aimd", "gradient"] = "gradient"
    initial: int = Field(20, ge=1)
    minimum: int = Field(1, ge=1)
    maximum: int = Field(1000, ge=1)
    backoff_ratio: float = Field(0.9, gt=0, lt=1)
    timeout: PositiveDuration = 5.0
    smoothing: float = Field(0.2, gt=0, le=1)
    tolerance: float = Field(1.5, ge=1, allow_inf_nan=False)
    long_window: int = Field(600, ge=1)
    queue_size: float = Field(4.0, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> ConcurrencyLimitSettings:
        if not self.minimum <= self.initial <= self.maximum:
            raise ValueError(
                f"need minimum <= initial <= maximum, got {self.minimum}, {self.initial}, {self.maximum}"
            )
        return self


def build_retry(
    settings: RetrySettings, rng: random.Random, clock: Clock
) -> tuple[RetryPolicy, RetryBudget | None]:
    backoff = make_backoff(settings.backoff, base=settings.base, cap=settings.cap, rng=rng)
    budget = settings.budget
    return RetryPolicy(settings.max_attempts, backoff, settings.on), (
        None if budget is None else RetryBudget(budget.ratio, budget.min_per_second, budget.window, clock)
    )


def build_breaker(
    settings: BreakerSettings, clock: Clock, on_transition: Callable[[Transition], None]
) -> CircuitBreaker:
    config = BreakerConfig(
        window_type=settings.window,
        window_size=settings.window_size,
        minimum_calls=settings.minimum_calls,
        failure_rate_threshold=settings.failure_rate_threshold,
        slow_call_rate_threshold=settings.slow_call_rate_threshold,
        slow_call_duration=settings.slow_call_duration,
        wait_in_open=settings.wait_in_open,
        permitted_calls_in_half_open=settings.permitted_calls_in_half_open,
    )
    return CircuitBreaker(config, clock=clock, on_transition=on_transition)


def build_bulkhead(settings: BulkheadSettings) -> Bulkhead:
    return Bulkhead(settings.max_concurrent, settings.max_waiting)


def build_hedge(settings: HedgeSettings, clock: Clock) -> HedgePolicy:
    budget = settings.budget
    return HedgePolicy(
        delay=settings.delay,
        percentile=None if settings.percentile is None else settings.percentile / 100,
        sample_size=settings.sample_size,
        max_hedges=settings.max_hedges,
        budget_ratio=None if budget is None else budget.ratio,
        min_per_second=0.0 if budget is None else budget.min_per_second,
        window=10.0 if budget is None else budget.window,
        clock=clock,
    )


def build_fallback(settings: FallbackSettings, clock: Clock) -> Fallback:
    if settings.kind == "cached":
        return CachedFallback(TTLCache(settings.capacity, settings.ttl, clock))
    if settings.kind == "degraded":
        return DegradedResponse(None)
    return DefaultValue(None)


def build_shedder(settings: SheddingSettings, clock: Clock) -> QueueLengthShedder | LatencyShedder:
    if settings.queue_length is not None:
        return QueueLengthShedder(settings.queue_length)
    assert settings.target is not None
    return LatencyShedder(settings.target, settings.interval, clock)


def build_gate(settings: ConcurrencyLimitSettings) -> LimitedGate:
    if settings.kind == "aimd":
        limit = AIMDLimit(
            settings.initial, settings.minimum, settings.maximum, settings.backoff_ratio, settings.timeout
        )
    else:
        limit = GradientLimit(
            settings.initial,
            settings.minimum,
            settings.maximum,
            settings.smoothing,
            settings.tolerance,
            settings.long_window,
            settings.queue_size,
        )
    return LimitedGate(limit)
