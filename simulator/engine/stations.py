"""Services at run time: replicas with ``concurrency`` slots and a FIFO waiting room each."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import simpy
from simpy.core import NORMAL

from simulator.records import Recorder

if TYPE_CHECKING:
    from simulator.engine.calls import Call

__all__ = ["Replica", "Station"]


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
        self,
        env: simpy.Environment,
        recorder: Recorder,
        code: int,
        replicas: int,
        slots: int,
        queue_capacity: int | None,
    ) -> None:
        self.env, self.schedule, self.code = env, env.schedule, code
        self.replicas = [Replica(i, slots, queue_capacity) for i in range(replicas)]
        self.next_replica = 0
        codes, times = recorder.span_codes.extend, recorder.span_times.extend

        def record(call: Call, end: float, status: int) -> None:
            codes((call.request.id, code, call.replica.index, status))
            times((call.arrival, call.start, end))

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
        call.callbacks = [call.node.after_work]
        self.schedule(call, NORMAL, call.node.demand())

    def release(self, call: Call, ok: bool = True) -> None:
        """The call's work (and nested calls) are over: free its slot for the next in line."""
        replica = call.replica
        now = self.env._now
        self.record(call, now, 0 if ok else 2)
        if replica.queue:
            self.begin(replica.queue.popleft(), now)
        else:
            replica.busy -= 1
        call.node.respond(call, ok)
