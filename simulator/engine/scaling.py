"""Autoscaling at run time: replicas that start, become ready, drain and stop, and the control loop.

Services with an ``autoscaling`` block or a deployment (:mod:`simulator.engine.deploying`) use this
module -- a deployed service without an autoscaler gets a :class:`Scaler` without control loop, just
the lifecycle; the others keep the plain
:class:`~simulator.engine.stations.Station` and :class:`~simulator.engine.stations.Replica` and pay
nothing. An autoscaled service gets

* a :class:`Meter`: running integrals, updated when they change (never by scanning records), of
  the busy slots and the slots of its *serving* replicas (ready, not draining), the number of
  serving replicas, and a count of calls that arrived;
* :class:`ScalingReplica` objects, whose ``busy`` is a property that advances the meter when it
  changes (a serving replica's slots are counted from the moment it is ready until it drains);
* a :class:`ScalingStation`, which counts arrivals and notices when a draining replica has finished
  its last call;
* a :class:`Scaler`: every ``sync_period`` (a :class:`~simulator.engine.discovery.Ticker`, stopped at
  the horizon) it reads its metric source, asks the :mod:`patterns.autoscaling` rule for a count
  and starts or drains replicas.

Life of a replica: ``start`` (it exists and costs, but gets no traffic), ``ready`` after the
service's ``startup_time`` (it joins the station's healthy list, or registers with discovery),
``drain`` (it leaves the healthy list or deregisters; with client-side discovery it keeps accepting
for one ``refresh_interval``, the pre-stop wait, since callers still hold the old list; then it
takes no new calls, finishes its queue and calls in service) and ``stop`` (gone: a call that still
reaches it is refused). Each change is a row of the run's ``scaling`` records. The station's
``watchers`` hear ``(replica, True)`` when a replica becomes ready and ``(replica, False)`` when it
starts draining: that is how a consumer of a broker subscribes the replicas the scaler adds, and
unsubscribes a draining one (it takes no new deliveries and finishes, then acknowledges, the ones it
holds; one still on its way when it stops is refused, so nacked and redelivered). A scale-down first
cancels replicas still starting (newest first), then drains the newest serving ones.

Hooks for what comes next:

* **metric sources** are callables returning the current value (:attr:`Scaler.metric_source`);
  :data:`METRIC_SOURCES` maps a metric's name to a factory ``(scaler) -> callable``. ``backlog``
  (KEDA) reads :attr:`Scaler.backlog`, which the engine points at ``Engine.backlog(channel)`` once
  its brokers exist;
* **rolling updates**: :meth:`Scaler.start` takes the new replica's ``slots`` and ``slowdown`` (a
  version is what a replica is started with), and :meth:`Scaler.drain` retires a given replica;
  the vertical policy's :meth:`Scaler.roll` is a rolling restart built on them (surge one successor
  per replica, drain the predecessor when the successor is ready);
* **node placement**: every replica is created by :meth:`Scaler.start` through the engine's
  ``make_replica`` factory, the one place to pick a node (and the slowdown or the failure domain
  that comes with it) before the replica exists. With ``nodes``, a replica that fits on no node is
  *pending*: it has no index and no record yet, and :meth:`Scaler.retry` starts it when the
  placement says capacity freed (the scheduler's queue of unschedulable pods).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from patterns.autoscaling import Autoscaler
from simulator.autoscaling import AutoscalingConfig, QueueConfig, VerticalConfig, build_autoscaler
from simulator.engine.discovery import Discovery, Ticker
from simulator.engine.stations import Replica, Station
from simulator.records import Recorder

if TYPE_CHECKING:
    import simpy

    from simulator.engine.calls import Call

__all__ = ["METRIC_SOURCES", "STOPPED", "Meter", "Scaler", "ScalingReplica", "ScalingStation"]

STARTING, SERVING, PRESTOP, DRAINING, STOPPED = range(5)
_START, _READY, _DRAIN, _STOP = range(4)  # codes of records.SCALING_EVENTS


class Meter:
    """Running integrals over time of one service's serving replicas (advanced on every change)."""

    __slots__ = (
        "arrivals",
        "busy",
        "busy_area",
        "env",
        "replica_area",
        "replicas",
        "slot_area",
        "slots",
        "stamp",
    )

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.busy = self.slots = self.replicas = self.arrivals = 0
        self.busy_area = self.slot_area = self.replica_area = self.stamp = 0.0

    def advance(self) -> None:
        now = self.env._now
        elapsed = now - self.stamp
        if elapsed:
            self.busy_area += self.busy * elapsed
            self.slot_area += self.slots * elapsed
            self.replica_area += self.replicas * elapsed
            self.stamp = now

    def snapshot(self) -> tuple[float, float, float, int, float]:
        self.advance()
        return self.busy_area, self.slot_area, self.replica_area, self.arrivals, self.stamp


