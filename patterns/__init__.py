"""servicelab's pattern logic: pure Python, clock injected, no I/O.

The simulator runs these classes on virtual time and the live services on real time; neither
re-implements them. Modules: :mod:`patterns.clock`, :mod:`patterns.balancing`,
:mod:`patterns.ratelimit`, :mod:`patterns.cache`, :mod:`patterns.registry`.
"""

from patterns.balancing import (
    POLICIES,
    ConsistentHash,
    LeastOutstanding,
    NoHealthyInstance,
    OutlierEjection,
    PeakEwma,
    Policy,
    PowerOfTwoChoices,
    RandomChoice,
    RoundRobin,
    WeightedRoundRobin,
    make_policy,
)
from patterns.cache import CacheStats, SingleFlight, TTLCache
from patterns.clock import Clock, ManualClock
from patterns.ratelimit import (
    LIMITERS,
    FixedWindow,
    KeyedLimiter,
    RateLimiter,
    SlidingWindowCounter,
    SlidingWindowLog,
    TokenBucket,
    make_limiter,
)
from patterns.registry import Change, DiscoveryCache, Health, HealthCheck, Instance, Registry

__all__ = [
    "LIMITERS",
    "POLICIES",
    "CacheStats",
    "Change",
    "Clock",
    "ConsistentHash",
    "DiscoveryCache",
    "FixedWindow",
    "Health",
    "HealthCheck",
    "Instance",
    "KeyedLimiter",
    "LeastOutstanding",
    "ManualClock",
    "NoHealthyInstance",
    "OutlierEjection",
    "PeakEwma",
    "Policy",
    "PowerOfTwoChoices",
    "RandomChoice",
    "RateLimiter",
    "Registry",
    "RoundRobin",
    "SingleFlight",
    "SlidingWindowCounter",
    "SlidingWindowLog",
    "TTLCache",
    "TokenBucket",
    "WeightedRoundRobin",
    "make_limiter",
    "make_policy",
]
