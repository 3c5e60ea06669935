"""Fault injection in a scenario: the top-level ``faults`` list, one entry per fault, by ``kind``.

Planned faults on one replica:

- ``crash`` (the default kind) / ``stop``: replica ``replica`` of ``service`` dies at ``at`` (no
  deregistration, calls in flight fail) or stops gracefully (deregisters, then stops after
  ``drain``), and restarts after ``restart_after`` if given (see :mod:`simulator.discovery`).

Random crashes:

- ``crashes``: each replica of ``service`` named in ``replicas`` (default: all) alternates
  exponential up times (mean ``mtbf``) and down times (mean ``mttr``); crashes happen between
  ``start`` and ``end`` (default: the whole run), and a repair under way completes. In the long run
  a replica is up ``mtbf / (mtbf + mttr)`` of the time.
- ``chaos_monkey``: every exponential ``interval`` (the mean) between ``start`` and ``end`` it kills
  one replica drawn uniformly among the live replicas of ``services`` (default: every service); the
  victim restarts after ``restart_after``, or stays down when that is omitted.

Degradations in a window, from ``at`` for ``duration`` (omitted: to the end of the run):

- ``latency``: adds ``add`` (a fixed duration or a distribution) either to a ``service`` -- to the
  work of each call that starts service in the window, so it holds the slot (a slow disk, a GC
  pause; a slowed replica stretches it like the rest of the work) -- or to an edge ``from``/``to``
  (``client`` may be ``from``) -- to each one-way hop on the edge in the window: a request hop
  counts when it is sent, a response hop when it would arrive, so a call entirely in the window
  pays ``2 * add`` more.
- ``errors``: a share ``rate`` of calls fail, either at a ``service`` -- the call does its own work
  and answers with an error instead of calling further (span status ``failed``), judged when the
  work ends -- or on an edge -- the call fails at once without reaching the callee (Envoy's abort
  fault): no span at the callee, the caller sees a failure.
- ``slow_replica``: replica ``replica`` of ``service`` works ``slowdown`` times slower (calls that
  start service in the window).
- ``partition``: ``between: [A, B]`` (``client`` may be one side) nothing is delivered in either
  direction, for ``duration`` (required): a request sent, or a response arriving, while the
  partition is up is lost, and the caller sees the failure when the partition heals.
- ``node_failure``: node ``node`` of the scenario's ``nodes`` goes down at ``at``: every replica
  placed on it crashes at once (as ``crash``), and nothing new is placed on it; after
  ``restart_after`` (omitted: never) the node is back and its replicas restart.
- ``brownout``: a degraded dependency: every replica of ``service`` works ``slowdown`` times slower
  and a share ``rate`` of its calls answer with an error, as ``slow_replica`` and service
  ``errors`` would.

Cross-references (unknown services, replicas out of range, edges no route uses) are checked by
:mod:`simulator.topology`; the run-time side is :mod:`simulator.engine.faults`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from simulator.fields import Duration, PositiveDuration, Probability, StrictModel
from simulator.latency import Latency

__all__ = [
    "EDGE_KINDS",
    "FAULT_KINDS",
    "BrownoutFault",
    "ChaosMonkeyFault",
    "CrashesFault",
    "ErrorFault",
    "Fault",
    "LatencyFault",
    "NodeFailureFault",
    "PartitionFault",
    "ReplicaFault",
    "SlowReplicaFault",
    "fault_windows",
]


class ReplicaFault(StrictModel):
    """Replica ``replica`` of ``service`` goes down at ``at`` (crash or graceful stop) and maybe restarts."""

    service: str
    replica: int = Field(ge=0)
    kind: Literal["crash", "stop"] = "crash"
    at: Duration
    restart_after: PositiveDuration | None = None
    drain: Duration = 0.0


class _Window(StrictModel):
    """Faults that start at ``at`` and last ``duration`` (omitted: to the end of the run)."""

    at: Duration = 0.0
    duration: PositiveDuration | None = None

    @property
    def end(self) -> float:
        return float("inf") if self.duration is None else self.at + self.duration


class _Span(StrictModel):
    """Random faults that may strike between ``start`` and ``end`` (omitted: to the end of the run)."""

    start: Duration = 0.0
    end: Duration | None = None

    @model_validator(mode="after")
    def _ordered(self) -> _Span:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end:g}s) must come after start ({self.start:g}s)")
        return self


class CrashesFault(_Span):
    kind: Literal["crashes"]
    service: str
    replicas: list[Annotated[int, Field(ge=0)]] | None = Field(None, min_length=1)
    mtbf: PositiveDuration
    mttr: PositiveDuration


class ChaosMonkeyFault(_Span):
    kind: Literal["chaos_monkey"]
    services: list[str] | None = Field(None, min_length=1)
    interval: PositiveDuration
    restart_after: PositiveDuration | None = None


class _ServiceOrEdge(_Window):
    """A fault on a ``service`` or on the edge ``from`` -> ``to``: exactly one of the two."""

    service: str | None = None
    source: str | None = Field(None, alias="from")
    target: str | None = Field(None, alias="to")

    @model_validator(mode="after")
    def _service_or_edge(self) -> _ServiceOrEdge:
        edge = (self.source, self.target)
        if self.service is not None and edge != (None, None):
            raise ValueError("give either 'service' or an edge 'from'/'to', not both")
        if self.service is None and None in edge:
            raise ValueError("needs either 'service' or both 'from' and 'to' of an edge")
        return self

    @property
    def edge(self) -> tuple[str, str] | None:
        return None if self.source is None or self.target is None else (self.source, self.target)


class LatencyFault(_ServiceOrEdge):
    kind: Literal["latency"]
    add: Latency


class ErrorFault(_ServiceOrEdge):
    kind: Literal["errors"]
    rate: Probability


class SlowReplicaFault(_Window):
    kind: Literal["slow_replica"]
    service: str
    replica: int = Field(ge=0)
    slowdown: float = Field(gt=1, allow_inf_nan=False)


class PartitionFault(_Window):
    kind: Literal["partition"]
    between: list[str] = Field(min_length=2, max_length=2)
    duration: PositiveDuration  # required: the heal time is when callers learn of their lost calls

    @field_validator("between")
    @classmethod
    def _two_sides(cls, between: list[str]) -> list[str]:
        if between[0] == between[1]:
            raise ValueError(f"a partition needs two different sides, got {between[0]!r} twice")
        return between


class BrownoutFault(_Window):
    kind: Literal["brownout"]
    service: str
    slowdown: float = Field(ge=1, allow_inf_nan=False)
    rate: Probability


class NodeFailureFault(StrictModel):
    """Node ``node`` fails at ``at``: every replica on it crashes; it returns after ``restart_after``."""

    kind: Literal["node_failure"]
    node: int = Field(ge=0)
    at: Duration
    restart_after: PositiveDuration | None = None


def kind(value: Any) -> str | None:
    """The kind of a fault, raw or validated: ``crash`` when the key is left out."""
    if isinstance(value, dict):
        return value.get("kind", "crash")
    return getattr(value, "kind", None)


FAULT_KINDS = (
    "crash",
    "stop",
    "crashes",
    "chaos_monkey",
    "latency",
    "errors",
    "slow_replica",
    "partition",
    "brownout",
    "node_failure",
)
EDGE_KINDS = ("latency", "errors")
"""Kinds that apply to a service or to an edge."""

Fault = Annotated[
    Annotated[ReplicaFault, Tag("crash")]
    | Annotated[ReplicaFault, Tag("stop")]
    | Annotated[CrashesFault, Tag("crashes")]
    | Annotated[ChaosMonkeyFault, Tag("chaos_monkey")]
    | Annotated[LatencyFault, Tag("latency")]
    | Annotated[ErrorFault, Tag("errors")]
    | Annotated[SlowReplicaFault, Tag("slow_replica")]
    | Annotated[PartitionFault, Tag("partition")]
    | Annotated[BrownoutFault, Tag("brownout")]
    | Annotated[NodeFailureFault, Tag("node_failure")],
    Discriminator(kind),
]
"""One entry of the scenario's ``faults`` list."""


