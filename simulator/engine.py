"""The discrete-event engine: a scenario played out on SimPy's event loop.

Design for speed: there is no generator process per request or per hop. Each call is a small
object that is itself a SimPy event, rescheduled for each stage of its life (network hop out, end
of its work, network hop back) with the next stage as its callback. The per-event cost is then one
heap push and one Python call, samples come from pre-drawn blocks, and records go to typed arrays.
Features a scenario does not use (latency, nested calls, several replicas, bounded queues) cost
nothing: the route is compiled into plan nodes specialised for what it needs.

The model of a call: the caller's request travels the edge's one-way latency, joins the chosen
replica's FIFO queue (or is rejected when that queue is full), holds one of the replica's
``concurrency`` slots for its work and any nested calls it makes, then travels back. A request
that suffers a rejection anywhere ends with status ``error``; its callers still finish their work.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

import simpy
from simpy.core import NORMAL
from simpy.events import Event

from simulator.distributions import Deterministic, Distribution, Uniform, sampler
from simulator.records import Recorder, RunResult
from simulator.scenario import (
    CLIENT,
    BranchStep,
    CallStep,
    LoopStep,
    ParallelStep,
    Scenario,
    SequenceStep,
    Step,
)
from simulator.streams import RandomStreams

__all__ = ["simulate"]

Progress = Callable[[float], None]


class Continuation(Protocol):
    """Whatever waits for a piece of a route to finish: told once, with whether it succeeded."""

    def resume(self, ok: bool) -> None: ...


class Plan(Protocol):
    def start(self, request: Request, k: Continuation) -> None: ...


class Request:
    """One request of a workload; as the continuation of its route it records itself when done."""

    __slots__ = ("arrival", "id", "owner")

    def __init__(self, rid: int, arrival: float, owner: Source) -> None:
        self.id, self.arrival, self.owner = rid, arrival, owner

    def resume(self, ok: bool) -> None:
        self.owner.finished(self, ok)


class Replica:
    __slots__ = ("busy", "index", "queue", "queue_capacity", "slots")

    def __init__(self, index: int, slots: int, queue_capacity: int | None) -> None:
        self.index, self.slots, self.busy = index, slots, 0
        self.queue: deque[Call] = deque()
        self.queue_capacity = queue_capacity


class Station:
    """A service's replicas with their slots and queues; requests are spread round-robin."""

    __slots__ = ("code", "env", "next_replica", "record", "replicas", "schedule")

    def __init__(
        self, engine: Engine, code: int, replicas: int, slots: int, queue_capacity: int | None
    ) -> None:
        self.env, self.schedule, self.code = engine.env, engine.env.schedule, code
        self.replicas = [Replica(i, slots, queue_capacity) for i in range(replicas)]
        self.next_replica = 0
        r = engine.recorder
        appends = (
            r.span_request.append,
            r.span_service.append,
            r.span_replica.append,
            r.span_arrival.append,
            r.span_start.append,
            r.span_end.append,
            r.span_status.append,
        )

        def record(call: Call, end: float, status: int) -> None:
            request, service, replica, arrival, start, finish, state = appends
            request(call.request.id)
            service(code)
            replica(call.replica.index)
            arrival(call.arrival)
            start(call.start)
            finish(end)
            state(status)

        self.record = record

    def submit(self, call: Call) -> None:
        """``call`` arrives: take a slot, queue, or be rejected."""
        replicas = self.replicas
        if len(replicas) == 1:
            replica = replicas[0]
        else:
            replica = replicas[self.next_replica]
            self.next_replica = (self.next_replica + 1) % len(replicas)
        call.replica = replica
        call.arrival = now = self.env._now
        if replica.busy < replica.slots:
            replica.busy += 1
            self.begin(call, now)
        elif replica.queue_capacity is None or len(replica.queue) < replica.queue_capacity:
            replica.queue.append(call)
        else:
            call.start = now
            self.record(call, now, 1)
            call.node.respond(call, False)

    def begin(self, call: Call, now: float) -> None:
        call.start = now
        call.callbacks = [call.node.worked]
        self.schedule(call, NORMAL, call.node.demand())

    def release(self, call: Call, ok: bool) -> None:
        """The call's work (and nested calls) are over: free its slot for the next in line."""
        replica = call.replica
        now = self.env._now
        self.record(call, now, 0 if ok else 2)
        if replica.queue:
            self.begin(replica.queue.popleft(), now)
        else:
            replica.busy -= 1
        call.node.respond(call, ok)


class Call(Event):
    """One visit of a request to a service, rescheduled as the event of each stage of the visit."""

    def __init__(self, env: simpy.Environment, node: CallNode, request: Request, k: Continuation) -> None:
        self.env, self.node, self.request, self.k = env, node, request, k
        self._ok, self._value = True, None
        self.succeeded = True

    def resume(self, ok: bool) -> None:
        """The nested calls made while holding the slot are done."""
        self.node.station.release(self, ok)


