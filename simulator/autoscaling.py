"""Autoscaling in a scenario: a service's ``autoscaling`` block, and the rule object it builds.

The rules themselves live in :mod:`patterns.autoscaling` (the code a live supervisor would run);
this module is the schema -- one model per ``policy`` -- and :func:`build_autoscaler`. The control
loop that drives them is :mod:`simulator.engine.scaling`.

```yaml
services:
  api:
    replicas: 2                      # replicas at t = 0 (within [min, max])
    startup_time: 30s                # or a distribution: a new replica gets no traffic until then
    price_per_replica_hour: 0.10     # cost of a replica from its start until it stops
    autoscaling:
      policy: hpa                    # hpa | target_tracking | step | queue | scheduled | vertical
      metric: utilization            # utilization | concurrency | rps | queue_length | backlog
      target: 0.6
      min: 2
      max: 20
      sync_period: 15s
      tolerance: 0.1
      stabilization: {up: 0s, down: 300s}
      policies: {up: [{pods: 4, period: 60s}], down: [{percent: 50, period: 60s}], select: max}
      schedule: [{at: 8h, min: 10, max: 20}, {at: 20h, min: 2, max: 20}]   # any policy
      schedule_period: 24h
```

Metrics, measured by the control loop over the last sync period (:mod:`simulator.engine.scaling`):
``utilization`` (busy slots / slots of the ready replicas, time-averaged), ``concurrency`` (calls
in service, time-averaged, plus calls waiting now, per replica), ``rps`` (calls arriving per second
per replica), ``queue_length`` (calls waiting now; per replica for every policy but ``queue``,
which takes the total backlog, as KEDA does), ``backlog`` (messages of a broker's queue, or a consumer
group's lag, published and not yet settled now: ready plus unacknowledged; the total for ``queue``,
per replica otherwise). Per-replica figures count a replica still starting as idle, which is what
Kubernetes assumes of a pod that is not ready yet.

KEDA-style scaling of consumers (``metric: backlog``) reads the backlog of ``channel``: a queue's
name, or ``topic:group`` for a consumer group. Left out, it is the channel the service itself
consumes, which must then be exactly one (:func:`simulator.messaging.scaled_channel`)::

    shipping:
      autoscaling: {policy: queue, metric: backlog, channel: order-placed, target: 20, min: 0, max: 10}

Replicas the scaler starts subscribe to the channel when they are ready; a draining replica stops
taking deliveries at once and finishes (and acknowledges) those it holds. With ``metric: backlog``
the ``queue`` policy may have ``min: 0``: the broker keeps the messages while no consumer runs, and
the first replica starts when the backlog rises above ``activation``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from patterns.autoscaling import (
    Autoscaler,
    HorizontalPodAutoscaler,
    QueueLengthScaler,
    ScalingPolicy,
    ScheduledScaling,
    ScheduleEntry,
    Step,
    StepScaling,
    TargetTracking,
    VerticalScaler,
)
from patterns.clock import Clock
from simulator.fields import Duration, PositiveDuration, StrictModel

__all__ = [
    "METRICS",
    "AutoscalingConfig",
    "HpaConfig",
    "QueueConfig",
    "ScheduledConfig",
    "StepConfig",
    "TargetTrackingConfig",
    "VerticalConfig",
    "build_autoscaler",
]

METRICS = ("utilization", "concurrency", "rps", "queue_length", "backlog")
Metric = Literal["utilization", "concurrency", "rps", "queue_length", "backlog"]
_Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class ScheduleItem(StrictModel):
    """From ``at`` on (within each ``schedule_period`` if given) keep between ``min`` and ``max`` replicas."""

    at: Duration
    min: int = Field(ge=0)
    max: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> ScheduleItem:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class _Base(StrictModel):
    metric: Metric = "utilization"
    channel: str | None = None
    min: int = Field(1, ge=1, le=100_000)
    max: int = Field(10, ge=1, le=100_000)
    sync_period: PositiveDuration = 15.0
    schedule: list[ScheduleItem] = Field(default_factory=list)
    schedule_period: PositiveDuration | None = None

    @model_validator(mode="after")
    def _bounds(self) -> _Base:
        if self.channel is not None and self.metric != "backlog":
            raise ValueError(
                f"'channel' names the queue or topic:group whose backlog is the metric; "
                f"it needs metric: backlog, not metric: {self.metric}"
            )
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        if self.schedule_period is not None:
            late = [item.at for item in self.schedule if item.at >= self.schedule_period]
            if late:
                raise ValueError(
                    f"a schedule entry at {late[0]:g}s lies outside "
                    f"schedule_period ({self.schedule_period:g}s)"
                )
        return self

    def rule(self, clock: Clock) -> Autoscaler:
        raise NotImplementedError


class Stabilization(StrictModel):
    up: Duration = 0.0
    down: Duration = 300.0


class RateLimit(StrictModel):
    """At most ``pods`` replicas or ``percent`` percent per ``period`` (exactly one of the two)."""

    pods: int | None = Field(None, ge=1)
    percent: _Positive | None = None
    period: PositiveDuration = 15.0

    @model_validator(mode="after")
    def _one(self) -> RateLimit:
        if (self.pods is None) == (self.percent is None):
            raise ValueError("a scaling policy needs exactly one of 'pods' or 'percent'")
        return self

    def policy(self) -> ScalingPolicy:
        if self.pods is not None:
            return ScalingPolicy("pods", self.pods, self.period)
        return ScalingPolicy("percent", self.percent or 0.0, self.period)


class RateLimits(StrictModel):
    up: list[RateLimit] = Field(default_factory=list)
    down: list[RateLimit] = Field(default_factory=list)
    select: Literal["max", "min"] = "max"


class HpaConfig(_Base):
    """The Kubernetes HPA on one metric (:class:`patterns.autoscaling.HorizontalPodAutoscaler`)."""

    policy: Literal["hpa"]
    target: _Positive
    tolerance: float = Field(0.1, ge=0, allow_inf_nan=False)
    stabilization: Stabilization = Field(default_factory=Stabilization)
    policies: RateLimits = Field(default_factory=RateLimits)

    def rule(self, clock: Clock) -> Autoscaler:
        return HorizontalPodAutoscaler(
            self.target,
            self.min,
            self.max,
            clock,
            tolerance=self.tolerance,
            scale_up_window=self.stabilization.up,
            scale_down_window=self.stabilization.down,
            scale_up=tuple(limit.policy() for limit in self.policies.up),
            scale_down=tuple(limit.policy() for limit in self.policies.down),
            select=self.policies.select,
        )


class Cooldown(StrictModel):
    out: Duration = 0.0
    scale_in: Duration = Field(300.0, alias="in")


class TargetTrackingConfig(_Base):
    """AWS target tracking (:class:`patterns.autoscaling.TargetTracking`)."""

    policy: Literal["target_tracking"]
    target: _Positive
    cooldown: Cooldown = Field(default_factory=Cooldown)

    def rule(self, clock: Clock) -> Autoscaler:
        return TargetTracking(
            self.target,
            self.min,
            self.max,
            clock,
            scale_out_cooldown=self.cooldown.out,
            scale_in_cooldown=self.cooldown.scale_in,
        )


class StepItem(StrictModel):
    lower: float | None = None
    upper: float | None = None
    adjustment: float


class StepConfig(_Base):
    """AWS step scaling (:class:`patterns.autoscaling.StepScaling`)."""

    policy: Literal["step"]
    steps: list[StepItem] = Field(min_length=1)
    adjustment: Literal["change", "percent", "exact"] = "change"
    cooldown: Duration = 60.0

    def rule(self, clock: Clock) -> Autoscaler:
        steps = tuple(Step(s.lower, s.upper, s.adjustment) for s in self.steps)
        return StepScaling(steps, self.min, self.max, clock, kind=self.adjustment, cooldown=self.cooldown)

    @model_validator(mode="after")
    def _valid_steps(self) -> StepConfig:
        try:
            self.rule(lambda: 0.0)
        except ValueError as error:
            raise ValueError(str(error)) from None
        return self


class QueueConfig(_Base):
    """KEDA-style scaling on a backlog (:class:`patterns.autoscaling.QueueLengthScaler`).

    ``min`` may be 0 only with ``metric: backlog``: the broker's queue keeps the messages while no
    consumer exists; calls waiting at a service (``queue_length``) would be refused instead.
    """

    policy: Literal["queue"]
    metric: Metric = "queue_length"
    min: int = Field(1, ge=0, le=100_000)
    target: _Positive
    activation: float = Field(0.0, ge=0, allow_inf_nan=False)
    cooldown: Duration = 300.0
    tolerance: float = Field(0.1, ge=0, allow_inf_nan=False)
    stabilization: Stabilization = Field(default_factory=Stabilization)

    @model_validator(mode="after")
    def _zero_needs_a_broker(self) -> QueueConfig:
        if self.min == 0 and self.metric != "backlog":
            raise ValueError(
                "min: 0 needs metric: backlog (a broker keeps the messages while no replica runs); "
                f"with metric: {self.metric} calls would be refused"
            )
        return self

    def rule(self, clock: Clock) -> Autoscaler:
        return QueueLengthScaler(
            self.target,
            self.min,
            self.max,
            clock,
            activation=self.activation,
            cooldown=self.cooldown,
            tolerance=self.tolerance,
            scale_down_window=self.stabilization.down,
        )


class ScheduledConfig(_Base):
    """Only a schedule: the count is kept within the bounds in force (``min``/``max`` before the first)."""

    policy: Literal["scheduled"]
    schedule: list[ScheduleItem] = Field(min_length=1)

    def rule(self, clock: Clock) -> Autoscaler:
        return _Hold()


class _Hold:
    def desired(self, current: int, metric: float) -> int:
        return current


class VerticalConfig(_Base):
    """Size replicas (slots each) to keep their utilization at ``target``.

    The rule is :class:`patterns.autoscaling.VerticalScaler`.

    A new size applies to replicas started from then on; the control loop replaces the running ones
    (a rolling restart: every replica gets a successor of the new size, and is drained when one
    becomes ready). The number of replicas stays the service's ``replicas``.
    """

    policy: Literal["vertical"]
    metric: Literal["utilization"] = "utilization"
    target: _Positive
    min_size: int = Field(1, ge=1)
    max_size: int = Field(64, ge=1)
    tolerance: float = Field(0.1, ge=0, allow_inf_nan=False)
    cooldown: Duration = 300.0

    @model_validator(mode="after")
    def _sizes(self) -> VerticalConfig:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) is above max_size ({self.max_size})")
        if self.schedule:
            raise ValueError("a schedule bounds the number of replicas; the vertical policy keeps it fixed")
        return self

    def rule(self, clock: Clock) -> Autoscaler:
        return VerticalScaler(
            self.target, self.min_size, self.max_size, clock, tolerance=self.tolerance, cooldown=self.cooldown
        )


AutoscalingConfig = Annotated[
    HpaConfig | TargetTrackingConfig | StepConfig | QueueConfig | ScheduledConfig | VerticalConfig,
    Field(discriminator="policy"),
]


def build_autoscaler(config: AutoscalingConfig, clock: Clock) -> Autoscaler:
    """The :mod:`patterns.autoscaling` rule of ``config``, wrapped in its schedule if it has one."""
    rule = config.rule(clock)
    if not config.schedule or isinstance(config, VerticalConfig):
        return rule
    entries = tuple(ScheduleEntry(item.at, item.min, item.max) for item in config.schedule)
    return ScheduledScaling(
        entries, (config.min, config.max), clock, inner=rule, period=config.schedule_period
    )
