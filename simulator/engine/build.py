"""Building one replication from a scenario (stations, compiled routes, sources) and running it."""

from __future__ import annotations

import random
from collections.abc import Callable

import simpy

from patterns.cache import SingleFlight, TTLCache
from simulator.balancer import build_policy
from simulator.distributions import Deterministic, Distribution, Exponential, Uniform, sampler
from simulator.engine.admission import Door
from simulator.engine.calls import CachedCallNode, Call, CallNode
from simulator.engine.database import install_databases
from simulator.engine.deploying import VersionStation, install_deployments
from simulator.engine.discovery import Discovery
from simulator.engine.faults import EdgeFaults, install_faults
from simulator.engine.flow import BranchNode, LoopNode, ParallelNode, SequenceNode
from simulator.engine.guard import EdgeGuard, GuardedCallNode
from simulator.engine.messaging import Brokers
from simulator.engine.placement import Placement
from simulator.engine.protocols import Plan
from simulator.engine.scaling import Meter, Scaler, ScalingReplica, ScalingStation
from simulator.engine.sources import ClosedSource, OpenSource, Source
from simulator.engine.stations import Neighbour, Replica, Station
from simulator.gateway import GatewayConfig, build_limiter
from simulator.messaging import scaled_channel
from simulator.records import Recorder, RunResult
from simulator.resilience import build_gate, build_shedder
from simulator.scenario import (
    CLIENT,
    BranchStep,
    CallStep,
    LoopStep,
    ParallelStep,
    PublishStep,
    Scenario,
    SequenceStep,
    Step,
)
from simulator.streams import RandomStreams
from simulator.topology import read_models

__all__ = ["Engine", "Progress", "simulate"]

Progress = Callable[[float], None]


