"""The scenario's faults on simulated time (the schema and its meaning: :mod:`simulator.faults`).

Nothing here runs for a scenario without faults: :func:`install_faults` then returns ``None`` and
the engine builds exactly the stations and call nodes it always did. Otherwise faults act in two
ways:

* timers (one-shot events; recurring ones stop at the horizon, a repair or restore under way
  completes) crash and restart replicas through :meth:`Station.crash` / :meth:`Station.restart`
  (registering again with discovery) and change replicas' ``slowdown``;
* hooks installed on the call nodes while routes compile (:meth:`Faults.hook`): a service's
  ``demand`` gains the added latency, its ``after_work`` may answer with an error, and a call node on
  a faulted edge is wrapped in an :class:`EdgeFaults` plan that delays, aborts or loses messages.
  Nodes of unfaulted services and edges are left as they are, and a hook whose window is not open
  draws no random number, so a fault outside the run leaves the records bit-identical.

Random numbers come from the engine's named streams ``fault:<index>`` (and ``fault:<index>/...``),
so runs are reproducible and variants that keep a fault share its draws.
"""

from __future__ import annotations

from collections.abc import Callable
from math import inf
from typing import TYPE_CHECKING, NamedTuple

import simpy

from simulator.distributions import Exponential, Uniform
from simulator.engine.calls import Call, CallNode
from simulator.engine.discovery import schedule_fault
from simulator.engine.scaling import STOPPED
from simulator.engine.stations import Replica, Station
from simulator.faults import (
    BrownoutFault,
    ChaosMonkeyFault,
    CrashesFault,
    ErrorFault,
    LatencyFault,
    NodeFailureFault,
    PartitionFault,
    ReplicaFault,
    SlowReplicaFault,
)
from simulator.latency import Latency

if TYPE_CHECKING:
    from simulator.engine.build import Engine
    from simulator.engine.protocols import Continuation
    from simulator.engine.sources import Request

__all__ = ["EdgeFaults", "FaultEvent", "Faults", "install_faults"]

_UNIT = Uniform(dist="uniform", low=0.0, high=1.0)
_UNIT_EXPONENTIAL = Exponential(dist="exponential", mean=1.0)

Added = tuple[float, float, Callable[[], float]]
"""A window of added latency: (start, end, draw of the delay)."""
Erring = tuple[float, float, float, Callable[[], float]]
"""A window of errors: (start, end, rate, uniform coin)."""


class FaultEvent(NamedTuple):
    """Something a fault did: ``event`` is ``crash`` or ``restart`` of ``service``'s ``replica``."""

    time: float
    fault: int
    event: str
    service: str
    replica: int


def install_faults(engine: Engine) -> Faults | None:
    """Schedule the scenario's faults on ``engine`` (built stations and discovery); ``None`` if none."""
    return Faults(engine) if engine.scenario.faults else None


