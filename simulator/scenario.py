"""The scenario schema: an architecture, its traffic and the run settings, as one validated object.

A scenario names **services** (replicas x concurrency slots, a service-time distribution, an
optional bounded waiting room per replica), **routes** (call graphs: what one request does),
**workloads** (who sends requests down which route: open-loop arrival processes or closed-loop users
with think time), the **network** (one-way latency per call, by default and per edge) and the run
settings (duration, warm-up, seed, replications); optionally ``faults`` to inject
(:mod:`simulator.faults`), ``resilience`` policies on call edges (:mod:`simulator.resilience`), and
message ``brokers`` with their ``consumers`` (:mod:`simulator.messaging`).
``variants`` maps a variant's name to the fields
it overrides, so alternatives can be compared on the same traffic.

Route steps are one of:

- ``call: SERVICE`` -- visit the service: wait for a slot, do its work (the service's service time
  or the call's own ``service_time``), then make the nested ``calls`` while still holding the slot,
  as a thread-per-request server does; on a ``kind: database`` service, ``op`` (``read``,
  ``write``, ``append``, ``load``) makes it a query through the caller's connection pool, row
  locks and read replicas, or an event-store operation (:mod:`simulator.database`);
- ``sequence: [steps]`` -- one after another; ``parallel: [steps]`` -- fan out, join on all;
- ``branch: [{probability, steps}]`` -- take one option at random (probabilities may leave a
  remainder: then nothing happens);
- ``loop: [steps]`` with ``times`` and ``repeat_probability`` -- run ``times`` times, then again with
  that probability each time (the feedback of a Jackson network);
- ``publish: {broker, queue | topic}`` -- send a message to a broker and go on without waiting for
  its consumers (:mod:`simulator.messaging`: ``brokers`` and ``consumers``).

``faults`` (:mod:`simulator.faults`) injects crashes, latency, errors, slow replicas, partitions,
brownouts and node failures on a schedule. ``deployments`` roll services out to new versions
(rolling, blue-green, canary) and ``nodes`` places replicas on machines
(:mod:`simulator.deployments`).

Cross-references (unknown services, call cycles, unreachable services) are checked by
:mod:`simulator.topology` after the schema has validated.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator

from simulator.arrivals import ArrivalProcess
from simulator.autoscaling import AutoscalingConfig, VerticalConfig
from simulator.balancer import Balancer, RoundRobinConfig, WeightedRoundRobinConfig
from simulator.database import DatabaseConfig, EventStoreConfig, Op
from simulator.deployments import Deployment, Nodes, VersionProfile
from simulator.discovery import DiscoveryConfig
from simulator.distributions import Distribution
from simulator.faults import Fault
from simulator.fields import Duration, PositiveDuration, Probability, StrictModel
from simulator.gateway import GatewayConfig
from simulator.latency import Latency
from simulator.messaging import BrokerConfig, Consumer, PublishTarget
from simulator.popularity import Popularity
from simulator.resilience import ConcurrencyLimitSettings, ResilienceConfig, SheddingSettings

__all__ = [
    "BASE",
    "CLIENT",
    "BranchOption",
    "BranchStep",
    "CallStep",
    "Edge",
    "Latency",
    "LoopStep",
    "Network",
    "NoisyNeighbour",
    "ParallelStep",
    "PublishStep",
    "ReplicaProfile",
    "Scenario",
    "SequenceStep",
    "Service",
    "Step",
    "Workload",
]

CLIENT = "client"
"""The caller of a route's top-level steps: the outside world sending the workload."""

BASE = "base"
"""The name of the scenario as written among its variants (so no variant may take it)."""

_STEP_KEYS = ("call", "sequence", "parallel", "branch", "loop", "publish")


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        present = [key for key in _STEP_KEYS if key in value]
        return present[0] if len(present) == 1 else None
    if isinstance(value, StrictModel):
        return next(key for key in _STEP_KEYS if key in type(value).model_fields)
    return None


class CallStep(StrictModel):
    call: str
    service_time: Distribution | None = None
    calls: list[Step] = Field(default_factory=list)
    op: Op | None = None

    @model_validator(mode="after")
    def _queries_call_nobody(self) -> CallStep:
        if self.op is not None and self.calls:
            raise ValueError(f"a database {self.op} (op: {self.op}) makes no nested calls")
        return self


class SequenceStep(StrictModel):
    sequence: list[Step] = Field(min_length=1)


class ParallelStep(StrictModel):
    parallel: list[Step] = Field(min_length=1)


class BranchOption(StrictModel):
    probability: Probability
    steps: list[Step] = Field(min_length=1)


