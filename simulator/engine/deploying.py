"""Releases at run time: replicas that run versions, and one controller per deployment.

A service that is deployed (or runs a version with a profile) gets a :class:`VersionStation`: the
dynamic station of :mod:`simulator.engine.scaling` (replicas that start, become ready, drain and
stop, each recorded in ``scaling``) whose replicas carry a ``version`` code and its profile's
``error_rate`` (their ``slowdown`` already includes the profile's). The station

* makes a share ``error_rate`` of the calls of such a replica answer with an error after their work
  (the stream ``version-errors:<service>``; drawn only for replicas with a rate);
* counts, per version, the calls it released, how many failed and their summed time at the
  service: the canary analysis reads differences of these counters over a pause;
* routes with two knobs a rollout turns: ``routable`` (only one version's replicas get new calls: a
  blue-green's old set before the switch) and ``split`` (a canary: the version groups are chosen
  with weights -- stream ``canary:<service>`` -- and the balancer picks within the chosen group).

Controllers (one per deployment, from its ``at``; every timer stops at the horizon) decide with
:mod:`patterns.deployment` and act through the service's :class:`~simulator.engine.scaling.Scaler`:

* :class:`Rolling`: every ``sync_period`` and whenever a replica becomes ready, ``rolling_step``
  says how many new replicas to start and old ones to drain (oldest first);
* :class:`BlueGreen`: start as many new replicas as there are old ones, unroutable; when all are
  ready, route only to them at once and drain the old set;
* :class:`Canary`: for each step grow the canary set to ``max(canary_replicas, ceil(w * desired))``,
  then route ``w`` of the traffic to it; after the pause, ``CanaryAnalysis.judge`` compares the
  canary's calls with the baseline's over that pause: promote (next step), continue (another pause)
  or roll back (drain the canary, all traffic to the baseline). A step of weight 1 ends the split
  and replaces the baseline with a rolling update.

Each change is a row of the ``deployments`` records (:mod:`simulator.records`). While a rollout
runs, the service's autoscaler (if any) holds its count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from simpy.core import NORMAL

from patterns.deployment import CanaryAnalysis, Verdict, VersionStats, rolling_step
from simulator.deployments import Deployment, build_analysis, build_plan
from simulator.engine.discovery import Ticker
from simulator.engine.scaling import Scaler, ScalingReplica, ScalingStation

if TYPE_CHECKING:
    from simulator.engine.build import Engine
    from simulator.engine.calls import Call

__all__ = ["BlueGreen", "Canary", "Deployments", "Rolling", "VersionStation", "install_deployments"]

_STARTED, _STEP, _PROMOTED, _ROLLED_BACK, _COMPLETED = range(5)  # codes of records.DEPLOYMENT_EVENTS


class VersionStation(ScalingStation):
    """A dynamic station whose replicas run versions: errors, per-version counters, weighted routing."""

    __slots__ = ("coin", "error_coin", "groups", "routable", "split", "stats")

    def __init__(
        self, *args: object, coin: Callable[[], float], error_coin: Callable[[], float], **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)
        self.coin, self.error_coin = coin, error_coin
        self.routable: int | None = None  # route only to this version (None: to every serving replica)
        self.split: tuple[int, float] | None = None  # (canary version, its share of the traffic)
        self.groups: tuple[list[int], list[int]] = ([], [])  # (canary, baseline) replica indices
        self.stats: dict[int, list[float]] = {}  # version -> [calls, errors, seconds at the service]

    def refresh(self) -> None:
        serving = self.scaler.serving  # type: ignore[union-attr]
        if self.split is not None:
            canary = self.split[0]
            self.groups = (
                [r.index for r in serving if r.version == canary],
                [r.index for r in serving if r.version != canary],
            )
            self.healthy = self.groups[1] or self.groups[0]
        else:
            routable = self.routable
            self.healthy = [r.index for r in serving if routable is None or r.version == routable]

    def submit(self, call: Call) -> None:
        if self.split is not None:
            canary, baseline = self.groups
            chosen = canary if self.coin() < self.split[1] else baseline
            self.healthy = chosen or canary or baseline  # an empty group yields to the other
        ScalingStation.submit(self, call)

    def begin(self, call: Call, now: float) -> None:
        """As :meth:`Station.begin`, with the version's errors judged when the work ends."""
        door = call.replica.door
        if door is not None:
            call = self.first_live(call, now, door)  # type: ignore[assignment]
            if call is None:
                return
        replica = call.replica
        call.start = now
        call.incarnation = replica.incarnation
        call.callbacks = [self.erring if replica.error_rate else call.node.after_work]  # type: ignore[attr-defined]
        self.schedule(call, NORMAL, call.node.demand() * replica.slowdown)

    def erring(self, call: Call) -> None:
        replica = call.replica
        if call.incarnation == replica.incarnation and self.error_coin() < replica.error_rate:  # type: ignore[attr-defined]
            self.release(call, False)
        else:
            call.node.after_work(call)

    def release(self, call: Call, ok: bool = True, status: int | None = None) -> None:
        replica = call.replica
        counts = self.stats.get(replica.version)  # type: ignore[attr-defined]
        if counts is None:
            counts = self.stats[replica.version] = [0, 0, 0.0]  # type: ignore[attr-defined]
        counts[0] += 1
        counts[1] += not ok or call.incarnation != replica.incarnation or status == _FAILED
        counts[2] += self.env._now - call.arrival
        ScalingStation.release(self, call, ok, status)

    def counters(self, version: int) -> tuple[float, float, float]:
        calls, errors, seconds = self.stats.get(version, (0, 0, 0.0))
        return calls, errors, seconds


