"""Workloads at run time: requests and the sources that create them, open or closed loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from simpy.core import NORMAL
from simpy.events import Event

from simulator.engine.protocols import Plan
from simulator.records import CLIENT, Outcome

if TYPE_CHECKING:
    from simulator.engine.build import Engine

__all__ = ["NOBODY", "ClosedSource", "OpenSource", "Request", "Source", "User"]

NOBODY = -1
"""The client or key of a request whose workload draws none."""

_NEVER = float("inf")


class Request:
    """One request of a workload; as the continuation of its route it records itself when done.

    ``client`` and ``key`` are the sender and the resource asked for, when the workload draws them;
    :data:`NOBODY` (-1) when it does not.

    ``outcome`` is why it fails if it does (an :class:`~simulator.records.Outcome` code: the last
    refusal or timeout on its way, ``error`` by default); ``degraded`` says that some call on its way
    was answered by a fallback; ``deadline`` is when the caller stops waiting (set by the first call
    edge with a ``deadline``, propagated to every call the request makes).
    """

    __slots__ = ("arrival", "client", "deadline", "degraded", "id", "key", "outcome", "owner")
    span = CLIENT  # the calls of its route, outside any call, are made by the client

    def __init__(self, rid: int, arrival: float, owner: Source, client: int, key: int) -> None:
        self.id, self.arrival, self.owner, self.client, self.key = rid, arrival, owner, client, key
        self.outcome = Outcome.ERROR
        self.degraded = False
        self.deadline = _NEVER

    @property
    def route(self) -> str:
        return self.owner.route

    def resume(self, ok: bool) -> None:
        self.owner.finished(self, ok)


class Source(Event):
    """A workload: creates requests (open loop: on its arrival times; closed loop: per user)."""

    def __init__(self, engine: Engine, code: int, route: str, plan: Plan, limit: int | None) -> None:
        self.env, self.engine, self.code, self.route, self.plan = engine.env, engine, code, route, plan
        self.limit = limit if limit is not None else -1
        self.next_client: Callable[[], int] | None = None
        self.next_key: Callable[[], int] | None = None
        self.horizon = engine.horizon
        self._codes = engine.recorder.request_codes.extend
        self._times = engine.recorder.request_times.extend

    def launch(self, now: float) -> Request:
        engine = self.engine
        client = NOBODY if self.next_client is None else self.next_client()
        key = NOBODY if self.next_key is None else self.next_key()
        request = Request(engine.next_id, now, self, client, key)
        engine.next_id += 1
        self.limit -= 1
        self.plan.start(request, request)
        return request

    def finished(self, request: Request, ok: bool) -> None:
        status = (Outcome.FALLBACK if request.degraded else Outcome.OK) if ok else request.outcome
        self._codes((request.id, self.code, status, request.client, request.key))
        self._times((request.arrival, self.env._now))


class OpenSource(Source):
    def __init__(
        self, engine: Engine, code: int, route: str, plan: Plan, limit: int | None, times: object
    ) -> None:
        super().__init__(engine, code, route, plan, limit)
        self._ok, self._value = True, None
        self.times = iter(times)  # type: ignore[call-overload]
        self.callbacks = [self.fire]
        self.wake()

    def wake(self) -> None:
        """Schedule the next arrival; or stop, now at the limit, or when none is left before the horizon."""
        if self.limit == 0:
            self.engine.stopped(self, self.env._now)
            return
        at = next(self.times, None)
        if at is None:
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
        route: str,
        plan: Plan,
        limit: int | None,
        users: int,
        think_time: Callable[[], float],
    ) -> None:
        super().__init__(engine, code, route, plan, limit)
        self.think_time = think_time
        self.waiting: dict[Request, User] = {}
        for _ in range(users):
            User(self)

    def finished(self, request: Request, ok: bool) -> None:
        super().finished(request, ok)
        self.waiting.pop(request).resume(ok)