class Engine:
    """Builds the stations, plans and sources of one replication and runs them."""

    def __init__(self, scenario: Scenario, seed: int, replication: int) -> None:
        self.scenario, self.seed, self.replication = scenario, seed, replication
        self.env = simpy.Environment()
        self.streams = RandomStreams(seed, replication)
        self.recorder = Recorder()
        self.horizon = scenario.duration
        self.next_id = 0
        self.last_stop = 0.0
        self.running: set[Source] = set()
        self.service_names = tuple(scenario.services)
        self._samplers: dict[str, Callable[[], float]] = {}
        self.caches: dict[str, tuple[TTLCache, SingleFlight | None]] = {}
        self.route_being_compiled = ""
        self.guards: dict[tuple[str, str], EdgeGuard | None] = {}
        resilience = scenario.resilience
        self.expiry = any(p.deadline is not None for p in (resilience.defaults, *resilience.edges))
        self.versioned = {d.service for d in scenario.deployments} | {
            name for name, service in scenario.services.items() if service.version in service.versions
        }
        self.version_names: list[str] = []
        for name in sorted(self.versioned, key=self.service_names.index):
            service = scenario.services[name]
            for version in (service.version, *service.versions):
                if version not in self.version_names:
                    self.version_names.append(version)
        self.placement = Placement(scenario.nodes) if scenario.nodes is not None else None
        self.stations = {name: self.station(code, name) for code, name in enumerate(scenario.services)}
        self.discovery = {
            name: Discovery(
                self.env,
                name,
                self.stations[name],
                service.discovery,
                self.clock,
                self.horizon,
                self.sampler(f"heartbeat-phase:{name}", _UNIT),
            )
            for name, service in scenario.services.items()
            if service.discovery is not None
        }
        self.scalers = {
            name: self.scaler(code, name)
            for code, (name, service) in enumerate(scenario.services.items())
            if service.autoscaling is not None or name in self.versioned
        }
        if self.placement is not None:
            self.placement.scalers.extend(self.scalers.values())
        self.faults = install_faults(self)  # None without faults: then no node gets a hook
        self.databases = install_databases(self)  # None without database ops
        self.deployments = install_deployments(self)  # None without deployments
        if self.databases is not None:
            self.service_names += tuple(name for name, _ in self.databases.extra)
        self.brokers = Brokers(self) if scenario.brokers else None
        if self.brokers is not None:
            self.brokers.start_consumers()
            if self.databases is not None:
                self.brokers.publish_appends(self.databases.stores)
            for name, scaler in self.scalers.items():  # KEDA: consumers scaled on their backlog
                if scaler.config.metric == "backlog":
                    channel = scaled_channel(name, scaler.config.channel, scenario.consumers)
                    scaler.backlog = lambda channel=channel: self.backlog(channel)  # type: ignore[misc]
        names = scenario.workload_names()
        self.workload_names = tuple(names)
        for code, workload in enumerate(scenario.workloads):
            self.route_being_compiled = workload.route
            plan = self.compile(scenario.routes[workload.route], CLIENT, f"route:{workload.route}")
            source: Source
            if workload.arrivals is not None:
                times = workload.arrivals.times(self.streams(f"arrivals:{names[code]}"), self.horizon)
                source = OpenSource(self, code, workload.route, plan, workload.limit, times)
            else:
                think = workload.think_time or Deterministic(dist="deterministic", value=0.0)
                source = ClosedSource(
                    self,
                    code,
                    workload.route,
                    plan,
                    workload.limit,
                    workload.users or 0,
                    self.sampler(f"think:{names[code]}", think),
                )
            for attribute, popularity in (("next_client", workload.clients), ("next_key", workload.keys)):
                if popularity is not None:
                    rng = self.streams(f"{attribute.removeprefix('next_')}s:{names[code]}")
                    setattr(source, attribute, popularity.sampler(rng))
            self.running.add(source)

    def station(self, code: int, name: str) -> Station:
        """The run-time form of service ``name``: replicas (with their profiles), policy, neighbours."""
        service = self.scenario.services[name]
        versioned = name in self.versioned
        meter = Meter(self.env) if service.autoscaling is not None or versioned else None
        replicas = [
            self.replica(name, index, service.concurrency, meter) for index in range(service.replicas)
        ]
        seed = int(self.streams(f"balancer:{name}").integers(2**63))
        policy = build_policy(service.balancer, random.Random(seed), self.clock)
        affinity = getattr(service.balancer, "affinity", None)
        admit = self.admission(service.gateway) if service.gateway and service.gateway.rate_limits else None
        if service.gateway and service.gateway.cache:
            config = service.gateway.cache
            self.caches[name] = (
                TTLCache(config.capacity, config.ttl, self.clock),
                SingleFlight() if config.coalesce else None,
            )
        if versioned:  # replicas run versions a deployment replaces
            return VersionStation(
                self.env,
                self.recorder,
                code,
                replicas,
                policy,
                affinity,
                admit,
                discovered=True,
                meter=meter,
                coin=self.coin(f"canary:{name}"),
                error_coin=self.coin(f"version-errors:{name}"),
            )
        if meter is not None:  # replicas come and go: always a policy, and a station that meters them
            return ScalingStation(
                self.env, self.recorder, code, replicas, policy, affinity, admit, discovered=True, meter=meter
            )
        return Station(
            self.env,
            self.recorder,
            code,
            replicas,
            policy,
            affinity,
            admit,
            discovered=service.discovery is not None,
        )

    def replica(
        self,
        name: str,
        index: int,
        slots: int,
        meter: Meter | None = None,
        slowdown: float = 1.0,
        version: int | None = None,
    ) -> Replica:
        """Replica ``index`` of service ``name``: its node, profile, version, noisy neighbour and door
        (a :class:`ScalingReplica` on ``meter`` when the service is autoscaled or deployed).

        The one factory of replicas: with ``nodes`` it places the replica first, and when no node
        has room it returns ``None`` (only for replicas started at run time: the topology check
        makes sure the first ones fit)."""
        service = self.scenario.services[name]
        if self.placement is not None and not self.placement.place(name, index, service.cpu):
            return None  # type: ignore[return-value]
        profile = service.replica_profiles.get(index)
        if profile is not None:
            slowdown *= profile.slowdown
        replica = (
            Replica(index, slots, service.queue_capacity, slowdown)
            if meter is None
            else ScalingReplica(index, slots, service.queue_capacity, slowdown, meter)
        )
        if name in self.versioned:
            assert isinstance(replica, ScalingReplica)
            code = self.version_code(name, None) if version is None else version
            behaviour = service.versions.get(self.version_names[code])
            if behaviour is not None:
                replica.slowdown *= behaviour.slowdown
                replica.error_rate = behaviour.error_rate
            replica.version = code
            self.recorder.version_codes.extend((self.service_names.index(name), index, code))
        if profile is not None and profile.noisy is not None:
            spells = self.sampler(f"noisy:{name}/{index}", _UNIT_EXPONENTIAL)
            Neighbour(self.env, replica, profile.noisy, spells, self.horizon)
        if service.shedding or service.concurrency_limit or self.expiry:
            replica.door = Door(
                build_shedder(service.shedding, self.clock) if service.shedding else None,
                build_gate(service.concurrency_limit) if service.concurrency_limit else None,
                self.expiry,
            )
        return replica

    def scaler(self, code: int, name: str) -> Scaler:
        """The control loop of autoscaled service ``name`` (after its station and discovery exist)."""
        service = self.scenario.services[name]
        station = self.stations[name]
        assert isinstance(station, ScalingStation)
        startup = service.startup_time
        if isinstance(startup, float | int):
            delay = float(startup)
            draw: Callable[[], float] = lambda: delay  # noqa: E731 - a sampler is a callable
        else:
            draw = self.sampler(f"startup:{name}", startup)

        def make(index: int, slots: int, slowdown: float, version: int) -> ScalingReplica | None:
            replica = self.replica(name, index, slots, station.meter, slowdown, version)
            assert replica is None or isinstance(replica, ScalingReplica)
            return replica

        scaler = Scaler(
            self.env,
            code,
            station,
            service.autoscaling,
            self.clock,
            self.horizon,
            draw,
            make,
            self.recorder,
            self.discovery.get(name),
        )
        if self.placement is not None:
            placement = self.placement
            scaler.on_stop.append(lambda replica: placement.release(name, replica.index))
        return scaler

    def version_code(self, service: str, version: str | None) -> int:
        """The code of ``version`` (``None``: the one ``service`` runs at the start) in the records."""
        return self.version_names.index(
            self.scenario.services[service].version if version is None else version
        )

    def admission(self, gateway: GatewayConfig) -> Callable[[Call], bool]:
        """The gateway's rate limits as one check: a call passes if every limit that applies admits it."""
        limits = [(config, build_limiter(config, self.clock)) for config in gateway.rate_limits]
        key_of = {
            "client": lambda call: call.request.client,
            "route": lambda call: call.request.route,
            "gateway": lambda call: None,
        }

        def admit(call: Call) -> bool:
            route = call.request.route
            for config, limiter in limits:
                if (config.routes is None or route in config.routes) and not limiter.try_acquire(
                    key_of[config.per](call)
                ):
                    return False
            return True

        return admit

    def clock(self) -> float:
        """Simulated time: the clock every pattern object of this run reads."""
        return self.env.now

    def sampler(self, stream: str, distribution: Distribution) -> Callable[[], float]:
        """One block sampler per named stream, shared by every plan node drawing from it."""
        if stream not in self._samplers:
            self._samplers[stream] = sampler(distribution, self.streams(stream))
        return self._samplers[stream]

    def coin(self, stream: str) -> Callable[[], float]:
        return self.sampler(stream, _UNIT)

    def latency(self, caller: str, callee: str) -> Callable[[], float] | None:
        latency = self.scenario.network.latency
        for edge in self.scenario.network.edges:
            if edge.source == caller and edge.target == callee:
                latency = edge.latency
        if isinstance(latency, float | int):
            if latency == 0:
                return None
            value = float(latency)
            return lambda: value
        return self.sampler(f"network:{caller}->{callee}", latency)

    def guard(self, caller: str, callee: str) -> EdgeGuard | None:
        """The resilience policies of the edge, one object per edge however many steps call it."""
        edge = (caller, callee)
        if edge not in self.guards:
            policy = self.scenario.resilience.policy(caller, callee)
            self.guards[edge] = None
            if policy.active:
                seed = int(self.streams(f"resilience:{caller}->{callee}").integers(2**63))
                code = sum(guard is not None for guard in self.guards.values())
                self.guards[edge] = EdgeGuard(
                    self.env, code, policy, self.recorder, random.Random(seed), caller == CLIENT
                )
        return self.guards[edge]

    @property
    def edge_names(self) -> tuple[str, ...]:
        """Names of the guarded edges, in the order of their codes in the ``tries`` records."""
        return tuple(f"{a}->{b}" for (a, b), guard in self.guards.items() if guard is not None)

    def compile_call(self, step: CallStep, caller: str, where: str) -> Plan:
        """A call step, with the faults of its service and edge, in its edge's resilience policies."""
        node = self.plain_call(step, caller, where)
        wire: CallNode | EdgeFaults = (
            node if self.faults is None else self.faults.hook(caller, step.call, node)
        )
        guard = self.guard(caller, step.call)
        return wire if guard is None else GuardedCallNode(node, wire, guard)

    def plain_call(self, step: CallStep, caller: str, where: str) -> CallNode:
        """A call step: its demand (plus a gateway's auth and translation), latency, nested calls, cache."""
        if step.op is not None:  # a query or an event-store operation on a database
            return self.databases.node(step, caller, where, self.latency(caller, step.call))  # type: ignore[union-attr]
        service = self.scenario.services[step.call]
        demand = (
            self.sampler(f"service:{step.call}", service.service_time)
            if step.service_time is None
            else self.sampler(f"call:{where}", step.service_time)
        )
        gateway = service.gateway
        if gateway is not None and (gateway.auth or gateway.translation):
            extras = [demand] + [
                self.sampler(f"{part}:{step.call}", cost)
                for part, cost in (("auth", gateway.auth), ("translation", gateway.translation))
                if cost is not None
            ]
            demand = lambda: sum(draw() for draw in extras)  # noqa: E731 - a sampler is a callable
        nested = self.compile(step.calls, step.call, f"{where}/calls") if step.calls else None
        station, latency = self.stations[step.call], self.latency(caller, step.call)
        route = self.route_being_compiled
        if step.call in self.caches and nested is not None and route in gateway.cache.routes:  # type: ignore[union-attr]
            cache, flights = self.caches[step.call]
            node = CachedCallNode(self.env, station, demand, latency, nested, route, cache, flights)
        else:
            node = CallNode(self.env, station, demand, latency, nested)
        return node

    def compile(self, steps: list[Step], caller: str, where: str) -> Plan:
        plans = [self.compile_step(step, caller, f"{where}/{i}") for i, step in enumerate(steps)]
        return plans[0] if len(plans) == 1 else SequenceNode(plans)

    def compile_step(self, step: Step, caller: str, where: str) -> Plan:
        match step:
            case CallStep():
                return self.compile_call(step, caller, where)
            case SequenceStep():
                return self.compile(step.sequence, caller, where)
            case ParallelStep():
                return ParallelNode(
                    [self.compile_step(s, caller, f"{where}/{i}") for i, s in enumerate(step.parallel)]
                )
            case BranchStep():
                options, upper = [], 0.0
                for i, option in enumerate(step.branch):
                    upper += option.probability
                    options.append((upper, self.compile(option.steps, caller, f"{where}/{i}")))
                return BranchNode(options, self.coin(f"branch:{where}"))
            case LoopStep():
                body = self.compile(step.loop, caller, f"{where}/loop")
                return LoopNode(body, step.times, step.repeat_probability, self.coin(f"loop:{where}"))
            case PublishStep():
                return self.brokers.publish_node(step.publish, caller)  # type: ignore[union-attr]
        raise TypeError(f"unknown step {step!r}")

    def stopped(self, source: Source, at: float) -> None:
        """``source`` creates no more requests after ``at``; the observed period ends with the last one."""
        if source in self.running:
            self.running.discard(source)
            self.last_stop = max(self.last_stop, at)

    def backlog(self, channel: str) -> int:
        """Messages of ``channel`` (a queue's name, or ``topic:group``) published and not yet acked,
        dead-lettered or expired, now: the backlog an autoscaler scales consumers on."""
        if self.brokers is None:
            raise KeyError(f"no queue or consumer group {channel!r}: the scenario has no brokers")
        return self.brokers.backlog(channel)

    def run(self, progress: Progress | None = None) -> RunResult:
        if progress is None:
            self.env.run(until=self.horizon)
        else:
            for tick in range(1, 101):
                self.env.run(until=self.horizon * tick / 100)
                progress(tick / 100)
                if not self.running:
                    break
        horizon = min(self.horizon, self.last_stop) if not self.running else self.horizon
        self.env.run()  # drain: let every request that arrived finish
        if self.brokers is not None:
            self.brokers.finish()
        return RunResult(
            scenario=self.scenario.name,
            seed=self.seed,
            replication=self.replication,
            warmup=self.scenario.warmup,
            horizon=horizon,
            interval=self.scenario.interval,
            workloads=self.workload_names,
            services=self.service_names,
            capacity={
                **{name: s.replicas * s.concurrency for name, s in self.scenario.services.items()},
                **dict(self.databases.extra if self.databases is not None else ()),
            },
            recorder=self.recorder,
            edges=self.edge_names,
            channels=() if self.brokers is None else self.brokers.names,
            channel_brokers=() if self.brokers is None else self.brokers.brokers_of_lines,
            callers=self.databases.callers if self.databases is not None else (),
            replicas={name: s.replicas for name, s in self.scenario.services.items()},
            prices={name: s.price_per_replica_hour for name, s in self.scenario.services.items()},
            version_names=tuple(self.version_names),
            read_models=read_models(self.scenario) if self.brokers is not None else {},
        )


_UNIT = Uniform(dist="uniform", low=0.0, high=1.0)
_UNIT_EXPONENTIAL = Exponential(dist="exponential", mean=1.0)


def simulate(
    scenario: Scenario, seed: int | None = None, replication: int = 0, progress: Progress | None = None
) -> RunResult:
    """Run one replication of ``scenario`` (seed defaults to the scenario's) and return its records.

    The same scenario, seed and replication always give identical records.
    """
    engine = Engine(scenario, scenario.seed if seed is None else seed, replication)
    return engine.run(progress)
