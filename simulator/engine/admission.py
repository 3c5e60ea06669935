"""Admission control at a replica's door: load shedding, adaptive concurrency limits, expired deadlines.

A :class:`Door` belongs to one replica and is only built for services that shed, limit or must drop
work whose deadline has passed; the station asks it three things:

- ``admit(call, replica)`` on arrival: 0 to let the call in, else the span status of the refusal
  (``shed`` by the :mod:`patterns.concurrency` shedder, ``concurrency_limited`` by the adaptive
  :class:`patterns.concurrency.LimitedGate`);
- ``starting(call, now)`` when a slot is free for it: False when its propagated deadline (its own
  try's, or its request's) has passed -- the caller has stopped waiting: serving it would be wasted
  work -- and the queueing delay is what a latency shedder learns from;
- ``finished(call, now, ok)`` when it leaves, admitted or dropped: the gate's round-trip sample.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from patterns.concurrency import LatencyShedder, LimitedGate, QueueLengthShedder
from simulator.records import Status

if TYPE_CHECKING:
    from simulator.engine.calls import Call
    from simulator.engine.stations import Replica

__all__ = ["Door"]


class Door:
    """One replica's admission control (see the module docstring)."""

    __slots__ = ("expiry", "gate", "latency_shedder", "queue_shedder")

    def __init__(
        self,
        shedder: QueueLengthShedder | LatencyShedder | None,
        gate: LimitedGate | None,
        expiry: bool,
    ) -> None:
        self.queue_shedder = shedder if isinstance(shedder, QueueLengthShedder) else None
        self.latency_shedder = shedder if isinstance(shedder, LatencyShedder) else None
        self.gate, self.expiry = gate, expiry

    def admit(self, call: Call, replica: Replica) -> int:
        shedder = self.queue_shedder
        if shedder is not None and replica.busy >= replica.slots and not shedder.admit(len(replica.queue)):
            return Status.SHED
        if self.latency_shedder is not None and not self.latency_shedder.admit():
            return Status.SHED
        if self.gate is not None and not self.gate.try_acquire():
            return Status.CONCURRENCY_LIMITED
        return 0

    def starting(self, call: Call, now: float) -> bool:
        if self.latency_shedder is not None:
            self.latency_shedder.observe(now - call.arrival)
        return not (self.expiry and (call.expires <= now or call.request.deadline <= now))

    def finished(self, call: Call, now: float, ok: bool) -> None:
        if self.gate is not None:
            self.gate.release(now - call.arrival, dropped=not ok)