class ScalingReplica(Replica):
    """A replica of an autoscaled service: its busy slots feed the meter while it is serving."""

    __slots__ = ("_busy", "counted", "error_rate", "meter", "state", "version")

    def __init__(
        self, index: int, slots: int, queue_capacity: int | None, slowdown: float, meter: Meter
    ) -> None:
        self.meter, self.counted, self._busy, self.state = meter, False, 0, STARTING
        self.version, self.error_rate = 0, 0.0  # the code it runs (a version code of the run)
        super().__init__(index, slots, queue_capacity, slowdown)

    @property  # type: ignore[override]
    def busy(self) -> int:
        return self._busy

    @busy.setter
    def busy(self, value: int) -> None:
        if self.counted:
            meter = self.meter
            meter.advance()
            meter.busy += value - self._busy
        self._busy = value

    def idle(self) -> bool:
        return self._busy == 0 and not self.queue


class ScalingStation(Station):
    """A station whose replicas come and go: counts arrivals, retires drained replicas."""

    __slots__ = ("meter", "scaler")

    def __init__(self, *args: object, meter: Meter, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.meter = meter
        self.scaler: Scaler | None = None

    def submit(self, call: Call) -> None:
        self.meter.arrivals += 1
        Station.submit(self, call)

    def release(self, call: Call, ok: bool = True, status: int | None = None) -> None:
        Station.release(self, call, ok, status)
        replica = call.replica
        if replica.state == DRAINING and replica.idle():  # type: ignore[attr-defined]
            self.scaler.stop(replica)  # type: ignore[union-attr, arg-type]

    def refresh(self) -> None:
        """The serving replicas changed: route to all of them (a deployment may route to fewer)."""
        self.healthy = [r.index for r in self.scaler.serving]  # type: ignore[union-attr]


def _per_replica(scaler: Scaler, value: float) -> float:
    current = len(scaler.starting) + len(scaler.serving)
    return value / current if current else math.nan


def _utilization(scaler: Scaler) -> Callable[[], float]:
    def measure() -> float:
        busy, slots, _, _, _ = scaler.window()
        if slots <= 0:
            return math.nan
        share = len(scaler.serving) / max(1, len(scaler.serving) + len(scaler.starting))
        return busy / slots * (1.0 if scaler.vertical else share)

    return measure


def _concurrency(scaler: Scaler) -> Callable[[], float]:
    def measure() -> float:
        busy, _, _, _, period = scaler.window()
        in_service = busy / period if period > 0 else 0.0
        return _per_replica(scaler, in_service + scaler.waiting())

    return measure


def _rps(scaler: Scaler) -> Callable[[], float]:
    def measure() -> float:
        _, _, _, arrivals, period = scaler.window()
        return _per_replica(scaler, arrivals / period) if period > 0 else math.nan

    return measure


def _queue_length(scaler: Scaler) -> Callable[[], float]:
    def measure() -> float:
        scaler.window()
        backlog = float(scaler.waiting())
        return backlog if isinstance(scaler.config, QueueConfig) else _per_replica(scaler, backlog)

    return measure


def _backlog(scaler: Scaler) -> Callable[[], float]:
    def measure() -> float:
        scaler.window()
        if scaler.backlog is None:
            raise RuntimeError("metric: backlog, but no broker channel was connected to the scaler")
        backlog = float(scaler.backlog())
        return backlog if isinstance(scaler.config, QueueConfig) else _per_replica(scaler, backlog)

    return measure


METRIC_SOURCES: dict[str, Callable[[Scaler], Callable[[], float]]] = {
    "utilization": _utilization,
    "concurrency": _concurrency,
    "rps": _rps,
    "queue_length": _queue_length,
    "backlog": _backlog,
}
"""Metric name -> factory of the scaler's metric source (see the module docstring for the definitions)."""


class Scaler:
    """The control loop of one autoscaled service (none when ``config`` is ``None``: a deployed
    service that does not autoscale), and the lifecycle of its replicas.

    ``version`` is the version code new replicas get unless told otherwise; ``paused`` holds the
    control loop (a rollout is under way); ``on_ready`` is told of every replica that becomes
    ready; ``on_stop`` of every replica that is gone (its node's capacity is free again).
    """

    def __init__(
        self,
        env: simpy.Environment,
        code: int,
        station: ScalingStation,
        config: AutoscalingConfig | None,
        clock: Callable[[], float],
        horizon: float,
        startup: Callable[[], float],
        make_replica: Callable[[int, int, float, int], ScalingReplica | None],
        recorder: Recorder,
        discovery: Discovery | None,
    ) -> None:
        self.env, self.code, self.station, self.config = env, code, station, config
        self.startup, self.make_replica, self.discovery = startup, make_replica, discovery
        self.codes, self.times = recorder.scaling_codes, recorder.scaling_times
        self.vertical = isinstance(config, VerticalConfig)
        self.version, self.paused = station.replicas[0].version, False  # type: ignore[attr-defined]
        self.pending: list[tuple[int, float, int]] = []  # (slots, slowdown, version) waiting for a node
        self.on_ready: list[Callable[[ScalingReplica], None]] = []
        self.on_stop: list[Callable[[ScalingReplica], None]] = []
        self.meter = station.meter
        station.scaler = self
        self.starting: list[ScalingReplica] = []
        self.serving: list[ScalingReplica] = []
        self.draining: list[ScalingReplica] = []
        self.size = station.replicas[0].slots
        self.prestop = (
            discovery.config.refresh_interval
            if discovery is not None and discovery.config.mode == "client_side"
            else 0.0
        )
        self.last = self.meter.snapshot()
        self.backlog: Callable[[], int] | None = None  # a broker channel's backlog (metric: backlog)
        for replica in station.replicas:
            assert isinstance(replica, ScalingReplica)
            self.starting.append(replica)
            self.record(replica, _START)
            self.ready(replica, publish=False)
        station.watchers.append(self.crashed)
        if config is not None:
            self.rule: Autoscaler = build_autoscaler(config, clock)
            self.metric_source: Callable[[], float] = METRIC_SOURCES[config.metric](self)
            Ticker(env, config.sync_period, self.sync, horizon, config.sync_period)

    # -- measurement ---------------------------------------------------------------------------

    def window(self) -> tuple[float, float, float, int, float]:
        """Busy slot-seconds, slot-seconds, replica-seconds, arrivals since the last call; its length."""
        now = self.meter.snapshot()
        deltas = tuple(a - b for a, b in zip(now, self.last, strict=True))
        self.last = now
        return deltas  # type: ignore[return-value]

    def waiting(self) -> int:
        """Calls waiting in the queues of the replicas that hold any (serving or draining)."""
        return sum(len(r.queue) for r in self.serving) + sum(len(r.queue) for r in self.draining)

    # -- the control loop ----------------------------------------------------------------------

    def sync(self) -> None:
        for replica in [r for r in self.draining if r.state == DRAINING and r.idle()]:
            self.stop(replica)  # drained without a release to notice it (a crash, expired calls)
        metric = self.metric_source()
        if self.paused:
            return
        if self.vertical:
            size = self.rule.desired(self.size, metric)
            if size != self.size:
                self.size = size
                self.roll()
            return
        current = len(self.starting) + len(self.serving) + len(self.pending)
        desired = self.rule.desired(current, metric)
        for _ in range(desired - current):
            self.start()
        for _ in range(current - desired):
            if self.pending:
                self.pending.pop()
            elif self.starting:
                self.cancel(self.starting[-1])
            else:
                self.drain(self.serving[-1])

    def roll(self) -> None:
        """A rolling restart to the current size: one successor per replica of another size."""
        for replica in list(self.serving):
            if replica.slots != self.size:
                self.start(self.size)

    # -- the lifecycle -------------------------------------------------------------------------

    def start(
        self, slots: int | None = None, slowdown: float = 1.0, version: int | None = None
    ) -> ScalingReplica | None:
        """Create a replica (``slots`` defaults to the current size, ``version`` to :attr:`version`);
        it is ready after a start-up time. ``None`` if no node has room: it is pending."""
        slots, version = slots or self.size, self.version if version is None else version
        replica = self.make_replica(len(self.station.replicas), slots, slowdown, version)
        if replica is None:
            self.pending.append((slots, slowdown, version))
            return None
        self.station.replicas.append(replica)
        self.starting.append(replica)
        self.record(replica, _START)
        delay = self.startup()
        if delay <= 0:
            self.ready(replica)
        else:
            self.env.timeout(delay).callbacks.append(lambda _: self.ready(replica))
        return replica

    def ready(self, replica: ScalingReplica, publish: bool = True) -> None:
        if replica.state != STARTING:
            return  # cancelled while starting
        self.starting.remove(replica)
        meter = self.meter
        meter.advance()
        meter.busy += replica._busy
        meter.slots += replica.slots
        meter.replicas += 1
        replica.counted, replica.state = True, SERVING
        self.serving.append(replica)
        if publish:
            self.publish(joined=replica)
            for watcher in self.station.watchers:  # a consumer subscribes it
                watcher(replica.index, True)
        self.record(replica, _READY)
        for listener in self.on_ready:
            listener(replica)
        if self.vertical and replica.slots == self.size:
            outdated = [r for r in self.serving if r.slots != self.size]
            if outdated:
                self.drain(outdated[0])

    def cancel(self, replica: ScalingReplica) -> None:
        """Stop a replica that is still starting (it never got traffic)."""
        self.starting.remove(replica)
        replica.state, replica.alive = STOPPED, False
        self.record(replica, _STOP)
        for listener in self.on_stop:
            listener(replica)

    def drain(self, replica: ScalingReplica) -> None:
        """Take ``replica`` out of rotation; it stops when it has finished what it holds."""
        meter = self.meter
        meter.advance()
        meter.busy -= replica._busy
        meter.slots -= replica.slots
        meter.replicas -= 1
        replica.counted = False
        self.serving.remove(replica)
        self.draining.append(replica)
        self.publish(left=replica)
        for watcher in self.station.watchers:  # a consumer unsubscribes it: no new deliveries
            watcher(replica.index, False)
        self.record(replica, _DRAIN)
        if self.prestop > 0:
            replica.state = PRESTOP
            self.env.timeout(self.prestop).callbacks.append(lambda _: self.drained(replica))
        else:
            self.drained(replica)

    def drained(self, replica: ScalingReplica) -> None:
        replica.state = DRAINING
        if replica.idle():
            self.stop(replica)

    def stop(self, replica: ScalingReplica) -> None:
        if replica.state == STOPPED:
            return
        replica.state, replica.alive = STOPPED, False
        self.draining.remove(replica)
        self.record(replica, _STOP)
        for listener in self.on_stop:
            listener(replica)

    def crashed(self, index: int, alive: bool) -> None:
        """A crash emptied a draining replica: it is gone (nothing will release a call to notice)."""
        replica = self.station.replicas[index]
        if not alive and replica.state == DRAINING:  # type: ignore[attr-defined]
            self.stop(replica)  # type: ignore[arg-type]

    def retry(self) -> None:
        """Capacity freed somewhere: start the pending replicas that fit now, oldest first."""
        waiting, self.pending = self.pending, []
        for index, (slots, slowdown, version) in enumerate(waiting):
            if self.start(slots, slowdown, version) is None:
                self.pending += waiting[index + 1 :]  # the one just refused is pending again
                return

    def publish(self, joined: Replica | None = None, left: Replica | None = None) -> None:
        """Tell the callers: through discovery when the service has it, else the healthy list directly."""
        if self.discovery is None:
            self.station.refresh()
        elif joined is not None:
            self.discovery.register(joined.index)
        elif left is not None:
            self.discovery.deregister(left.index)

    def record(self, replica: ScalingReplica, event: int) -> None:
        total = len(self.starting) + len(self.serving) + len(self.draining)
        self.codes.extend((self.code, replica.index, event, replica.slots, len(self.serving), total))
        self.times.append(self.env._now)