class BranchStep(StrictModel):
    branch: list[BranchOption] = Field(min_length=1)

    @model_validator(mode="after")
    def _at_most_one(self) -> BranchStep:
        total = sum(option.probability for option in self.branch)
        if total > 1 + 1e-9:
            raise ValueError(f"branch probabilities add up to {total:g}, more than 1")
        return self


class LoopStep(StrictModel):
    loop: list[Step] = Field(min_length=1)
    times: int = Field(1, ge=1)
    repeat_probability: Probability = 0.0

    @field_validator("repeat_probability")
    @classmethod
    def _terminates(cls, value: float) -> float:
        if value >= 1:
            raise ValueError("repeat_probability must be below 1 or the loop never ends")
        return value


class PublishStep(StrictModel):
    publish: PublishTarget


Step = Annotated[
    Annotated[CallStep, Tag("call")]
    | Annotated[SequenceStep, Tag("sequence")]
    | Annotated[ParallelStep, Tag("parallel")]
    | Annotated[BranchStep, Tag("branch")]
    | Annotated[LoopStep, Tag("loop")]
    | Annotated[PublishStep, Tag("publish")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message=(
            "a step needs exactly one of the keys: call, sequence, parallel, branch, loop, publish"
        ),
    ),
]
for _model in (CallStep, SequenceStep, ParallelStep, BranchOption, BranchStep, LoopStep):
    _model.model_rebuild()


class NoisyNeighbour(StrictModel):
    """Something else on the replica's host that comes and goes: busy and quiet spells alternate.

    Spells last exponential times with the given means; while busy, the replica's work takes
    ``slowdown`` times longer.
    """

    slowdown: float = Field(gt=1, allow_inf_nan=False)
    busy: PositiveDuration
    quiet: PositiveDuration


class ReplicaProfile(StrictModel):
    """How one replica differs from its siblings: a slower machine, a noisy neighbour, or both."""

    slowdown: float = Field(1.0, gt=0, allow_inf_nan=False)
    noisy: NoisyNeighbour | None = None


