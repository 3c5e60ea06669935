"""Calls through an edge with resilience policies: tries, timeouts, retries, hedges, breaker, bulkhead.

The policies are the objects of :mod:`patterns` (built by :mod:`simulator.resilience`); this module
only runs them on simulated time, as a client library runs them on real time. One
:class:`EdgeGuard` holds the policy objects of one (caller, callee) edge, shared by every call step on
that edge -- as one client object is shared by a service's code. A call step on a guarded edge is a
:class:`GuardedCallNode`; each call through it is an :class:`Exchange`, which sends :class:`Try`
objects through the plain call node:

1. a try takes a bulkhead permit (or waits up to ``max_wait`` in the bulkhead's queue), then a breaker
   permit, then is sent; refusals end the try at once (``bulkhead_full``, ``breaker_open``);
2. it ends when the answer comes back, or when the per-try timeout (never beyond the deadline)
   fires first; the callee is not told and finishes its work anyway. The outcome and duration go to
   the breaker; the first try's duration to the hedge policy's latency window;
3. with hedging, a backup try is sent each hedge delay while no answer has come, up to
   ``max_hedges``; the first success wins and the other tries are cancelled (taken out of their
   queue if they still wait there);
4. when every try of an attempt has failed, the retry policy, the budget and the deadline decide
   on another attempt after the backoff; otherwise the exchange gives up: with the fallback's answer
   if there is one, else as a failure whose reason (timeout, refusal) becomes the request's outcome.

Every try is recorded (the run's ``tries`` table) and every breaker state change (``breakers``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

import simpy
from simpy.events import Event

from patterns.breaker import Transition
from patterns.hedging import NO_FALLBACK
from simulator.engine.calls import Call, CallNode
from simulator.engine.protocols import Continuation
from simulator.engine.timeouts import TimeoutQueue
from simulator.records import BREAKER_STATES, OUTCOMES, Outcome, Recorder
from simulator.resilience import (
    EdgePolicy,
    build_breaker,
    build_bulkhead,
    build_fallback,
    build_hedge,
    build_retry,
)

if TYPE_CHECKING:
    from simulator.engine.faults import EdgeFaults
    from simulator.engine.sources import Request

__all__ = ["FIRST", "HEDGE", "RETRY", "EdgeGuard", "Exchange", "GuardedCallNode", "Try"]

FIRST, RETRY, HEDGE = 0, 1, 2
"""Kinds of try, as coded in the ``tries`` records."""

_STATE_CODE = {name: code for code, name in enumerate(BREAKER_STATES)}


class EdgeGuard:
    """The policy objects of one call edge, on the simulation clock, and where its tries are recorded."""

    def __init__(
        self,
        env: simpy.Environment,
        code: int,
        policy: EdgePolicy,
        recorder: Recorder,
        rng: random.Random,
        sets_request_deadline: bool,
    ) -> None:
        clock = self.clock
        self.env, self.code = env, code
        self.timeout = policy.timeout if policy.timeout is not None else math.inf
        self.timeouts = TimeoutQueue(env, self.timeout) if policy.timeout is not None else None
        self.deadline = policy.deadline
        self.sets_request_deadline = sets_request_deadline and policy.deadline is not None
        self.retry, self.budget = build_retry(policy.retry, rng, clock) if policy.retry else (None, None)
        self.breaker = build_breaker(policy.breaker, clock, self.transition) if policy.breaker else None
        self.bulkhead = build_bulkhead(policy.bulkhead) if policy.bulkhead else None
        self.max_wait = policy.bulkhead.max_wait if policy.bulkhead else 0.0
        self.hedge = build_hedge(policy.hedge, clock) if policy.hedge else None
        self.fallback = build_fallback(policy.fallback, clock) if policy.fallback else None
        self.try_codes, self.try_times = recorder.try_codes.extend, recorder.try_times.extend
        self.breaker_codes, self.breaker_times = recorder.breaker_codes.extend, recorder.breaker_times.append

    def clock(self) -> float:
        return self.env.now

    def transition(self, change: Transition) -> None:
        self.breaker_codes((self.code, _STATE_CODE[change.from_state], _STATE_CODE[change.to_state]))
        self.breaker_times(change.time)

    def later(self, delay: float, action: Callable[[Event], None]) -> Event:
        """Run ``action`` after ``delay`` seconds of simulated time; returns the timer."""
        timer = self.env.timeout(delay)
        timer.callbacks.append(action)  # type: ignore[union-attr]
        return timer

    def hand_over(self) -> None:
        """A permit of the bulkhead is free: give it to the oldest waiter, if any (as a new event)."""
        waiter = self.bulkhead.leave()  # type: ignore[union-attr]
        if waiter is not None:
            self.later(0.0, lambda _: self.grant(waiter))

    def grant(self, waiter: Try) -> None:
        """``waiter`` holds a permit now: send it, or pass the permit on if it was given up meanwhile."""
        if waiter.open:
            waiter.exchange.go(waiter)
        else:
            self.hand_over()


class GuardedCallNode:
    """A call step on an edge with resilience policies: the plain call node, run by an exchange.

    ``wire`` puts a call on the network: the call node itself, or the edge's faults in front of it.
    """

    __slots__ = ("guard", "inner", "wire")

    def __init__(self, inner: CallNode, wire: CallNode | EdgeFaults, guard: EdgeGuard) -> None:
        self.inner, self.wire, self.guard = inner, wire, guard

    def start(self, request: Request, k: Continuation) -> None:
        Exchange(self, request, k)


class Try:
    """One try of an exchange: the call it sent, and whether the exchange still waits for it."""

    __slots__ = ("attempt", "call", "exchange", "kind", "open", "permit", "sent", "timer")

    def __init__(self, exchange: Exchange, kind: int, attempt: int) -> None:
        self.exchange, self.kind, self.attempt = exchange, kind, attempt
        self.open, self.permit = True, False
        self.call: Call | None = None
        self.timer: Event | None = None  # its own timeout timer (one cut short by a deadline)
        self.sent = exchange.guard.env.now

    @property
    def span(self) -> int:
        """Each try is its own span, a child of the call the exchange runs inside."""
        return self.exchange.k.span

    def resume(self, ok: bool) -> None:
        """The answer came back (unheard if the caller stopped waiting: timeout, or another try won)."""
        if self.open:
            self.exchange.answered(self, ok)

    def time_out(self, _: Event) -> None:
        self.exchange.timed_out(self)

    def stop_waiting(self, _: Event) -> None:
        """Waited ``max_wait`` for a bulkhead permit: give up unless the permit came meanwhile."""
        if not self.open:
            return  # the exchange ended while it waited
        exchange = self.exchange
        if exchange.guard.bulkhead.cancel(self):  # type: ignore[union-attr]
            exchange.refused(self, Outcome.BULKHEAD_FULL)


class Exchange:
    """One call through a guarded edge, with all its tries (see the module docstring)."""

    __slots__ = (
        "attempt",
        "done",
        "expires",
        "guard",
        "hedges",
        "k",
        "last",
        "node",
        "previous",
        "request",
        "tries",
    )

    def __init__(self, node: GuardedCallNode, request: Request, k: Continuation) -> None:
        guard = node.guard
        self.node, self.guard, self.request, self.k = node, guard, request, k
        self.attempt, self.hedges, self.previous = 1, 0, None
        self.done, self.last = False, Outcome.ERROR
        self.tries: list[Try] = []
        now = guard.env.now
        expires = request.deadline
        if guard.deadline is not None:
            expires = min(expires, now + guard.deadline)
            if guard.sets_request_deadline:
                request.deadline = expires
        self.expires = expires
        if guard.budget is not None:
            guard.budget.record_request()
        if guard.hedge is not None:
            guard.hedge.record_request()
        if now >= expires:
            self.last = Outcome.TIMEOUT
            self.give_up()
        else:
            self.send(FIRST)

    def send(self, kind: int) -> None:
        guard = self.guard
        attempt = Try(self, kind, self.attempt)
        bulkhead = guard.bulkhead
        if bulkhead is not None and not bulkhead.try_enter():
            if guard.max_wait > 0 and bulkhead.enqueue(attempt):
                self.tries.append(attempt)
                guard.later(guard.max_wait, attempt.stop_waiting)
            else:
                self.tries.append(attempt)
                self.refused(attempt, Outcome.BULKHEAD_FULL)
            return
        self.tries.append(attempt)
        self.go(attempt)

    def go(self, attempt: Try) -> None:
        """Send ``attempt``, which holds a bulkhead permit if the edge has a bulkhead."""
        guard = self.guard
        attempt.permit = guard.bulkhead is not None
        if self.done:  # a hedge or retry that got its permit after the exchange ended
            self.close(attempt)
            self.tries.remove(attempt)
            return
        if guard.breaker is not None and not guard.breaker.try_acquire():
            self.refused(attempt, Outcome.BREAKER_OPEN)
            return
        now = guard.env.now
        attempt.sent = now
        call = attempt.call = Call(guard.env, self.node.inner, self.request, attempt)
        timeout = min(guard.timeout, self.expires - now)
        if guard.deadline is not None:  # propagated: the callee learns when this try stops mattering
            call.expires = now + timeout
        self.node.wire.send(call)
        if attempt.open and timeout < math.inf:
            if timeout == guard.timeout:
                guard.timeouts.add(attempt)  # type: ignore[union-attr]
            else:  # cut short by the deadline: out of the edge's order of expiry
                attempt.timer = guard.later(timeout, attempt.time_out)
        if attempt.open and guard.hedge is not None and attempt.kind != HEDGE:
            self.plan_hedge(attempt.attempt)

    def plan_hedge(self, attempt: int) -> None:
        delay = self.guard.hedge.hedge_delay()  # type: ignore[union-attr]
        if delay is not None and self.guard.env.now + delay < self.expires:
            self.guard.later(delay, lambda _: self.hedge(attempt))

    def hedge(self, attempt: int) -> None:
        """The hedge delay passed: send a backup if this attempt still waits and the policy allows it."""
        hedge = self.guard.hedge
        if self.done or attempt != self.attempt or not self.tries or not hedge.try_hedge(self.hedges):  # type: ignore[union-attr]
            return
        self.hedges += 1
        self.send(HEDGE)
        if self.hedges < hedge.max_hedges:  # type: ignore[union-attr]
            self.plan_hedge(attempt)

    def close(self, attempt: Try) -> None:
        """``attempt`` is over for the caller: give back its bulkhead permit, disarm its own timer.

        A SimPy event cannot leave the schedule, but emptying its callbacks lets the try (and its
        request) be freed now rather than when a long timeout would have fired. (Tries timed by the
        edge's :class:`TimeoutQueue` are skipped there once closed.)
        """
        attempt.open = False
        if attempt.timer is not None:
            if attempt.timer.callbacks:  # None once the timer has fired
                attempt.timer.callbacks.clear()
            attempt.timer = None
        if attempt.permit:
            attempt.permit = False
            self.guard.hand_over()
        attempt.exchange = attempt.call = None  # type: ignore[assignment]  # nothing to reach any more

    def record(self, attempt: Try, outcome: int, end: float) -> None:
        guard = self.guard
        guard.try_codes((self.request.id, guard.code, attempt.attempt, attempt.kind, outcome))
        guard.try_times((attempt.sent, end))

    def refused(self, attempt: Try, outcome: int) -> None:
        """``attempt`` was never sent: the bulkhead or the breaker said no."""
        self.close(attempt)
        self.record(attempt, outcome, self.guard.env.now)
        self.settle(attempt, False, outcome)

    def answered(self, attempt: Try, ok: bool) -> None:
        outcome = Outcome.OK if ok else attempt.call.reason  # type: ignore[union-attr]
        self.finish_try(attempt, ok, outcome)

    def timed_out(self, attempt: Try) -> None:
        if attempt.open:
            self.finish_try(attempt, False, Outcome.TIMEOUT)

    def finish_try(self, attempt: Try, ok: bool, outcome: int) -> None:
        guard = self.guard
        now = guard.env.now
        duration = now - attempt.sent
        self.close(attempt)
        if guard.breaker is not None:
            (guard.breaker.on_success if ok else guard.breaker.on_error)(duration)
        if guard.hedge is not None and attempt.kind != HEDGE:
            guard.hedge.observe(duration)
        self.record(attempt, outcome, now)
        self.settle(attempt, ok, outcome)

    def settle(self, attempt: Try, ok: bool, outcome: int) -> None:
        self.tries.remove(attempt)
        if self.done:
            return
        if ok:
            self.done = True
            self.cancel_others()
            if self.guard.fallback is not None:
                self.guard.fallback.remember(self.request.key, True)
            self.k.resume(True)
            return
        self.last = outcome
        if not self.tries:  # no hedge of this attempt is still out
            self.after_failure()

    def cancel_others(self) -> None:
        now = self.guard.env.now
        for other in self.tries:
            if other.call is None:  # still waiting for a bulkhead permit
                self.guard.bulkhead.cancel(other)  # type: ignore[union-attr]
            else:
                self.node.inner.station.cancel(other.call)
                if self.guard.hedge is not None and other.kind != HEDGE:
                    self.guard.hedge.observe(now - other.sent)
            self.close(other)
            self.record(other, Outcome.CANCELLED, now)
        self.tries.clear()

    def after_failure(self) -> None:
        """Every try of this attempt failed: retry after the backoff, or give up."""
        guard = self.guard
        retry, now = guard.retry, guard.env.now
        if now >= self.expires:
            self.last = Outcome.TIMEOUT
        elif retry is not None and retry.should_retry(self.attempt, OUTCOMES[self.last]):
            delay = retry.backoff.delay(self.attempt, self.previous)
            if now + delay < self.expires and (guard.budget is None or guard.budget.try_retry()):
                self.previous = delay
                self.attempt += 1
                guard.later(delay, lambda _: self.send(RETRY))
                return
        self.give_up()

    def give_up(self) -> None:
        self.done = True
        fallback, request = self.guard.fallback, self.request
        if fallback is not None and fallback.fallback(request.key) is not NO_FALLBACK:
            request.degraded = True
            self.k.resume(True)
            return
        if self.last != Outcome.ERROR:
            request.outcome = self.last
        self.k.resume(False)