def fault_windows(faults: list[Fault], horizon: float) -> list[tuple[float, float, str]]:
    """When each scheduled fault is on, as ``(start, end, label)`` clipped to ``horizon``.

    Planned crashes and stops last until their restart (or the horizon); window faults their
    ``duration``; random faults (``crashes``, ``chaos_monkey``) their span. For shading plots.
    """
    windows = []
    for fault in faults:
        if isinstance(fault, ReplicaFault):
            end = fault.at + fault.drain + (fault.restart_after or math.inf)
            start, label = fault.at, f"{fault.kind} {fault.service}/{fault.replica}"
        elif isinstance(fault, NodeFailureFault):
            end = fault.at + (fault.restart_after or math.inf)
            start, label = fault.at, f"node {fault.node} down"
        elif isinstance(fault, _Span):
            start, end = fault.start, fault.end if fault.end is not None else math.inf
            label = fault.kind.replace("_", " ")
        else:
            start, end = fault.at, fault.end
            target = getattr(fault, "service", None) or " & ".join(getattr(fault, "between", []))
            edge = getattr(fault, "edge", None)
            label = f"{fault.kind.replace('_', ' ')} {'->'.join(edge) if edge else target}"
        if start < horizon:
            windows.append((start, min(end, horizon), label))
    return windows