class CallNode:
    """A compiled ``call`` step: which station, how long the work takes, the latency, nested calls."""

    __slots__ = ("demand", "env", "latency", "nested", "schedule", "station")

    def __init__(
        self,
        engine: Engine,
        station: Station,
        demand: Callable[[], float],
        latency: Callable[[], float] | None,
        nested: Plan | None,
    ) -> None:
        self.env, self.schedule = engine.env, engine.env.schedule
        self.station, self.demand, self.latency, self.nested = station, demand, latency, nested

    def start(self, request: Request, k: Continuation) -> None:
        call = Call(self.env, self, request, k)
        if self.latency is None:
            self.station.submit(call)
        else:
            call.callbacks = [self.arrive]
            self.schedule(call, NORMAL, self.latency())

    def arrive(self, call: Call) -> None:
        self.station.submit(call)

    def worked(self, call: Call) -> None:
        if self.nested is None:
            self.station.release(call, True)
        else:
            self.nested.start(call.request, call)

    def respond(self, call: Call, ok: bool) -> None:
        if self.latency is None:
            call.k.resume(ok)
        else:
            call.succeeded = ok
            call.callbacks = [self.returned]
            self.schedule(call, NORMAL, self.latency())

    @staticmethod
    def returned(call: Call) -> None:
        call.k.resume(call.succeeded)


class _Join:
    """Continuation of a ``sequence`` or ``loop`` in progress: starts the next part when one ends."""

    __slots__ = ("k", "left", "ok", "plan", "request")

    def __init__(self, plan: SequenceNode | LoopNode, request: Request, k: Continuation, left: int) -> None:
        self.plan, self.request, self.k, self.left, self.ok = plan, request, k, left, True

    def resume(self, ok: bool) -> None:
        self.ok = self.ok and ok
        self.plan.advance(self)


class SequenceNode:
    __slots__ = ("steps",)

    def __init__(self, steps: list[Plan]) -> None:
        self.steps = steps

    def start(self, request: Request, k: Continuation) -> None:
        frame = _Join(self, request, k, 0)
        self.steps[0].start(request, frame)

    def advance(self, frame: _Join) -> None:
        frame.left += 1
        if frame.left == len(self.steps) or not frame.ok:
            frame.k.resume(frame.ok)
        else:
            self.steps[frame.left].start(frame.request, frame)


class LoopNode:
    """``times`` runs of the body, then more while a coin with ``repeat_probability`` says so."""

    __slots__ = ("body", "coin", "repeat", "times")

    def __init__(self, body: Plan, times: int, repeat: float, coin: Callable[[], float]) -> None:
        self.body, self.times, self.repeat, self.coin = body, times, repeat, coin

    def start(self, request: Request, k: Continuation) -> None:
        self.body.start(request, _Join(self, request, k, 1))

    def advance(self, frame: _Join) -> None:
        if frame.ok and (frame.left < self.times or (self.repeat and self.coin() < self.repeat)):
            frame.left += 1
            self.body.start(frame.request, frame)
        else:
            frame.k.resume(frame.ok)


class _Fork:
    __slots__ = ("k", "ok", "pending")

    def __init__(self, k: Continuation, pending: int) -> None:
        self.k, self.pending, self.ok = k, pending, True

    def resume(self, ok: bool) -> None:
        self.ok = self.ok and ok
        self.pending -= 1
        if self.pending == 0:
            self.k.resume(self.ok)


class ParallelNode:
    __slots__ = ("branches",)

    def __init__(self, branches: list[Plan]) -> None:
        self.branches = branches

    def start(self, request: Request, k: Continuation) -> None:
        fork = _Fork(k, len(self.branches))
        for branch in self.branches:
            branch.start(request, fork)


class BranchNode:
    __slots__ = ("coin", "options")

    def __init__(self, options: list[tuple[float, Plan]], coin: Callable[[], float]) -> None:
        self.options, self.coin = options, coin

    def start(self, request: Request, k: Continuation) -> None:
        draw = self.coin()
        for upper, plan in self.options:
            if draw < upper:
                plan.start(request, k)
                return
        k.resume(True)


class Source(Event):
    """A workload: creates requests (open loop: on its arrival times; closed loop: per user)."""

    def __init__(self, engine: Engine, code: int, plan: Plan, limit: int | None) -> None:
        self.env, self.engine, self.code, self.plan = engine.env, engine, code, plan
        self.limit = limit if limit is not None else -1
        self.horizon = engine.horizon
        r = engine.recorder
        self._rows = (
            r.req_id.append,
            r.req_workload.append,
            r.req_arrival.append,
            r.req_end.append,
            r.req_status.append,
        )

    def launch(self, now: float) -> Request:
        engine = self.engine
        request = Request(engine.next_id, now, self)
        engine.next_id += 1
        self.limit -= 1
        self.plan.start(request, request)
        return request

    def finished(self, request: Request, ok: bool) -> None:
        rid, workload, arrival, end, status = self._rows
        rid(request.id)
        workload(self.code)
        arrival(request.arrival)
        end(self.env._now)
        status(0 if ok else 1)