_FAILED = 2  # records.Status.FAILED


def install_deployments(engine: Engine) -> Deployments | None:
    """A controller per deployment of the scenario (after the scalers exist); ``None`` if there are none."""
    return Deployments(engine) if engine.scenario.deployments else None


class Deployments:
    """The controllers of one replication."""

    def __init__(self, engine: Engine) -> None:
        self.controllers: list[Rollout] = []
        kinds: dict[str, type[Rollout]] = {"rolling": Rolling, "blue_green": BlueGreen, "canary": Canary}
        for deployment in engine.scenario.deployments:
            self.controllers.append(kinds[deployment.strategy](engine, deployment))


class Rollout:
    """What every strategy shares: its service's scaler and station, the version codes, the records."""

    def __init__(self, engine: Engine, deployment: Deployment) -> None:
        self.env, self.horizon, self.deployment = engine.env, engine.horizon, deployment
        name = deployment.service
        self.scaler: Scaler = engine.scalers[name]
        self.station: VersionStation = engine.stations[name]  # type: ignore[assignment]
        self.code = engine.service_names.index(name)
        self.old, self.new = engine.version_code(name, None), engine.version_code(name, deployment.version)
        self.codes, self.times = engine.recorder.deploy_codes, engine.recorder.deploy_times
        self.done = False
        if deployment.at < self.horizon:
            self.env.timeout(deployment.at).callbacks.append(lambda _: self.begin())

    def begin(self) -> None:
        raise NotImplementedError

    def record(self, event: int, weight: float) -> None:
        self.codes.extend((self.code, self.new, event))
        self.times.extend((self.env._now, weight))

    def later(self, delay: float, action: Callable[[], object]) -> None:
        """Run ``action`` in ``delay`` seconds, unless that is past the horizon."""
        if self.env._now + delay < self.horizon:
            self.env.timeout(delay).callbacks.append(lambda _: action())

    def serving(self, new: bool) -> list[ScalingReplica]:
        return [r for r in self.scaler.serving if (r.version == self.new) == new]

    def coming(self, new: bool) -> int:
        """Replicas of the new (or old) version still starting or pending."""
        starting = sum((r.version == self.new) == new for r in self.scaler.starting)
        return starting + sum((version == self.new) == new for _, _, version in self.scaler.pending)

    def withdraw(self, new: bool) -> None:
        """Cancel the starting and pending replicas of the new (or old) version."""
        self.scaler.pending = [p for p in self.scaler.pending if (p[2] == self.new) != new]
        for replica in [r for r in self.scaler.starting if (r.version == self.new) == new]:
            self.scaler.cancel(replica)

    def finish(self, event: int, weight: float) -> None:
        self.done = True
        self.scaler.paused = False
        self.record(event, weight)


class Replacement:
    """A rolling replacement of the old replicas by ``desired`` new ones (``rolling_step`` decides),
    reconciled every ``sync_period`` and whenever a replica becomes ready; ``then`` when done."""

    def __init__(self, rollout: Rollout, desired: int, then: Callable[[], None]) -> None:
        self.rollout, self.desired, self.then = rollout, desired, then
        self.running = self.again = self.over = False
        rollout.scaler.on_ready.append(lambda _: self.reconcile())
        deployment = rollout.deployment
        Ticker(rollout.env, deployment.sync_period, self.reconcile, rollout.horizon, 0.0)

    def reconcile(self) -> bool:
        """One or more reconcile steps (again if a replica became ready meanwhile); False when done."""
        if self.over:
            return False
        if self.running:  # a replica became ready while this step started it: reconcile after
            self.again = True
            return True
        self.running = True
        try:
            self.again = True
            while self.again and not self.over:
                self.again = False
                self.step()
        finally:
            self.running = False
        return not self.over

    def step(self) -> None:
        rollout, deployment = self.rollout, self.rollout.deployment
        old, ready = rollout.serving(False), rollout.serving(True)
        if not old and len(ready) >= self.desired:
            self.over = True
            self.then()
            return
        start, drain = rolling_step(
            self.desired,
            deployment.max_surge,
            deployment.max_unavailable,
            len(old),
            len(ready),
            rollout.coming(True),
        )
        for replica in sorted(old, key=lambda r: r.index)[:drain]:
            rollout.scaler.drain(replica)
        for _ in range(start):
            rollout.scaler.start(version=rollout.new)


