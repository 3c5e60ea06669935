"""Registry, heartbeats, discovery and replica faults on simulated time.

The registry is :class:`patterns.registry.Registry` and the client-side cache
:class:`patterns.registry.DiscoveryCache`, both reading the simulation clock. This module only
drives them: a heartbeat timer per live replica, a health-check timer per replica when asked for
(:class:`patterns.registry.HealthCheck` decides passing, warning or critical), a sweep timer that
evicts silent replicas, and --
for client-side discovery -- a refresh timer that copies the cache's view into the station's list of
healthy replicas (server-side discovery copies the registry's view on every change). Timers stop at
the horizon.
"""

from __future__ import annotations

from collections.abc import Callable

import simpy
from simpy.core import NORMAL
from simpy.events import Event

from patterns.registry import DiscoveryCache, HealthCheck, Instance, Registry
from simulator.discovery import DiscoveryConfig, ReplicaFault
from simulator.engine.stations import Station

__all__ = ["Discovery", "Ticker", "schedule_fault"]


class Ticker(Event):
    """Calls ``action`` every ``interval`` seconds from ``first`` on, until it says stop or the horizon."""

    def __init__(
        self,
        env: simpy.Environment,
        interval: float,
        action: Callable[[], bool | None],
        horizon: float,
        first: float,
    ) -> None:
        self.env, self.interval, self.action, self.horizon = env, interval, action, horizon
        self._ok, self._value = True, None
        self.callbacks = [self.tick]
        env.schedule(self, NORMAL, first)

    def tick(self, _: Event) -> None:
        if self.env.now >= self.horizon or self.action() is False:
            return
        self.callbacks = [self.tick]
        self.env.schedule(self, NORMAL, self.interval)


class Discovery:
    """Keeps a station's list of healthy replicas as its callers would know it."""

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        station: Station,
        config: DiscoveryConfig,
        clock: Callable[[], float],
        horizon: float,
        phase: Callable[[], float],
    ) -> None:
        self.env, self.name, self.station, self.config, self.horizon = env, name, station, config, horizon
        self.phase = phase
        self.registry = Registry(clock, ttl=config.ttl)
        self.leaving: set[int] = set()
        self.cache = DiscoveryCache(self.registry.instances, clock, refresh_interval=config.refresh_interval)
        for replica in station.replicas:
            self.register(replica.index)
        Ticker(env, config.sweep_interval, self.sweep, horizon, config.sweep_interval)
        if config.mode == "client_side":
            Ticker(env, config.refresh_interval, self.refresh, horizon, 0.0)
        self.publish()

    def instance(self, index: int) -> Instance:
        return Instance(self.name, str(index), f"{self.name}-{index}")

    def register(self, index: int) -> None:
        """Replica ``index`` starts: it registers and heartbeats while it stays in this incarnation."""
        self.leaving.discard(index)
        self.registry.register(self.instance(index))
        replica = self.station.replicas[index]
        incarnation = replica.incarnation

        def beat() -> bool:
            if not replica.alive or replica.incarnation != incarnation or index in self.leaving:
                return False
            try:
                self.registry.heartbeat(self.name, str(index))
            except KeyError:  # evicted while alive (a long pause): register again, as Eureka clients do
                self.registry.register(self.instance(index))
                self.publish()
            return True

        first = self.config.heartbeat_interval * self.phase()
        Ticker(self.env, self.config.heartbeat_interval, beat, self.horizon, first)
        if self.config.health_check is not None:
            self.probe(index, incarnation)
        self.publish()

    def probe(self, index: int, incarnation: int) -> None:
        """The registry's health check of replica ``index``: up and answering, or not."""
        config = self.config.health_check
        assert config is not None
        check = HealthCheck(config.interval, config.interval, config.failures, config.successes)
        replica = self.station.replicas[index]

        def run() -> bool:
            if index in self.leaving or (replica.incarnation != incarnation and replica.alive):
                return False  # gone for good, or a newer incarnation runs its own check
            status = check.record(replica.alive and replica.incarnation == incarnation, self.env.now)
            try:
                if self.registry.health(self.name, str(index)) != status:
                    self.registry.report(self.name, str(index), status)
                    self.publish()
            except KeyError:  # evicted meanwhile
                return False
            return True

        Ticker(self.env, config.interval, run, self.horizon, config.interval * self.phase())

    def deregister(self, index: int) -> None:
        """Replica ``index`` is shutting down gracefully: it leaves the registry and stops heartbeating."""
        self.leaving.add(index)
        self.registry.deregister(self.name, str(index))
        self.publish()

    def sweep(self) -> None:
        if self.registry.evict_expired():
            self.publish()

    def publish(self) -> None:
        """Server side: callers see the registry as it is now."""
        if self.config.mode == "server_side":
            self.station.healthy = [int(i.instance_id) for i in self.registry.instances(self.name)]

    def refresh(self) -> None:
        """Client side: callers fetch the registry on a timer and use that copy until the next fetch."""
        self.cache.invalidate(self.name)
        self.station.healthy = [int(i.instance_id) for i in self.cache.instances(self.name)]


def schedule_fault(
    env: simpy.Environment, fault: ReplicaFault, station: Station, discovery: Discovery | None
) -> None:
    """Take replica ``fault.replica`` down at ``fault.at`` (and back up after ``restart_after``)."""

    def later(delay: float, action: Callable[[], None]) -> None:
        event = env.timeout(delay)
        event.callbacks.append(lambda _: action())

    def down() -> None:
        station.crash(fault.replica)
        if fault.restart_after is not None:
            later(fault.restart_after, up)

    def up() -> None:
        station.restart(fault.replica)
        if discovery is not None:
            discovery.register(fault.replica)

    def begin() -> None:
        if fault.kind == "stop" and discovery is not None:
            discovery.deregister(fault.replica)
            later(fault.drain, down)
        else:
            down()

    later(fault.at, begin)