class OpenSource(Source):
    def __init__(self, engine: Engine, code: int, plan: Plan, limit: int | None, times: object) -> None:
        super().__init__(engine, code, plan, limit)
        self._ok, self._value = True, None
        self.times = iter(times)  # type: ignore[call-overload]
        self.callbacks = [self.fire]
        self.wake()

    def wake(self) -> None:
        """Schedule the next arrival, or stop: at the horizon, at the limit, or when the times run out."""
        at = next(self.times, None)
        if at is None or self.limit == 0:
            self.engine.stopped(self, self.env._now)
        elif at >= self.horizon:
            self.engine.stopped(self, self.horizon)
        else:
            self.callbacks = [self.fire]
            self.env.schedule(self, NORMAL, at - self.env._now)

    def fire(self, _: Event) -> None:
        self.launch(self.env._now)
        self.wake()


class User(Event):
    """One closed-loop user: think, send a request, wait for its answer, think again."""

    def __init__(self, source: ClosedSource) -> None:
        self.env, self.source = source.env, source
        self._ok, self._value = True, None
        self.think()

    def think(self) -> None:
        self.callbacks = [self.fire]
        self.env.schedule(self, NORMAL, self.source.think_time())

    def fire(self, _: Event) -> None:
        source = self.source
        if self.env._now >= source.horizon:
            source.engine.stopped(source, source.horizon)
            return
        if source.limit == 0:
            source.engine.stopped(source, self.env._now)
            return
        request = source.launch(self.env._now)
        source.waiting[request] = self

    def resume(self, ok: bool) -> None:
        self.think()


class ClosedSource(Source):
    def __init__(
        self,
        engine: Engine,
        code: int,
        plan: Plan,
        limit: int | None,
        users: int,
        think_time: Callable[[], float],
    ) -> None:
        super().__init__(engine, code, plan, limit)
        self.think_time = think_time
        self.waiting: dict[Request, User] = {}
        for _ in range(users):
            User(self)

    def finished(self, request: Request, ok: bool) -> None:
        super().finished(request, ok)
        self.waiting.pop(request).resume(ok)


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
        self.stations = {
            name: Station(self, code, s.replicas, s.concurrency, s.queue_capacity)
            for code, (name, s) in enumerate(scenario.services.items())
        }
        self._samplers: dict[str, Callable[[], float]] = {}
        names = scenario.workload_names()
        self.workload_names = tuple(names)
        for code, workload in enumerate(scenario.workloads):
            plan = self.compile(scenario.routes[workload.route], CLIENT, f"route:{workload.route}")
            source: Source
            if workload.arrivals is not None:
                times = workload.arrivals.times(self.streams(f"arrivals:{names[code]}"))
                source = OpenSource(self, code, plan, workload.limit, times)
            else:
                think = workload.think_time or Deterministic(dist="deterministic", value=0.0)
                source = ClosedSource(
                    self,
                    code,
                    plan,
                    workload.limit,
                    workload.users or 0,
                    self.sampler(f"think:{names[code]}", think),
                )
            self.running.add(source)

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

    def compile(self, steps: list[Step], caller: str, where: str) -> Plan:
        plans = [self.compile_step(step, caller, f"{where}/{i}") for i, step in enumerate(steps)]
        return plans[0] if len(plans) == 1 else SequenceNode(plans)

    def compile_step(self, step: Step, caller: str, where: str) -> Plan:
        match step:
            case CallStep():
                service = self.scenario.services[step.call]
                demand = (
                    self.sampler(f"service:{step.call}", service.service_time)
                    if step.service_time is None
                    else self.sampler(f"call:{where}", step.service_time)
                )
                nested = self.compile(step.calls, step.call, f"{where}/calls") if step.calls else None
                return CallNode(
                    self, self.stations[step.call], demand, self.latency(caller, step.call), nested
                )
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
        raise TypeError(f"unknown step {step!r}")

    def stopped(self, source: Source, at: float) -> None:
        """``source`` creates no more requests after ``at``; the observed period ends with the last one."""
        if source in self.running:
            self.running.discard(source)
            self.last_stop = max(self.last_stop, at)

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
        return RunResult(
            scenario=self.scenario.name,
            seed=self.seed,
            replication=self.replication,
            warmup=self.scenario.warmup,
            horizon=horizon,
            interval=self.scenario.interval,
            workloads=self.workload_names,
            services=self.service_names,
            capacity={name: s.replicas * s.concurrency for name, s in self.scenario.services.items()},
            recorder=self.recorder,
        )


_UNIT = Uniform(dist="uniform", low=0.0, high=1.0)


def simulate(
    scenario: Scenario, seed: int | None = None, replication: int = 0, progress: Progress | None = None
) -> RunResult:
    """Run one replication of ``scenario`` (seed defaults to the scenario's) and return its records.

    The same scenario, seed and replication always give identical records.
    """
    engine = Engine(scenario, scenario.seed if seed is None else seed, replication)
    return engine.run(progress)
