"""The API gateway's features in a scenario: authentication cost, protocol translation, rate limits,
response caching.

A service of ``kind: gateway`` may carry a ``gateway`` block. Routing is the route itself (the calls
the gateway makes for that route) and request aggregation is a ``parallel`` step under the gateway;
what this block adds is:

- ``auth`` and ``translation``: CPU time per request for validating the caller's token and for
  translating the protocol (e.g. REST to gRPC), added to the gateway's own work;
- ``rate_limits``: limiters from :mod:`patterns.ratelimit`, per client, per route or for the whole
  gateway, optionally only on some routes; a refused request ends at once with status ``limited``
  (HTTP 429) without reaching the backends;
- ``cache``: responses of read routes cached by (route, key) in a :class:`patterns.cache.TTLCache`;
  a hit is answered by the gateway alone, a miss calls the backends and stores the answer; with
  ``coalesce`` concurrent misses for one key wait for a single backend call (single flight).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from patterns.clock import Clock
from patterns.ratelimit import KeyedLimiter, RateLimiter, make_limiter
from simulator.distributions import Distribution
from simulator.fields import PositiveDuration, Rate, StrictModel

__all__ = ["CacheConfig", "GatewayConfig", "RateLimit", "build_limiter"]


class RateLimit(StrictModel):
    """``limit`` requests per ``window`` (or a ``rate``), counted per client, per route or in total."""

    per: Literal["client", "route", "gateway"] = "client"
    routes: list[str] | None = None
    kind: Literal["token_bucket", "fixed_window", "sliding_log", "sliding_counter"] = "token_bucket"
    limit: float | None = Field(None, gt=0, allow_inf_nan=False)
    rate: Rate | None = None
    window: PositiveDuration = 1.0
    burst: float | None = Field(None, ge=1, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_size(self) -> RateLimit:
        if (self.limit is None) == (self.rate is None):
            raise ValueError("a rate limit needs exactly one of 'limit' (per window) or 'rate' (per second)")
        if self.rate is not None and self.rate <= 0:
            raise ValueError(f"a rate limit's rate must be positive, got {self.rate}/s")
        if self.burst is not None and self.kind != "token_bucket":
            raise ValueError(f"'burst' applies to token_bucket limits only, not to {self.kind}")
        return self

    @property
    def per_window(self) -> float:
        """Requests admitted per ``window`` in the long run."""
        return self.limit if self.limit is not None else self.rate * self.window  # type: ignore[operator]


class CacheConfig(StrictModel):
    """Cache the responses of ``routes`` by request key: LRU of ``capacity`` entries, each for ``ttl``."""

    routes: list[str] = Field(min_length=1)
    capacity: int = Field(ge=1, le=10_000_000)
    ttl: PositiveDuration
    coalesce: bool = True


class GatewayConfig(StrictModel):
    auth: Distribution | None = None
    translation: Distribution | None = None
    rate_limits: list[RateLimit] = Field(default_factory=list)
    cache: CacheConfig | None = None


def build_limiter(config: RateLimit, clock: Clock) -> KeyedLimiter:
    """One limiter per key (client, route, or the single key of the gateway) as ``config`` says."""

    def factory() -> RateLimiter:
        return make_limiter(
            config.kind, limit=config.per_window, window=config.window, clock=clock, burst=config.burst
        )

    return KeyedLimiter(factory, max_keys=1_000_000)
