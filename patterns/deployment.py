"""Releasing a new version: rolling updates, blue-green switches and canaries with automated analysis.

Everything here decides; the runner (the simulator's deployment controller, a real orchestrator)
starts, drains and routes. Three strategies, as Kubernetes, Argo Rollouts and Spinnaker run them:

- **Rolling update** (:func:`rolling_step`, Kubernetes' ``RollingUpdate`` deployment strategy):
  replace old replicas by new ones a few at a time. ``max_surge`` bounds how many replicas may exist
  above the desired count (extra capacity paid during the rollout), ``max_unavailable`` how many may
  be missing from it (capacity lost during the rollout). Both zero would deadlock (nothing may be
  added, nothing removed), so at least one must be positive, as Kubernetes requires.
- **Blue-green**: start a full set of new (green) replicas beside the old (blue) ones, switch all
  traffic at once when green is ready, then drain blue; rolling back is switching back. Costs double
  capacity for the switch; no mixed versions ever serve together.
- **Canary** (:class:`CanaryPlan` and :class:`CanaryAnalysis`, Argo Rollouts / Kayenta style): send
  a growing share of traffic (``steps``) to the new version; after each step's pause, compare the
  canary with the baseline (the old version serving the same traffic at the same time) and promote
  to the next step or roll back. A bad release then reaches at most the share of the step at which
  the analysis caught it.

The analysis (:meth:`CanaryAnalysis.judge`) is deliberately simple enough to explain in class:

- not enough calls on either side (``min_calls``) -> keep waiting (``continue``);
- error rate: roll back when the canary's error rate exceeds the baseline's by more than
  ``max_error_increase`` (absolute) *and* a one-sided two-proportion z-test says the difference is
  significant at ``confidence`` -- the first guards against flagging tiny harmless differences, the
  second against noise on small samples;
- latency: roll back when the canary's mean latency is more than ``max_latency_ratio`` times the
  baseline's;
- otherwise promote.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from statistics import NormalDist
from typing import NamedTuple

__all__ = [
    "CanaryAnalysis",
    "CanaryPlan",
    "CanaryStep",
    "Verdict",
    "VersionStats",
    "rolling_step",
]


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def rolling_step(
    desired: int, max_surge: int, max_unavailable: int, old: int, new_ready: int, new_starting: int
) -> tuple[int, int]:
    """One reconcile step of a rolling update: how many new replicas to start and old ones to drain.

    ``old`` counts old replicas still serving (not draining), ``new_ready`` new ones serving,
    ``new_starting`` new ones not ready yet. As Kubernetes' deployment controller: start new ones up
    to ``desired + max_surge`` replicas in total (serving or starting) and at most ``desired`` new
    ones; drain old ones while at least ``desired - max_unavailable`` would still serve. Returns
    ``(start, drain)``; ``(0, 0)`` when the rollout is done (``old == 0``, ``new_ready == desired``)
    or must wait for new replicas to become ready.
    """
    for name, value in (
        ("desired", desired),
        ("max_surge", max_surge),
        ("max_unavailable", max_unavailable),
        ("old", old),
        ("new_ready", new_ready),
        ("new_starting", new_starting),
    ):
        if not (_is_int(value) and value >= 0):
            raise ValueError(f"{name} must be an integer >= 0, got {name}={value!r}")
    if desired < 1:
        raise ValueError(f"a rolling update needs desired >= 1, got desired={desired}")
    if max_surge == 0 and max_unavailable == 0:
        raise ValueError("max_surge and max_unavailable cannot both be 0: the rollout could never progress")
    new = new_ready + new_starting
    start = max(0, min(desired + max_surge - (old + new), desired - new))
    drain = max(0, min(old, old + new_ready - (desired - max_unavailable)))
    return start, drain


class Verdict(StrEnum):
    """What the canary analysis decides after a step."""

    CONTINUE = "continue"
    PROMOTE = "promote"
    ROLLBACK = "rollback"


class VersionStats(NamedTuple):
    """Calls served by one version during an analysis interval: count, failures, mean latency (s)."""

    calls: int
    errors: int
    mean_latency: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else math.nan


@dataclass(frozen=True, slots=True)
class CanaryStep:
    """Send ``weight`` (0..1] of the traffic to the canary for ``pause`` seconds, then analyse."""

    weight: float
    pause: float

    def __post_init__(self) -> None:
        if not (0 < self.weight <= 1):
            raise ValueError(f"a canary step's weight must be in (0, 1], got weight={self.weight!r}")
        if not (math.isfinite(self.pause) and self.pause > 0):
            raise ValueError(
                f"a canary step's pause must be a finite number of seconds > 0, got {self.pause!r}"
            )


@dataclass(frozen=True, slots=True)
class CanaryPlan:
    """The steps of a canary release, with weights that never decrease and end at full traffic."""

    steps: tuple[CanaryStep, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a canary plan needs at least one step")
        weights = [step.weight for step in self.steps]
        if any(b < a for a, b in pairwise(weights)):
            raise ValueError(f"canary weights must not decrease, got {weights}")
        if weights[-1] != 1:
            raise ValueError(f"the last canary step must send all traffic (weight 1), got {weights[-1]}")


@dataclass(frozen=True, slots=True)
class CanaryAnalysis:
    """Compare a canary with its baseline (see the module docstring for the rules)."""

    min_calls: int = 100
    max_error_increase: float = 0.01
    confidence: float = 0.99
    max_latency_ratio: float = 1.5

    def __post_init__(self) -> None:
        if not (_is_int(self.min_calls) and self.min_calls >= 1):
            raise ValueError(f"min_calls must be an integer >= 1, got min_calls={self.min_calls!r}")
        if not (0 <= self.max_error_increase < 1):
            raise ValueError(f"max_error_increase must be in [0, 1), got {self.max_error_increase!r}")
        if not (0.5 <= self.confidence < 1):
            raise ValueError(f"confidence must be in [0.5, 1), got {self.confidence!r}")
        if not (math.isfinite(self.max_latency_ratio) and self.max_latency_ratio >= 1):
            raise ValueError(
                f"max_latency_ratio must be a finite number >= 1, got {self.max_latency_ratio!r}"
            )

    def errors_worse(self, baseline: VersionStats, canary: VersionStats) -> bool:
        """Is the canary's error rate higher by more than the allowance, significantly?"""
        increase = canary.error_rate - baseline.error_rate
        if increase <= self.max_error_increase:
            return False
        pooled = (baseline.errors + canary.errors) / (baseline.calls + canary.calls)
        spread = math.sqrt(pooled * (1 - pooled) * (1 / baseline.calls + 1 / canary.calls))
        if spread == 0:
            return True  # no errors on one side and all on the other: nothing to doubt
        return increase / spread > NormalDist().inv_cdf(self.confidence)

    def judge(self, baseline: VersionStats, canary: VersionStats) -> Verdict:
        """The decision after an analysis interval."""
        if baseline.calls < self.min_calls or canary.calls < self.min_calls:
            return Verdict.CONTINUE
        if self.errors_worse(baseline, canary):
            return Verdict.ROLLBACK
        if canary.mean_latency > self.max_latency_ratio * baseline.mean_latency:
            return Verdict.ROLLBACK
        return Verdict.PROMOTE
