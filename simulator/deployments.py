"""Releases in a scenario: versions of a service's code, and how a new one is rolled out.

A service runs ``version`` (``v1`` unless said otherwise); ``versions`` says how other versions
behave -- a bad release is a version with an ``error_rate`` (a share of its calls fail after doing
their work) or a ``slowdown`` (its work takes that many times longer). ``deployments`` (top level)
rolls a service out to another version at a time ``at``, with one of the strategies of
:mod:`patterns.deployment`:

- ``rolling``: new replicas start (``max_surge`` above the desired count at most) and old ones drain
  (``max_unavailable`` below it at most), a few at a time, until every replica runs the new version;
- ``blue_green``: a full set of new replicas starts beside the old ones; when all are ready, traffic
  switches at once and the old set drains;
- ``canary``: some new replicas serve a growing share of the traffic (``steps`` of ``weight`` and
  ``pause``); after each pause the canary's error rate and latency over the pause are compared with
  the baseline's (``analysis``) and the release is promoted to the next step or rolled back.

Rolling updates reconcile every ``sync_period`` and whenever a new replica becomes ready. Canary
sets are sized to their weight, as Argo Rollouts does: at a step of weight ``w`` the canary has
``max(canary_replicas, ceil(w * desired))`` replicas, and the traffic moves to ``w`` once they are
ready; a step of weight 1 finishes with a rolling replacement of the baseline (``max_surge``,
``max_unavailable``). One deployment per service; while it runs, the service's autoscaler (if any)
holds its count.

Replicas may be placed on ``nodes`` (a count and a CPU capacity each; a service's replicas each
request ``cpu``), spread across the nodes or packed onto the fewest (:mod:`patterns.scheduling`); a
replica started at run time that fits nowhere stays pending until capacity frees; a
``node_failure`` fault takes every replica on a node down at once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from patterns.deployment import CanaryAnalysis, CanaryPlan, CanaryStep
from simulator.fields import Duration, PositiveDuration, Probability, StrictModel

__all__ = [
    "AnalysisSettings",
    "CanaryStepSettings",
    "Deployment",
    "Nodes",
    "VersionProfile",
    "build_analysis",
    "build_plan",
]


class VersionProfile(StrictModel):
    """How a version's replicas behave: a share ``error_rate`` of their calls answer with an error
    after doing their work; their work takes ``slowdown`` times as long."""

    error_rate: Probability = 0.0
    slowdown: float = Field(1.0, gt=0, allow_inf_nan=False)


class CanaryStepSettings(StrictModel):
    """Send ``weight`` of the traffic to the canary for ``pause``, then analyse."""

    weight: float = Field(gt=0, le=1)
    pause: PositiveDuration


class AnalysisSettings(StrictModel):
    """When a canary is worse than its baseline (see :class:`patterns.deployment.CanaryAnalysis`)."""

    min_calls: int = Field(100, ge=1)
    max_error_increase: float = Field(0.01, ge=0, lt=1)
    confidence: float = Field(0.99, ge=0.5, lt=1)
    max_latency_ratio: float = Field(1.5, ge=1, allow_inf_nan=False)


class Deployment(StrictModel):
    """Roll ``service`` out to ``version`` from ``at`` on, with ``strategy``."""

    service: str
    version: str
    at: Duration
    strategy: Literal["rolling", "blue_green", "canary"] = "rolling"
    sync_period: PositiveDuration = 1.0
    max_surge: int = Field(1, ge=0)
    max_unavailable: int = Field(0, ge=0)
    canary_replicas: int = Field(1, ge=1)
    steps: list[CanaryStepSettings] = Field(
        default_factory=lambda: [
            CanaryStepSettings(weight=0.1, pause=60.0),
            CanaryStepSettings(weight=0.5, pause=60.0),
            CanaryStepSettings(weight=1.0, pause=30.0),
        ]
    )
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)

    @model_validator(mode="after")
    def _progress_possible(self) -> Deployment:
        if self.strategy == "rolling" and self.max_surge == 0 and self.max_unavailable == 0:
            raise ValueError("max_surge and max_unavailable cannot both be 0: the rollout never progresses")
        if self.strategy == "canary":
            build_plan(self)  # the plan's own checks: weights grow to 1
        return self


class Nodes(StrictModel):
    """``count`` machines of ``cpu`` cores each; replicas placed by ``placement``."""

    count: int = Field(ge=1, le=10_000)
    cpu: float = Field(gt=0, allow_inf_nan=False)
    placement: Literal["spread", "pack"] = "spread"


def build_plan(deployment: Deployment) -> CanaryPlan:
    """The deployment's canary steps as a :class:`patterns.deployment.CanaryPlan` (checked there)."""
    return CanaryPlan(tuple(CanaryStep(step.weight, step.pause) for step in deployment.steps))


def build_analysis(settings: AnalysisSettings) -> CanaryAnalysis:
    """The analysis settings as a :class:`patterns.deployment.CanaryAnalysis`."""
    return CanaryAnalysis(
        settings.min_calls, settings.max_error_increase, settings.confidence, settings.max_latency_ratio
    )
