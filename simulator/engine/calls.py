"""A visit of a request to a service: the compiled ``call`` step and the event that carries it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import simpy
from simpy.core import NORMAL
from simpy.events import Event

from patterns.cache import SingleFlight, TTLCache
from simulator.engine.protocols import Continuation, Plan
from simulator.engine.stations import Station
from simulator.records import Outcome, Status

if TYPE_CHECKING:
    from simulator.engine.sources import Request

__all__ = ["CachedCallNode", "Call", "CallNode"]


class Call(Event):
    """One visit of a request to a service, rescheduled as the event of each stage of the visit.

    ``reason`` says why a failed call failed, when the station refused it (an :class:`Outcome`);
    ``expires`` is when its caller stops waiting for it, if the caller says (a propagated deadline).

    ``span`` is the call's span id (unique in the run, numbered in the order calls are sent) and
    ``parent`` the span id of the call whose nested calls made it -- read from the continuation,
    whose ``span`` is that of the nearest enclosing call (:data:`~simulator.records.CLIENT` for a
    call the client made, :data:`~simulator.records.MESSAGE` for a message's delivery to a consumer).
    Both go into the call's ``spans`` row; numbering costs one counter step per call.
    """

    reason = Outcome.ERROR
    expires = float("inf")

    def __init__(self, env: simpy.Environment, node: CallNode, request: Request, k: Continuation) -> None:
        self.env, self.node, self.request, self.k = env, node, request, k
        self._ok, self._value = True, None
        self.succeeded = True
        self.span, self.parent = node.next_span(), k.span

    def resume(self, ok: bool) -> None:
        """The nested calls made while holding the slot are done."""
        self.node.nested_done(self, ok)


class CallNode:
    """A compiled ``call`` step: which station, how long the work takes, the latency, nested calls."""

    __slots__ = (
        "after_work",
        "demand",
        "env",
        "latency",
        "nested",
        "nested_done",
        "next_span",
        "schedule",
        "station",
    )

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
        self.next_span: Callable[[], int] = station.span_ids.__next__
        # What the end of the call's own work triggers: release its slot, or make its nested calls.
        self.after_work: Callable[[Call], None] = station.release if nested is None else self.call_nested
        self.nested_done: Callable[[Call, bool], None] = station.release

    def start(self, request: Request, k: Continuation) -> None:
        self.send(Call(self.env, self, request, k))

    def send(self, call: Call) -> None:
        """Put ``call`` on the wire to the station (or straight in, without network latency)."""
        if self.latency is None:
            self.station.submit(call)
        else:
            call.callbacks = [self.arrive]
            self.schedule(call, NORMAL, self.latency())

    def arrive(self, call: Call) -> None:
        self.station.submit(call)

    def call_nested(self, call: Call) -> None:
        if call.incarnation != call.replica.incarnation:  # died before it could call anyone
            self.station.release(call, False)
        else:
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


class CachedCallNode(CallNode):
    """A gateway call on a cached route: answer from the cache, or call the backends once and store.

    The cache key is (route, request key). A hit releases the call right after the gateway's own
    work, with status ``cached``. On a miss the call makes its nested calls; with coalescing, misses
    for a key already being fetched wait for that fetch instead (status ``coalesced``), holding their
    slots as a waiting thread would.
    """

    __slots__ = ("cache", "flights", "route")

    def __init__(
        self,
        env: simpy.Environment,
        station: Station,
        demand: Callable[[], float],
        latency: Callable[[], float] | None,
        nested: Plan,
        route: str,
        cache: TTLCache,
        flights: SingleFlight | None,
    ) -> None:
        super().__init__(env, station, demand, latency, nested)
        self.route, self.cache, self.flights = route, cache, flights
        self.after_work = self.look_up
        self.nested_done = self.fetched

    def look_up(self, call: Call) -> None:
        key = (self.route, call.request.key)
        if self.cache.get(key) is not None:
            self.station.release(call, True, Status.CACHED)
        elif self.flights is None or self.flights.join(key, call):
            self.nested.start(call.request, call)  # type: ignore[union-attr]

    def fetched(self, call: Call, ok: bool) -> None:
        key = (self.route, call.request.key)
        if ok:
            self.cache.put(key, True)
        waiters = [] if self.flights is None else self.flights.complete(key)
        self.station.release(call, ok)
        for waiter in waiters:
            self.station.release(waiter, ok, Status.COALESCED if ok else Status.FAILED)
