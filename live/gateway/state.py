"""The gateway's live objects, built once from its configuration: what the request path uses and
what metrics read (breaker states, bulkhead occupancy, cache and limiter statistics).

Everything here is a :mod:`patterns` object on the gateway's clock. One :class:`RouteState` per route:

- ``policy``: the route's balancing policy (its own or the global one), fed ``started``/``finished``
  for every try, keyed by instance id (``orders-2``), so weights in the YAML name instances;
- ``breaker``: one circuit breaker per route, that is per backend service. An instance that fails
  alone is handled by retrying on another instance (and leaves the breaker closed when the retry
  succeeds); the breaker opens when the service as a whole keeps failing, and then fails fast. It
  records one outcome per client request, after its retries, with the request's total duration;
- ``bulkhead``, ``retry``/``budget``, ``cache``: as configured, None when switched off.

The per-client limiter is gateway-wide: one token bucket per client across all routes.
:meth:`GatewayState.watch_breakers` is the hook for metrics: it reports every breaker's state now and
on each transition.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from live.gateway.caching import ResponseCache
from live.gateway.config import GatewayConfig, RouteConfig
from live.gateway.resilience import AsyncBulkhead
from patterns.balancing import Policy
from patterns.breaker import BreakerState, CircuitBreaker, Transition
from patterns.clock import Clock
from patterns.ratelimit import KeyedLimiter, TokenBucket
from patterns.retry import RetryBudget, RetryPolicy, make_backoff

__all__ = ["BreakerListener", "GatewayState", "RouteState"]


@dataclass
class RouteState:
    """The resilience objects of one route (see the module docstring)."""

    name: str
    config: RouteConfig
    policy: Policy
    retry: RetryPolicy
    budget: RetryBudget | None
    breaker: CircuitBreaker | None
    bulkhead: AsyncBulkhead | None
    cache: ResponseCache | None

    @classmethod
    def build(
        cls,
        name: str,
        config: RouteConfig,
        gateway: GatewayConfig,
        clock: Clock,
        rng: random.Random,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> RouteState:
        retry = config.retry
        backoff = make_backoff(retry.backoff, base=retry.base, cap=retry.cap, rng=rng)
        budget, breaker, bulkhead, cache = config.retry_budget, config.breaker, config.bulkhead, config.cache
        return cls(
            name=name,
            config=config,
            policy=(config.balancing or gateway.balancing).build(clock),
            retry=RetryPolicy(retry.attempts, backoff, retry.on),
            budget=None
            if budget is None
            else RetryBudget(budget.ratio, budget.min_per_second, budget.window, clock),
            breaker=None
            if breaker is None
            else CircuitBreaker(breaker, clock=clock, on_transition=on_transition),
            bulkhead=None
            if bulkhead is None
            else AsyncBulkhead(bulkhead.max_concurrent, bulkhead.max_waiting, bulkhead.max_wait),
            cache=None if cache is None else ResponseCache(name, cache, clock),
        )


BreakerListener = Callable[[str, BreakerState], None]
"""Told ``(route name, new state)``: how metrics follow the breakers."""


@dataclass
class GatewayState:
    """All routes' states by name, and the per-client rate limiter (None when switched off)."""

    config: GatewayConfig
    clock: Clock
    routes: dict[str, RouteState] = field(default_factory=dict)
    limiter: KeyedLimiter[str] | None = None
    breaker_listeners: list[BreakerListener] = field(default_factory=list)

    @classmethod
    def build(cls, config: GatewayConfig, clock: Clock, rng: random.Random | None = None) -> GatewayState:
        rng = rng or random.Random()
        limit = config.rate_limit
        limiter = (
            None
            if limit is None
            else KeyedLimiter(lambda: TokenBucket(limit.rate, limit.burst, clock), limit.max_clients)
        )
        state = cls(config, clock, limiter=limiter)
        for name, route in config.routes.items():
            state.routes[name] = RouteState.build(
                name, route, config, clock, rng, partial(state._changed, name)
            )
        return state

    def watch_breakers(self, listener: BreakerListener) -> None:
        """Call ``listener(route, state)`` for every breaker now and on each transition from now on."""
        self.breaker_listeners.append(listener)
        for name, route in self.routes.items():
            if route.breaker is not None:
                listener(name, route.breaker.state)

    def _changed(self, name: str, transition: Transition) -> None:
        for listener in self.breaker_listeners:
            listener(name, transition.to_state)
