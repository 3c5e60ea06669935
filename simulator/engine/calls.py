"""A visit of a request to a service: the compiled ``call`` step and the event that carries it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import simpy
from simpy.core import NORMAL
from simpy.events import Event

from simulator.engine.protocols import Continuation, Plan
from simulator.engine.stations import Station

if TYPE_CHECKING:
    from simulator.engine.sources import Request

__all__ = ["Call", "CallNode"]


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

    __slots__ = ("after_work", "demand", "env", "latency", "nested", "schedule", "station")

    def __init__(
        self,
        env: simpy.Environment,
        station: Station,
        demand: Callable[[], float],
        latency: Callable[[], float] | None,
        nested: Plan | None,
    ) -> None:
        self.env, self.schedule = env, env.schedule
        self.station, self.demand, self.latency, self.nested = station, demand, latency, nested
        # What the end of the call's own work triggers: release its slot, or make its nested calls.
        self.after_work: Callable[[Call], None] = station.release if nested is None else self.call_nested

    def start(self, request: Request, k: Continuation) -> None:
        call = Call(self.env, self, request, k)
        if self.latency is None:
            self.station.submit(call)
        else:
            call.callbacks = [self.arrive]
            self.schedule(call, NORMAL, self.latency())

    def arrive(self, call: Call) -> None:
        self.station.submit(call)

    def call_nested(self, call: Call) -> None:
        self.nested.start(call.request, call)  # type: ignore[union-attr]

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