class Service(StrictModel):
    """A deployed service: ``replicas`` instances, each serving ``concurrency`` requests at once.

    A call is routed to a replica by the service's ``balancer`` (round robin unless said otherwise);
    if every slot of that replica is busy it waits in the replica's FIFO queue, and when
    ``queue_capacity`` waiting calls are already there it is rejected at once. ``replica_profiles``
    makes replicas unequal (by index), which is where balancing policies start to differ.
    ``shedding`` and ``concurrency_limit`` refuse calls at a replica's door before they queue
    (:mod:`simulator.resilience`). ``autoscaling`` starts and drains replicas at run time
    (:mod:`simulator.autoscaling`); a replica it starts gets traffic only after ``startup_time``.
    ``price_per_replica_hour`` prices every replica from its start until it stops (the ``cost``
    metrics of :mod:`simulator.summary`). ``version`` names the code it runs and ``versions`` how
    other versions behave (what ``deployments`` roll out, :mod:`simulator.deployments`); ``cpu`` is
    what each replica requests of a node when the scenario has ``nodes``.
    """

    replicas: int = Field(1, ge=1, le=100_000)
    concurrency: int = Field(1, ge=1, le=1_000_000)
    queue_capacity: int | None = Field(None, ge=0)
    service_time: Distribution
    kind: Literal["service", "gateway", "database", "cache", "broker"] = "service"
    balancer: Balancer = Field(default_factory=RoundRobinConfig)
    replica_profiles: dict[int, ReplicaProfile] = Field(default_factory=dict)
    gateway: GatewayConfig | None = None
    discovery: DiscoveryConfig | None = None
    shedding: SheddingSettings | None = None
    concurrency_limit: ConcurrencyLimitSettings | None = None
    database: DatabaseConfig | None = None
    event_store: EventStoreConfig | None = None
    autoscaling: AutoscalingConfig | None = None
    startup_time: Latency = 0.0
    price_per_replica_hour: float = Field(0.0, ge=0, allow_inf_nan=False)
    version: str = Field("v1", min_length=1)
    versions: dict[str, VersionProfile] = Field(default_factory=dict)
    cpu: float = Field(1.0, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _replicas_within_autoscaling_bounds(self) -> Service:
        scaling = self.autoscaling
        horizontal = scaling is not None and not isinstance(scaling, VerticalConfig)
        if horizontal and not scaling.min <= self.replicas <= scaling.max:  # type: ignore[union-attr]
            raise ValueError(
                f"replicas ({self.replicas}) must lie within autoscaling min..max "
                f"({scaling.min}..{scaling.max}): it is the count at the start"
            )
        return self

    @model_validator(mode="after")
    def _gateway_features_on_gateways(self) -> Service:
        if self.gateway is not None and self.kind != "gateway":
            raise ValueError(f"a 'gateway' block needs kind: gateway, not kind: {self.kind}")
        for block in ("database", "event_store"):
            if getattr(self, block) is not None and self.kind != "database":
                raise ValueError(f"a {block!r} block needs kind: database, not kind: {self.kind}")
        return self

    @model_validator(mode="after")
    def _replicas_exist(self) -> Service:
        named = {"replica_profiles": set(self.replica_profiles)}
        if isinstance(self.balancer, WeightedRoundRobinConfig):
            named["balancer.weights"] = set(self.balancer.weights)
        for field, indices in named.items():
            outside = sorted(i for i in indices if not 0 <= i < self.replicas)
            if outside:
                raise ValueError(
                    f"{field} names replica {outside[0]}, but replicas are numbered 0..{self.replicas - 1}"
                )
        return self


class Edge(StrictModel):
    source: str = Field(alias="from")
    target: str = Field(alias="to")
    latency: Latency


class Network(StrictModel):
    """One-way network latency of a call, paid on the request and again on the response."""

    latency: Latency = 0.0
    edges: list[Edge] = Field(default_factory=list)


class Workload(StrictModel):
    """Traffic on one route: open-loop ``arrivals`` or closed-loop ``users`` who think between requests.

    ``clients`` and ``keys`` give each request a sender and a resource drawn from finite populations
    (Zipf popularity): what session affinity, per-client limits and caches key on.
    """

    name: str | None = None
    route: str
    arrivals: ArrivalProcess | None = None
    users: int | None = Field(None, ge=1, le=1_000_000)
    think_time: Distribution | None = None
    limit: int | None = Field(None, ge=1)
    clients: Popularity | None = None
    keys: Popularity | None = None

    @model_validator(mode="after")
    def _open_or_closed(self) -> Workload:
        if (self.arrivals is None) == (self.users is None):
            raise ValueError(
                "a workload needs exactly one of 'arrivals' (open loop) or 'users' (closed loop)"
            )
        if self.think_time is not None and self.users is None:
            raise ValueError("'think_time' belongs to closed-loop workloads with 'users'")
        return self


class Scenario(StrictModel):
    """A whole simulation study; see the module docstring for the model."""

    name: str
    description: str = ""
    duration: PositiveDuration
    warmup: Duration = 0.0
    seed: int = Field(0, ge=0)
    replications: int = Field(1, ge=1, le=10_000)
    sample_interval: PositiveDuration | None = None
    network: Network = Field(default_factory=Network)
    services: dict[str, Service] = Field(min_length=1)
    routes: dict[str, list[Step]] = Field(min_length=1)
    workloads: list[Workload] = Field(min_length=1)
    faults: list[Fault] = Field(default_factory=list)
    resilience: ResilienceConfig = Field(default_factory=ResilienceConfig)
    brokers: dict[str, BrokerConfig] = Field(default_factory=dict)
    consumers: list[Consumer] = Field(default_factory=list)
    deployments: list[Deployment] = Field(default_factory=list)
    nodes: Nodes | None = None
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("warmup")
    @classmethod
    def _warmup_inside(cls, warmup: float, info: ValidationInfo) -> float:
        duration = info.data.get("duration")
        if duration is not None and warmup >= duration:
            raise ValueError(f"warmup ({warmup:g}s) must be shorter than duration ({duration:g}s)")
        return warmup

    @field_validator("variants")
    @classmethod
    def _base_is_reserved(cls, variants: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if BASE in variants:
            raise ValueError(f"the variant name {BASE!r} is reserved for the scenario as written")
        return variants

    @field_validator("routes")
    @classmethod
    def _routes_have_steps(cls, routes: dict[str, list[Step]]) -> dict[str, list[Step]]:
        empty = [name for name, steps in routes.items() if not steps]
        if empty:
            raise ValueError(f"route {empty[0]!r} has no steps")
        return routes

    @property
    def interval(self) -> float:
        """Width of the time-series bins: ``sample_interval`` or a hundredth of the run."""
        return self.sample_interval or self.duration / 100

    def workload_names(self) -> list[str]:
        """Each workload's name, defaulting to its route (numbered when a route has several)."""
        names: list[str] = []
        for index, workload in enumerate(self.workloads):
            name = workload.name or workload.route
            names.append(name if name not in names else f"{name}#{index}")
        return names
