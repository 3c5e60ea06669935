"""Services at run time: replicas with ``concurrency`` slots and a FIFO waiting room each.

A station routes each call to a replica with its balancing policy (from :mod:`patterns.balancing`),
tells the policy when the call starts and how it ended (so load- and latency-aware policies learn),
and scales the call's work by the replica's current ``slowdown`` (a slow machine, or a noisy
neighbour that comes and goes).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING

import simpy
from simpy.core import NORMAL
from simpy.events import Event

from patterns.balancing import Policy
from simulator.records import Outcome, Recorder, Status
from simulator.scenario import NoisyNeighbour

if TYPE_CHECKING:
    from simulator.engine.admission import Door
    from simulator.engine.calls import Call

__all__ = ["Neighbour", "Replica", "Station"]


class Replica:
    """One instance: its slots, its queue, how slow it runs, and whether it is up.

    ``incarnation`` counts crashes: a call remembers the incarnation it started in, and one that
    finishes in a later incarnation died with the process. ``door`` is its admission control
    (:mod:`simulator.engine.admission`), if its service sheds, limits or drops expired work.
    """

    __slots__ = (
        "alive",
        "busy",
        "door",
        "incarnation",
        "index",
        "queue",
        "queue_capacity",
        "slots",
        "slowdown",
    )

    def __init__(self, index: int, slots: int, queue_capacity: int | None, slowdown: float = 1.0) -> None:
        self.index, self.slots, self.busy, self.slowdown = index, slots, 0, slowdown
        self.queue: deque[Call] = deque()
        self.queue_capacity = queue_capacity
        self.alive, self.incarnation = True, 0
        self.door: Door | None = None


class Neighbour(Event):
    """A noisy neighbour: alternates quiet and busy spells, slowing its replica while busy.

    It starts quiet; spells are exponential with the configured means; it stops switching at the
    horizon (the replica keeps its state while the system drains).
    """

    def __init__(
        self,
        env: simpy.Environment,
        replica: Replica,
        noisy: NoisyNeighbour,
        draw: Callable[[], float],
        horizon: float,
    ) -> None:
        self.env, self.replica, self.noisy, self.draw, self.horizon = env, replica, noisy, draw, horizon
        self._ok, self._value = True, None
        self.calm, self.busy = replica.slowdown, False
        self.callbacks = [self.switch]
        env.schedule(self, NORMAL, noisy.quiet * draw())

    def switch(self, _: Event) -> None:
        if self.env.now >= self.horizon:
            return
        self.busy = not self.busy
        self.replica.slowdown = self.calm * (self.noisy.slowdown if self.busy else 1.0)
        mean = self.noisy.busy if self.busy else self.noisy.quiet
        self.callbacks = [self.switch]
        self.env.schedule(self, NORMAL, mean * self.draw())


class Station:
    """A service's replicas, their slots and queues, and the policy that routes calls to them."""

    __slots__ = (
        "admit",
        "code",
        "env",
        "front",
        "healthy",
        "key_of",
        "policy",
        "record",
        "replicas",
        "schedule",
        "span_ids",
        "watchers",
    )

    def __init__(
        self,
        env: simpy.Environment,
        recorder: Recorder,
        code: int,
        replicas: list[Replica],
        policy: Policy | None,
        affinity: str | None = None,
        admit: Callable[[Call], bool] | None = None,
        discovered: bool = False,
    ) -> None:
        self.env, self.schedule, self.code = env, env.schedule, code
        self.replicas = replicas
        self.admit = admit
        self.front = Replica(-1, 0, 0)  # where calls refused at the door are recorded
        self.healthy = list(range(len(replicas)))
        self.policy = policy if len(replicas) > 1 or discovered else None
        self.key_of = attrgetter(affinity) if affinity else None  # NOBODY (-1) falls back to round robin
        self.watchers: list[Callable[[int, bool], None]] = []  # told (replica, alive) on crash and restart
        codes, times = recorder.span_codes.extend, recorder.span_times.extend
        self.span_ids = recorder.span_ids  # one numbering of the calls for the whole run

        def record(call: Call, end: float, status: int) -> None:
            codes((call.request.id, call.span, call.parent, code, call.replica.index, status))
            times((call.arrival, call.start, end))

        self.record = record

    def submit(self, call: Call) -> None:
        """``call`` arrives: pass admission, pick a replica, then take a slot, queue, or be rejected."""
        if self.admit is not None and not self.admit(call):
            call.replica = self.front
            call.arrival = call.start = now = self.env._now
            self.record(call, now, Status.LIMITED)
            call.reason = call.request.outcome = Outcome.LIMITED
            call.node.respond(call, False)
            return
        policy = self.policy
        if policy is None:
            replica = self.replicas[0]
        elif not self.healthy:
            self.refuse(call, self.front)
            return
        else:
            key = None if self.key_of is None else self.key_of(call.request)
            index = policy.pick(self.healthy, None if key == -1 else key)
            policy.started(index)
            replica = self.replicas[index]
        self.enter(call, replica)

    def deliver(self, call: Call, index: int) -> None:
        """``call`` is for replica ``index`` itself (a message its consumer took): a slot, or its queue.

        As :meth:`submit` after the balancer's choice (the balancer hears of the call all the same).
        """
        if self.policy is not None:
            self.policy.started(index)
        self.enter(call, self.replicas[index])

    def enter(self, call: Call, replica: Replica) -> None:
        """``call`` reaches ``replica``: refused if it is down, else admitted, served, queued or rejected."""
        if not replica.alive:
            self.refuse(call, replica)
            return
        call.replica = replica
        call.arrival = now = self.env._now
        if replica.door is not None:
            refusal = replica.door.admit(call, replica)
            if refusal:
                self.turn_away(call, now, refusal)
                return
        if replica.busy < replica.slots:
            replica.busy += 1
            self.begin(call, now)
        elif replica.queue_capacity is None or len(replica.queue) < replica.queue_capacity:
            replica.queue.append(call)
        else:
            self.turn_away(call, now, Status.REJECTED)

    def turn_away(self, call: Call, now: float, status: int) -> None:
        """Refuse ``call`` at its replica's door: a full queue, a shedder, a concurrency limit."""
        call.start = now
        self.record(call, now, status)
        call.reason = call.request.outcome = _REFUSAL_OUTCOME[status]
        if self.policy is not None:
            self.policy.finished(call.replica.index, 0.0, False)
        call.node.respond(call, False)

    def refuse(self, call: Call, replica: Replica) -> None:
        """Nobody answers: the chosen replica is down (connection refused) or none is known to be up."""
        call.replica = replica
        call.arrival = call.start = now = self.env._now
        self.record(call, now, Status.REFUSED)
        if self.policy is not None and replica is not self.front:
            self.policy.finished(replica.index, 0.0, False)
        call.node.respond(call, False)

    def begin(self, call: Call, now: float) -> None:
        """Serve ``call`` in the slot just taken or handed over (skipping calls nobody waits for)."""
        door = call.replica.door
        if door is not None:
            call = self.first_live(call, now, door)  # type: ignore[assignment]
            if call is None:
                return
        call.start = now
        call.incarnation = call.replica.incarnation
        call.callbacks = [call.node.after_work]
        self.schedule(call, NORMAL, call.node.demand() * call.replica.slowdown)

    def first_live(self, call: Call, now: float, door: Door) -> Call | None:
        """The first call, from ``call`` on through its replica's queue, that someone still waits for;
        the others are dropped. None (and the slot freed) when the queue runs out."""
        while not door.starting(call, now):
            self.drop_expired(call, now)
            replica = call.replica
            if not replica.queue:
                replica.busy -= 1
                return None
            call = replica.queue.popleft()
        return call

    def drop_expired(self, call: Call, now: float) -> None:
        """Nobody waits for ``call`` any more (its deadline passed while it queued): record it as dropped.

        Its failure reaches the caller through a zero-delay event, after this station's bookkeeping.
        """
        replica = call.replica
        call.start = now
        self.record(call, now, Status.EXPIRED)
        replica.door.finished(call, now, False)  # type: ignore[union-attr]
        if self.policy is not None:
            self.policy.finished(replica.index, now - call.arrival, False)
        call.reason = call.request.outcome = Outcome.TIMEOUT
        call.callbacks = [self.expired]
        self.schedule(call, NORMAL, 0.0)

    @staticmethod
    def expired(call: Call) -> None:
        call.node.respond(call, False)

    def cancel(self, call: Call) -> None:
        """The caller no longer wants ``call`` (a hedge's loser): take it out of its queue if it is there."""
        replica = getattr(call, "replica", None)
        if replica is None or call not in replica.queue:
            return  # still on the wire, or already being served: it runs to the end, unheard
        replica.queue.remove(call)
        now = self.env._now
        call.start = now
        self.record(call, now, Status.CANCELLED)
        if replica.door is not None:
            replica.door.finished(call, now, True)
        if self.policy is not None:
            self.policy.finished(replica.index, now - call.arrival, True)

    def release(self, call: Call, ok: bool = True, status: int | None = None) -> None:
        """The call's work (and nested calls) are over: free its slot for the next in line."""
        replica = call.replica
        now = self.env._now
        if replica.door is not None:
            replica.door.finished(call, now, ok and call.incarnation == replica.incarnation)
        if call.incarnation != replica.incarnation:  # the process died under this call
            self.record(call, now, Status.FAILED)
            if self.policy is not None:
                self.policy.finished(replica.index, now - call.arrival, False)
            call.node.respond(call, False)
            return
        self.record(call, now, (Status.OK if ok else Status.FAILED) if status is None else status)
        if self.policy is not None:
            self.policy.finished(replica.index, now - call.arrival, ok)
        if replica.queue:
            self.begin(replica.queue.popleft(), now)
        else:
            replica.busy -= 1
        call.node.respond(call, ok)

    def crash(self, index: int) -> None:
        """Replica ``index`` dies: queued calls fail now, calls in service fail when they would finish."""
        replica = self.replicas[index]
        replica.alive = False
        replica.incarnation += 1
        replica.busy = 0
        now = self.env._now
        waiting, replica.queue = replica.queue, deque()
        for call in waiting:
            call.start = now
            self.record(call, now, Status.FAILED)
            if replica.door is not None:
                replica.door.finished(call, now, False)
            call.node.respond(call, False)
        for watcher in self.watchers:
            watcher(index, False)

    def restart(self, index: int) -> None:
        """Replica ``index`` is up again, empty."""
        self.replicas[index].alive = True
        for watcher in self.watchers:
            watcher(index, True)


_REFUSAL_OUTCOME = {
    Status.REJECTED: Outcome.REJECTED,
    Status.SHED: Outcome.SHED,
    Status.CONCURRENCY_LIMITED: Outcome.CONCURRENCY_LIMITED,
}
