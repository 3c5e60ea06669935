"""How a service spreads calls over its replicas: the scenario's ``balancer`` and its policy object.

The policy itself lives in :mod:`patterns.balancing` (the same code the live gateway runs); this
module is only the scenario schema -- one model per policy, selected by ``policy:``, each with the
options that policy understands -- and :func:`build_policy`, which hands the options, a random
stream and the simulation clock to :func:`patterns.balancing.make_policy`. ``outlier_ejection``
wraps any policy in Envoy-style ejection of replicas that keep failing.
"""

from __future__ import annotations

import random
from typing import Annotated, Literal

from pydantic import Field

from patterns.balancing import OutlierEjection, Policy, make_policy
from patterns.clock import Clock
from simulator.fields import Duration, PositiveDuration, Probability, StrictModel

__all__ = ["AFFINITY", "Balancer", "OutlierEjectionConfig", "build_policy"]

AFFINITY = ("client", "key")
"""Request attributes a consistent-hash balancer can keep sessions on."""


class OutlierEjectionConfig(StrictModel):
    """Eject a replica after ``consecutive_errors`` failures for ``base_ejection`` x times ejected."""

    consecutive_errors: int = Field(5, ge=1)
    base_ejection: Duration = 30.0
    max_ejected_fraction: Probability = 0.5


class _Policy(StrictModel):
    outlier_ejection: OutlierEjectionConfig | None = None

    def options(self) -> dict[str, object]:
        """The keyword options :func:`make_policy` takes for this policy."""
        return self.model_dump(exclude={"policy", "outlier_ejection", "affinity"})


class RoundRobinConfig(_Policy):
    policy: Literal["round_robin"] = "round_robin"


class RandomConfig(_Policy):
    policy: Literal["random"]


class WeightedRoundRobinConfig(_Policy):
    policy: Literal["weighted_round_robin"]
    weights: dict[int, Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(min_length=1)


class LeastOutstandingConfig(_Policy):
    policy: Literal["least_outstanding"]


class PowerOfTwoConfig(_Policy):
    policy: Literal["p2c"]
    choices: int = Field(2, ge=1)


class PeakEwmaConfig(_Policy):
    policy: Literal["peak_ewma"]
    decay: PositiveDuration = 10.0
    default_latency: Duration = 0.0


class ConsistentHashConfig(_Policy):
    policy: Literal["consistent_hash"]
    affinity: Literal["client", "key"] = "client"
    replicas_per_instance: int = Field(100, ge=1, le=10_000)
    load_factor: float | None = Field(1.25, gt=1)


Balancer = Annotated[
    RoundRobinConfig
    | RandomConfig
    | WeightedRoundRobinConfig
    | LeastOutstandingConfig
    | PowerOfTwoConfig
    | PeakEwmaConfig
    | ConsistentHashConfig,
    Field(discriminator="policy"),
]


def build_policy(config: Balancer, rng: random.Random, clock: Clock) -> Policy:
    """The :mod:`patterns.balancing` policy a service's ``balancer`` describes, ready to pick replicas."""
    policy = make_policy(config.policy, rng=rng, clock=clock, **config.options())
    ejection = config.outlier_ejection
    if ejection is None:
        return policy
    return OutlierEjection(
        policy,
        clock,
        consecutive_errors=ejection.consecutive_errors,
        base_ejection=ejection.base_ejection,
        max_ejected_fraction=ejection.max_ejected_fraction,
    )