class Faults:
    """Timers and hooks of one replication's faults; ``log`` lists the crashes and restarts they caused.

    Planned ``crash``/``stop`` faults keep their own scheduler
    (:func:`simulator.engine.discovery.schedule_fault`) and do not appear in the log.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine, self.env, self.horizon = engine, engine.env, engine.horizon
        self.stations, self.discovery = engine.stations, engine.discovery
        self.log: list[FaultEvent] = []
        self.service_latency: dict[str, list[Added]] = {}
        self.service_errors: dict[str, list[Erring]] = {}
        self.edge_latency: dict[tuple[str, str], list[Added]] = {}
        self.edge_errors: dict[tuple[str, str], list[Erring]] = {}
        self.partitions: dict[frozenset[str], list[tuple[float, float]]] = {}
        for index, fault in enumerate(engine.scenario.faults):
            self.install(index, fault)

    def install(self, index: int, fault: object) -> None:
        stream = f"fault:{index}"
        match fault:
            case ReplicaFault():
                station = self.stations[fault.service]
                schedule_fault(self.env, fault, station, self.discovery.get(fault.service))
            case CrashesFault():
                count = len(self.stations[fault.service].replicas)
                for replica in fault.replicas or range(count):
                    _Cycle(
                        self,
                        index,
                        fault,
                        replica,
                        self.engine.sampler(f"{stream}/{replica}", _UNIT_EXPONENTIAL),
                    )
            case ChaosMonkeyFault():
                _Monkey(self, index, fault)
            case LatencyFault():
                window = (fault.at, fault.end, self.draw(stream, fault.add))
                if fault.edge is None:
                    self.service_latency.setdefault(fault.service or "", []).append(window)
                else:
                    self.edge_latency.setdefault(fault.edge, []).append(window)
            case ErrorFault():
                erring = (fault.at, fault.end, fault.rate, self.engine.sampler(stream, _UNIT))
                if fault.edge is None:
                    self.service_errors.setdefault(fault.service or "", []).append(erring)
                else:
                    self.edge_errors.setdefault(fault.edge, []).append(erring)
            case SlowReplicaFault():
                replica = self.stations[fault.service].replicas[fault.replica]
                self.slow([replica], fault.slowdown, fault.at, fault.end)
            case PartitionFault():
                self.partitions.setdefault(frozenset(fault.between), []).append((fault.at, fault.end))
            case BrownoutFault():
                self.slow(self.stations[fault.service].replicas, fault.slowdown, fault.at, fault.end)
                coin = self.engine.sampler(stream, _UNIT)
                self.service_errors.setdefault(fault.service, []).append(
                    (fault.at, fault.end, fault.rate, coin)
                )
            case NodeFailureFault():
                if fault.at < self.horizon:
                    self.later(fault.at, lambda: self.fail_node(index, fault))
            case _:
                raise TypeError(f"unknown fault {fault!r}")

    # --- helpers -------------------------------------------------------------------------------

    def later(self, delay: float, action: Callable[[], object]) -> None:
        """Run ``action`` ``delay`` seconds from now."""
        self.env.timeout(delay).callbacks.append(lambda _: action())  # type: ignore[union-attr]

    def draw(self, stream: str, add: Latency) -> Callable[[], float]:
        if isinstance(add, float | int):
            value = float(add)
            return lambda: value
        return self.engine.sampler(stream, add)

    def crash(self, fault: int, service: str, index: int) -> bool:
        """Kill replica ``index`` of ``service`` if it is up; whether it was."""
        if not self.stations[service].replicas[index].alive:
            return False
        self.stations[service].crash(index)
        self.log.append(FaultEvent(self.env.now, fault, "crash", service, index))
        return True

    def restart(self, fault: int, service: str, index: int) -> None:
        """Bring replica ``index`` of ``service`` back (registering again) unless it is up already."""
        if self.stations[service].replicas[index].alive:
            return
        self.stations[service].restart(index)
        discovery = self.discovery.get(service)
        if discovery is not None:
            discovery.register(index)
        self.log.append(FaultEvent(self.env.now, fault, "restart", service, index))

    def fail_node(self, fault_index: int, fault: NodeFailureFault) -> None:
        """Node ``fault.node`` goes down: crash every replica on it at once; bring them back with it."""
        placement = self.engine.placement
        assert placement is not None  # checked: a node_failure needs nodes
        placement.pool.fail(fault.node)
        crashed = [
            (service, index)
            for service, index in placement.replicas(fault.node)
            if self.crash(fault_index, service, index)
        ]

        def restore() -> None:
            placement.pool.restore(fault.node)
            still = set(placement.replicas(fault.node))
            for service, index in crashed:
                stopped = getattr(self.stations[service].replicas[index], "state", None) == STOPPED
                if (service, index) in still and not stopped:
                    self.restart(fault_index, service, index)
            placement.freed()

        if fault.restart_after is not None:
            self.later(fault.restart_after, restore)

    def slow(self, replicas: list[Replica], factor: float, at: float, end: float) -> None:
        """Multiply the replicas' slowdown by ``factor`` from ``at`` to ``end``, then undo it."""
        if at >= self.horizon:
            return
        saved: list[float] = []

        def begin() -> None:
            saved[:] = [replica.slowdown for replica in replicas]
            for replica, before in zip(replicas, saved, strict=True):
                replica.slowdown = before * factor
            if end < inf:
                self.later(end - at, restore)

        def restore() -> None:
            for replica, before in zip(replicas, saved, strict=True):
                # back to what it was, or -- if something else changed it meanwhile -- undo only ours
                replica.slowdown = (
                    before if replica.slowdown == before * factor else replica.slowdown / factor
                )

        self.later(at, begin)

    # --- hooks on call nodes, installed while routes compile -----------------------------------

    def hook(self, caller: str, callee: str, node: CallNode) -> CallNode | EdgeFaults:
        """``node`` (a call from ``caller`` to ``callee``) with the faults on that service and edge."""
        env = self.env
        if callee in self.service_latency:
            node.demand = _added_work(env, node.demand, self.service_latency[callee])
        if callee in self.service_errors:
            node.after_work = _erring_work(env, node.station, node.after_work, self.service_errors[callee])
        edge = (caller, callee)
        latency = self.edge_latency.get(edge, [])
        errors = self.edge_errors.get(edge, [])
        partitions = self.partitions.get(frozenset(edge), [])
        if latency or errors or partitions:
            return EdgeFaults(self, node, latency, errors, partitions)
        return node


def _added_work(
    env: simpy.Environment, demand: Callable[[], float], windows: list[Added]
) -> Callable[[], float]:
    """A call's demand plus the latency of every window open when its service starts."""

    def added() -> float:
        value = demand()
        now = env.now
        for start, end, draw in windows:
            if start <= now < end:
                value += draw()
        return value

    return added


def _erring_work(
    env: simpy.Environment, station: Station, after_work: Callable[[Call], None], windows: list[Erring]
) -> Callable[[Call], None]:
    """The end of a call's own work: with probability ``rate`` in a window, answer with an error."""

    def after(call: Call) -> None:
        now = env.now
        for start, end, rate, coin in windows:
            if start <= now < end and coin() < rate:
                station.release(call, False)
                return
        after_work(call)

    return after