class Rolling(Rollout):
    """Kubernetes' rolling update: ``max_surge`` above and ``max_unavailable`` below the desired count."""

    def begin(self) -> None:
        scaler = self.scaler
        desired = len(scaler.serving) + len(scaler.starting) + len(scaler.pending)
        self.withdraw(new=False)
        scaler.paused, scaler.version = True, self.new
        self.record(_STARTED, 0.0)
        Replacement(self, desired, lambda: self.finish(_COMPLETED, 1.0))


class BlueGreen(Rollout):
    """A full new set beside the old one; all traffic switches when it is ready; the old set drains."""

    def begin(self) -> None:
        scaler = self.scaler
        self.desired = len(scaler.serving) + len(scaler.starting) + len(scaler.pending)
        scaler.paused = True
        self.station.routable = self.old
        self.station.refresh()
        self.record(_STARTED, 0.0)
        scaler.on_ready.append(self.ready)
        for _ in range(self.desired):
            scaler.start(version=self.new)
        self.ready(None)

    def ready(self, _: ScalingReplica | None) -> None:
        if self.done or len(self.serving(True)) < self.desired:
            return
        scaler, station = self.scaler, self.station
        station.routable = self.new
        station.refresh()  # the switch: from now on only the new set gets calls
        self.record(_PROMOTED, 1.0)
        self.withdraw(new=False)
        for replica in self.serving(False):
            scaler.drain(replica)
        station.routable, scaler.version = None, self.new
        self.finish(_COMPLETED, 1.0)


class Canary(Rollout):
    """A canary set sized to its share of the traffic, analysed after each step's pause."""

    def __init__(self, engine: Engine, deployment: Deployment) -> None:
        super().__init__(engine, deployment)
        self.plan = build_plan(deployment)
        self.analysis: CanaryAnalysis = build_analysis(deployment.analysis)
        self.index, self.target, self.waiting = 0, 0, False
        self.mark: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None

    def begin(self) -> None:
        scaler = self.scaler
        self.desired = len(scaler.serving) + len(scaler.starting) + len(scaler.pending)
        scaler.paused = True
        scaler.on_ready.append(self.ready)
        self.record(_STARTED, 0.0)
        self.grow()

    def grow(self) -> None:
        """Size the canary set for the current step, then shift the traffic once it is ready."""
        step = self.plan.steps[self.index]
        if step.weight >= 1:
            self.station.split = None
            self.station.refresh()
            self.scaler.version = self.new
            self.record(_STEP, 1.0)
            Replacement(self, self.desired, lambda: self.finish(_COMPLETED, 1.0))
            return
        deployment = self.deployment
        self.target = max(deployment.canary_replicas, math.ceil(step.weight * self.desired))
        have = len(self.serving(True)) + self.coming(True)
        for _ in range(self.target - have):
            self.scaler.start(version=self.new)
        self.waiting = True
        self.ready(None)

    def ready(self, _: ScalingReplica | None) -> None:
        if not self.waiting or self.done or len(self.serving(True)) < self.target:
            return
        self.waiting = False
        step = self.plan.steps[self.index]
        self.station.split = (self.new, step.weight)
        self.station.refresh()
        self.record(_STEP, step.weight)
        self.mark = (self.station.counters(self.old), self.station.counters(self.new))
        self.later(step.pause, self.judge)

    def judge(self) -> None:
        if self.done or self.mark is None:
            return
        baseline = _stats(self.station.counters(self.old), self.mark[0])
        canary = _stats(self.station.counters(self.new), self.mark[1])
        verdict = self.analysis.judge(baseline, canary)
        step = self.plan.steps[self.index]
        if verdict is Verdict.ROLLBACK:
            self.roll_back()
        elif verdict is Verdict.PROMOTE:
            self.record(_PROMOTED, step.weight)
            self.index += 1
            self.grow()
        else:  # too few calls yet: keep the step (and its counters) for another pause
            self.later(step.pause, self.judge)

    def roll_back(self) -> None:
        station, scaler = self.station, self.scaler
        station.split = None
        self.withdraw(new=True)
        for replica in self.serving(True):
            scaler.drain(replica)
        station.refresh()
        scaler.version = self.old
        self.finish(_ROLLED_BACK, 0.0)


def _stats(now: tuple[float, float, float], then: tuple[float, float, float]) -> VersionStats:
    calls, errors, seconds = (a - b for a, b in zip(now, then, strict=True))
    return VersionStats(int(calls), int(errors), seconds / calls if calls else math.nan)
