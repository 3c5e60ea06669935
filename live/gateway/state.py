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

:meth:`GatewayState.reconfigure` applies a new configuration while the gateway runs (the config
service's ``gateway.*`` keys, :mod:`live.gateway.live_config`): a part whose settings changed is
built afresh, with a fresh part's state -- a new token bucket starts full (every client may burst
again), a new breaker starts closed with an empty window, a new bulkhead empty, a new cache empty, a
new balancing policy with no history -- and every other part keeps its state. Requests already in
progress finish with the parts they started with (a permit goes back to the bulkhead it came from,
so for a moment both bulkheads' requests run side by side). ``maintenance``, when set, is the
message the gateway answers every request with (503).
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
            policy=(config.balancing or gateway.balancing).build(clock, rng),
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
    rng: random.Random = field(default_factory=random.Random)
    maintenance: str | None = None

    @classmethod
    def build(cls, config: GatewayConfig, clock: Clock, rng: random.Random | None = None) -> GatewayState:
        state = cls(config, clock, limiter=_limiter(config, clock), rng=rng or random.Random())
        for name in config.routes:
            state.routes[name] = state._route(name, config)
        return state

    def _route(self, name: str, config: GatewayConfig) -> RouteState:
        route = config.routes[name]
        return RouteState.build(name, route, config, self.clock, self.rng, partial(self._changed, name))

    def reconfigure(self, config: GatewayConfig) -> list[str]:
        """Rebuild the parts whose settings differ in ``config`` (module docstring); returns their names.

        ``config`` must have the same routes (their prefixes and access rules are fixed at start).
        """
        if set(config.routes) != set(self.routes):
            raise ValueError(f"the routes are fixed while the gateway runs: {', '.join(self.routes)}")
        rebuilt = []
        if config.rate_limit != self.config.rate_limit:
            self.limiter = _limiter(config, self.clock)
            rebuilt.append("rate_limit")
        for name, old in self.routes.items():
            new = self._route(name, config)
            changed = _changed_parts(old.config, self.config, new.config, config)
            for part in _settings(old.config, self.config).keys() - changed:
                setattr(new, part, getattr(old, part))
            self.routes[name] = new
            rebuilt += [f"routes.{name}.{part}" for part in sorted(changed)]
            if "breaker" in changed and new.breaker is not None:
                for listener in self.breaker_listeners:
                    listener(name, new.breaker.state)
        self.config = config
        return rebuilt

    def watch_breakers(self, listener: BreakerListener) -> None:
        """Call ``listener(route, state)`` for every breaker now and on each transition from now on."""
        self.breaker_listeners.append(listener)
        for name, route in self.routes.items():
            if route.breaker is not None:
                listener(name, route.breaker.state)

    def _changed(self, name: str, transition: Transition) -> None:
        for listener in self.breaker_listeners:
            listener(name, transition.to_state)


def _settings(route: RouteConfig, gateway: GatewayConfig) -> dict[str, object]:
    """The settings each rebuildable part of a route's state is made from (the policy: the route's own
    balancing, else the gateway's)."""
    return {
        "policy": route.balancing or gateway.balancing,
        "retry": route.retry,
        "budget": route.retry_budget,
        "breaker": route.breaker,
        "bulkhead": route.bulkhead,
        "cache": route.cache,
    }


def _changed_parts(
    old: RouteConfig, old_gateway: GatewayConfig, new: RouteConfig, gateway: GatewayConfig
) -> set[str]:
    """The parts of a route's state whose settings differ between ``old`` and ``new``."""
    before, after = _settings(old, old_gateway), _settings(new, gateway)
    return {part for part in before if before[part] != after[part]}


def _limiter(config: GatewayConfig, clock: Clock) -> KeyedLimiter[str] | None:
    limit = config.rate_limit
    if limit is None:
        return None
    return KeyedLimiter(lambda: TokenBucket(limit.rate, limit.burst, clock), limit.max_clients)
