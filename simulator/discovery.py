"""Service registry and discovery in a scenario, and the crashes that make them matter.

A service with a ``discovery`` block registers its replicas in a registry (the logic of
:class:`patterns.registry.Registry`): each live replica heartbeats every ``heartbeat_interval``; the
registry sweeps every ``sweep_interval`` and evicts replicas silent for longer than ``ttl``. Callers
learn the replicas either from the registry directly (``server_side``, as a load balancer in front
of the service would) or from a client-side cache refreshed every ``refresh_interval``
(``client_side``, as Eureka or Consul clients do). With a ``health_check`` the registry also probes
each replica and stops handing out one that fails ``failures`` probes in a row (Consul's checks),
which catches a crash sooner than the heartbeat TTL when the interval is short. Between a crash
and the moment callers stop choosing the dead replica -- the stale window, about ``ttl`` plus a
sweep, plus up to a refresh on the client side -- calls sent to it are refused.

``faults`` (top level, :mod:`simulator.faults`) schedules what happens to replicas: ``crash`` (the
process dies: no deregistration, calls in flight fail) or ``stop`` (graceful: deregister first, then
stop after ``drain``), each optionally followed by a restart; random ``crashes`` and a
``chaos_monkey`` crash and restart replicas too. A replica that restarts registers again.
:class:`ReplicaFault` is defined there and re-exported here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from simulator.faults import ReplicaFault
from simulator.fields import PositiveDuration, StrictModel

__all__ = ["DiscoveryConfig", "HealthCheckConfig", "ReplicaFault"]


class HealthCheckConfig(StrictModel):
    """The registry probes each replica every ``interval``; ``failures`` in a row make it critical."""

    interval: PositiveDuration = 5.0
    failures: int = Field(2, ge=1)
    successes: int = Field(1, ge=1)


class DiscoveryConfig(StrictModel):
    mode: Literal["server_side", "client_side"] = "server_side"
    heartbeat_interval: PositiveDuration = 5.0
    ttl: PositiveDuration = 15.0
    sweep_interval: PositiveDuration = 1.0
    refresh_interval: PositiveDuration = 30.0
    health_check: HealthCheckConfig | None = None