class EdgeFaults:
    """A call node on a faulted edge: adds latency to its hops, aborts calls, loses messages.

    A request is judged when it is sent: lost if a partition is up (the caller fails when it heals),
    aborted with an error's probability (the caller fails at once), otherwise delayed by the added
    latency before its usual hop. A response is judged when it would arrive: lost in a partition,
    otherwise delayed by the added latency.
    """

    __slots__ = ("errors", "faults", "latency", "node", "partitions")

    def __init__(
        self,
        faults: Faults,
        node: CallNode,
        latency: list[Added],
        errors: list[Erring],
        partitions: list[tuple[float, float]],
    ) -> None:
        self.faults, self.node = faults, node
        self.latency, self.errors, self.partitions = latency, errors, partitions

    def heal(self, now: float) -> float | None:
        """When the partition up at ``now`` heals, or ``None`` when none is."""
        for start, end in self.partitions:
            if start <= now < end:
                return end
        return None

    def extra(self, now: float) -> float:
        return sum(draw() for start, end, draw in self.latency if start <= now < end)

    def start(self, request: Request, k: Continuation) -> None:
        self.send(Call(self.faults.env, self.node, request, k))

    def send(self, call: Call) -> None:
        """Put ``call`` on the faulted wire: lost, aborted, or delayed on its way there and back."""
        now = self.faults.env.now
        k = call.k
        heal = self.heal(now)
        if heal is not None:
            self.faults.later(heal - now, lambda: k.resume(False))
            return
        for start, end, rate, coin in self.errors:
            if start <= now < end and coin() < rate:
                k.resume(False)
                return
        if self.latency or self.partitions:
            call.k = _Reply(self, k)
        extra = self.extra(now)
        if extra > 0:
            self.faults.later(extra, lambda: self.node.send(call))
        else:
            self.node.send(call)


class _Reply:
    """The caller's continuation seen through a faulted edge: the response may be delayed or lost."""

    __slots__ = ("edge", "k")

    def __init__(self, edge: EdgeFaults, k: Continuation) -> None:
        self.edge, self.k = edge, k

    @property
    def span(self) -> int:
        return self.k.span

    def resume(self, ok: bool) -> None:
        edge, k = self.edge, self.k
        now = edge.faults.env.now
        heal = edge.heal(now)
        if heal is not None:
            edge.faults.later(heal - now, lambda: k.resume(False))
            return
        extra = edge.extra(now)
        if extra > 0:
            edge.faults.later(extra, lambda: k.resume(ok))
        else:
            k.resume(ok)


class _Cycle:
    """One replica's random life under ``crashes``: exponential up times, then exponential repairs."""

    def __init__(
        self, faults: Faults, index: int, fault: CrashesFault, replica: int, draw: Callable[[], float]
    ) -> None:
        self.faults, self.index, self.fault, self.replica, self.draw = faults, index, fault, replica, draw
        self.end = min(faults.horizon, inf if fault.end is None else fault.end)
        self.up(fault.start)

    def up(self, at: float) -> None:
        """Schedule the next failure ``at`` + an up time from now, if it falls before the end."""
        delay = at - self.faults.env.now + self.fault.mtbf * self.draw()
        if self.faults.env.now + delay < self.end:
            self.faults.later(delay, self.fail)

    def fail(self) -> None:
        fault = self.fault
        if self.faults.crash(self.index, fault.service, self.replica):
            self.faults.later(fault.mttr * self.draw(), self.repair)
        else:  # already down for another reason: stay on the up-time clock
            self.up(self.faults.env.now)

    def repair(self) -> None:
        self.faults.restart(self.index, self.fault.service, self.replica)
        self.up(self.faults.env.now)


class _Monkey:
    """A chaos monkey: kills a uniformly chosen live replica at the events of a Poisson process."""

    def __init__(self, faults: Faults, index: int, fault: ChaosMonkeyFault) -> None:
        self.faults, self.index, self.fault = faults, index, fault
        self.services = fault.services or list(faults.stations)
        self.end = min(faults.horizon, inf if fault.end is None else fault.end)
        self.gap = faults.engine.sampler(f"fault:{index}", _UNIT_EXPONENTIAL)
        self.pick = faults.engine.sampler(f"fault:{index}/victim", _UNIT)
        self.next(fault.start)

    def next(self, at: float) -> None:
        delay = at - self.faults.env.now + self.fault.interval * self.gap()
        if self.faults.env.now + delay < self.end:
            self.faults.later(delay, self.strike)

    def strike(self) -> None:
        faults = self.faults
        live = [
            (name, replica.index)
            for name in self.services
            for replica in faults.stations[name].replicas
            if replica.alive
        ]
        if live:
            name, replica = live[min(int(self.pick() * len(live)), len(live) - 1)]
            faults.crash(self.index, name, replica)
            if self.fault.restart_after is not None:
                faults.later(self.fault.restart_after, lambda: faults.restart(self.index, name, replica))
        self.next(faults.env.now)
