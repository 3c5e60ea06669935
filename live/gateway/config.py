"""The gateway's configuration: one YAML file, validated before the gateway starts.

The file has a few global settings and one entry per route (times are in seconds)::

    strip_prefix: /api            # the gateway serves /api/...; the prefix is removed before forwarding
    max_body_bytes: 1048576       # larger request bodies get 413
    balancing: {policy: round_robin, options: {}}    # any patterns.balancing policy and its options
    rate_limit: {rate: 500, burst: 1000}             # token bucket per client (JWT subject, else IP)
    discovery: {refresh_interval: 1.0}               # how long a discover() answer is reused
    jwks: {service: users, path: /.well-known/jwks.json, refetch_interval: 5.0, timeout: 2.0}
    routes:
      orders:                       # the route's name (labels its metrics)
        prefix: /orders             # matched after the strip: /api/orders/7 -> orders service /orders/7
        service: orders
        auth: token                 # public | token: the default for the route's requests
        scopes: []                  # scopes every request needs (the default for the rules)
        rules:                      # first match wins; a rule overrides auth and/or scopes
          - {methods: [POST, DELETE], scopes: [orders:write]}
          - {methods: [GET], path: /orders/*, scopes: [orders:read]}
        timeout: 2.0                # per try
        deadline: 5.0               # all tries and backoff waits together
        retry: {attempts: 3, backoff: full_jitter, base: 0.05, cap: 0.5,
                on: [error, timeout, 5xx], methods: [GET, HEAD, OPTIONS, PUT, DELETE]}
        retry_budget: {ratio: 0.2, min_per_second: 5, window: 10}
        breaker: {window_size: 20, minimum_calls: 10, failure_rate_threshold: 50, wait_in_open: 5}
        bulkhead: {max_concurrent: 64, max_waiting: 64, max_wait: 1.0}
        cache: {ttl: 2.0, capacity: 1000, paths: [/orders/*]}   # GET 200 answers; null for none

A rule's ``path`` and the cache's ``paths`` are patterns of segments (:mod:`live.gateway.paths`): ``*``
matches one segment, a final ``**`` any rest (including nothing); a rule without ``path`` matches every
path of the route, a cache without ``paths`` keeps answers for all of them. ``retry.methods`` may list only
idempotent methods: any other request is retried only when it carries an ``Idempotency-Key``.
``rate_limit``, ``breaker``, ``bulkhead``, ``cache`` and ``retry_budget`` may be ``null`` to switch
them off. :func:`load_gateway_config` reads and validates a file; every problem comes back in one
:class:`GatewayConfigError` whose lines read ``• routes.orders.timeout: must be > 0``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from live.gateway.paths import check_pattern, path_matches
from patterns.balancing import POLICIES, Policy, make_policy
from patterns.breaker import BreakerConfig
from patterns.retry import BACKOFFS

__all__ = [
    "DEFAULT_CONFIG",
    "IDEMPOTENT_METHODS",
    "Balancing",
    "BulkheadConfig",
    "CacheConfig",
    "GatewayConfig",
    "GatewayConfigError",
    "RateLimitConfig",
    "RetryBudgetConfig",
    "RetryConfig",
    "RouteConfig",
    "Rule",
    "load_gateway_config",
    "parse_gateway_config",
]

DEFAULT_CONFIG = Path(__file__).with_name("gateway.yaml")
"""The configuration shipped with the gateway: routes for users, orders and inventory."""

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
"""Methods whose repetition has the effect of one call (RFC 9110, 9.2.2): safe to retry blindly."""

_METHODS = IDEMPOTENT_METHODS | {"POST", "PATCH"}

Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Method = Annotated[str, Field(pattern=r"^[A-Za-z]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _methods(values: list[str]) -> frozenset[str]:
    upper = frozenset(value.upper() for value in values)
    unknown = sorted(upper - _METHODS)
    if unknown:
        raise ValueError(f"unknown HTTP method(s) {', '.join(unknown)}; known: {', '.join(sorted(_METHODS))}")
    return upper


class Balancing(_Model):
    """A :mod:`patterns.balancing` policy by name, with its options (one policy object per service)."""

    policy: str = "round_robin"
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _buildable(self) -> Balancing:
        if self.policy not in POLICIES:
            raise ValueError(f"unknown policy {self.policy!r}; known policies: {', '.join(POLICIES)}")
        try:
            self.build(time.monotonic)  # make_policy names any unknown or missing option
        except (TypeError, AttributeError) as error:  # an option of the wrong kind
            raise ValueError(f"policy {self.policy!r} cannot take these options: {error}") from None
        return self

    def build(self, clock: Any) -> Policy:
        return make_policy(self.policy, clock=clock, **self.options)


class RateLimitConfig(_Model):
    """A token bucket per client: ``rate`` requests per second sustained, bursts of up to ``burst``."""

    rate: float = Field(gt=0, allow_inf_nan=False)
    burst: float = Field(ge=1, allow_inf_nan=False)
    max_clients: int = Field(10_000, ge=1)


class DiscoveryConfig(_Model):
    """How long the instances ``discover`` returned for a service are reused before asking again."""

    refresh_interval: Seconds = 1.0


class JwksConfig(_Model):
    """Where the token signing keys come from: the JWKS document of a service, fetched and cached."""

    service: str = "users"
    path: str = Field("/.well-known/jwks.json", pattern=r"^/")
    refetch_interval: Seconds = 5.0
    timeout: Seconds = 2.0


class RetryConfig(_Model):
    """At most ``attempts`` tries, waiting ``backoff`` (patterns.retry) between them.

    ``on`` lists the outcomes worth another try: ``error`` (connection failed or dropped), ``timeout``
    and ``5xx`` (the instance answered with a server error). ``methods`` are retried as they are;
    any other request only when it carries an ``Idempotency-Key``.
    """

    attempts: int = Field(3, ge=1, le=10)
    backoff: str = "full_jitter"
    base: Seconds = 0.05
    cap: Seconds = 0.5
    on: frozenset[Literal["error", "timeout", "5xx"]] = frozenset({"error", "timeout", "5xx"})
    methods: frozenset[str] = IDEMPOTENT_METHODS

    @field_validator("backoff")
    @classmethod
    def _known_backoff(cls, value: str) -> str:
        if value not in BACKOFFS:
            raise ValueError(f"unknown backoff {value!r}; known: {', '.join(BACKOFFS)}")
        return value

    @field_validator("methods", mode="before")
    @classmethod
    def _idempotent(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple | set | frozenset):
            return value
        methods = _methods(list(value))
        unsafe = sorted(methods - IDEMPOTENT_METHODS)
        if unsafe:
            raise ValueError(
                f"{', '.join(unsafe)} is not idempotent: such requests are retried only when they "
                "carry an Idempotency-Key, so leave it out of retry.methods"
            )
        return methods

    @model_validator(mode="after")
    def _base_within_cap(self) -> RetryConfig:
        if self.base > self.cap:
            raise ValueError(f"base must be <= cap, got base={self.base}, cap={self.cap}")
        return self


class RetryBudgetConfig(_Model):
    """patterns.retry.RetryBudget: retries up to ``ratio`` of recent requests plus a floor per second."""

    ratio: float = Field(0.2, ge=0, allow_inf_nan=False)
    min_per_second: float = Field(5.0, ge=0, allow_inf_nan=False)
    window: Seconds = 10.0


class BulkheadConfig(_Model):
    """patterns.concurrency.Bulkhead: ``max_concurrent`` in flight, ``max_waiting`` queued for max_wait s."""

    max_concurrent: int = Field(64, ge=1)
    max_waiting: int = Field(64, ge=0)
    max_wait: Seconds = 1.0


class CacheConfig(_Model):
    """patterns.cache.TTLCache of GET answers with status 200: ``capacity`` entries, each for ``ttl`` s.

    ``paths`` limits caching to the paths matching one of its patterns (all paths of the route if unset).
    """

    ttl: Seconds = 2.0
    capacity: int = Field(1000, ge=1)
    paths: tuple[Annotated[str, Field(pattern=r"^/")], ...] | None = None

    def covers(self, path: str) -> bool:
        """Whether answers for ``path`` may be cached."""
        return self.paths is None or any(path_matches(pattern, path) for pattern in self.paths)


class Rule(_Model):
    """Overrides ``auth`` and/or ``scopes`` for the requests it matches (by method and path pattern)."""

    methods: frozenset[str] | None = None
    path: str | None = Field(None, pattern=r"^/")
    auth: Literal["public", "token"] | None = None
    scopes: frozenset[str] | None = None

    @field_validator("methods", mode="before")
    @classmethod
    def _known_methods(cls, value: Any) -> Any:
        return _methods(list(value)) if isinstance(value, list | tuple | set | frozenset) else value

    @model_validator(mode="after")
    def _public_needs_no_scopes(self) -> Rule:
        if self.auth == "public" and self.scopes:
            raise ValueError("a public rule cannot require scopes (nobody is authenticated)")
        if self.auth is None and self.scopes is None:
            raise ValueError("a rule must set auth, scopes or both")
        return self


class RouteConfig(_Model):
    """One backend service behind a path prefix, with its access rules and resilience settings."""

    prefix: str = Field(pattern=r"^/[^/]")
    service: str = Field(min_length=1)
    auth: Literal["public", "token"] = "token"
    scopes: frozenset[str] = frozenset()
    rules: tuple[Rule, ...] = ()
    timeout: Seconds = 2.0
    deadline: Seconds = 5.0
    balancing: Balancing | None = None
    retry: RetryConfig = RetryConfig()
    retry_budget: RetryBudgetConfig | None = RetryBudgetConfig()
    breaker: BreakerConfig | None = BreakerConfig(
        window_size=20,
        minimum_calls=10,
        slow_call_duration=2.0,
        wait_in_open=5.0,
        permitted_calls_in_half_open=3,
    )
    bulkhead: BulkheadConfig | None = BulkheadConfig()
    cache: CacheConfig | None = None

    @field_validator("prefix")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        if value.endswith("/"):
            raise ValueError(f"write the prefix without a trailing slash, got {value!r}")
        return value

    @field_validator("breaker", mode="before")
    @classmethod
    def _breaker(cls, value: Any) -> Any:
        if isinstance(value, dict):
            try:
                return BreakerConfig(**value)
            except TypeError as error:  # an unknown field name
                known = ", ".join(BreakerConfig.__dataclass_fields__)
                raise ValueError(f"{error}; breaker fields are: {known}") from None
        return value

    @model_validator(mode="after")
    def _rules_under_prefix(self) -> RouteConfig:
        patterns = [(f"rules[{i}].path", rule.path) for i, rule in enumerate(self.rules) if rule.path]
        patterns += [
            (f"cache.paths[{i}]", path) for i, path in enumerate(self.cache.paths or () if self.cache else ())
        ]
        for where, pattern in patterns:
            problem = check_pattern(pattern, self.prefix)
            if problem is not None:
                raise ValueError(f"{where}: {problem}")
        for index, rule in enumerate(self.rules):
            if self.auth == "public" and rule.auth is None and rule.scopes:
                raise ValueError(f"rules[{index}] requires scopes on a public route: set auth: token on it")
        if self.auth == "public" and self.scopes:
            raise ValueError("a public route cannot require scopes; set auth: token or move them to rules")
        if self.timeout > self.deadline:
            raise ValueError(f"timeout ({self.timeout} s) must not exceed deadline ({self.deadline} s)")
        return self


class GatewayConfig(_Model):
    """The whole gateway: global settings and the routes by name (see the module docstring)."""

    strip_prefix: str = Field("/api", pattern=r"^/[^/]")
    max_body_bytes: int = Field(1 << 20, ge=0)
    balancing: Balancing = Balancing()
    rate_limit: RateLimitConfig | None = RateLimitConfig(rate=500, burst=1000)
    discovery: DiscoveryConfig = DiscoveryConfig()
    jwks: JwksConfig = JwksConfig()
    routes: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")], RouteConfig] = Field(min_length=1)

    @field_validator("strip_prefix")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        if value.endswith("/"):
            raise ValueError(f"write the prefix without a trailing slash, got {value!r}")
        return value

    @model_validator(mode="after")
    def _distinct_prefixes(self) -> GatewayConfig:
        seen: dict[str, str] = {}
        for name, route in self.routes.items():
            if route.prefix in seen:
                raise ValueError(
                    f"routes {seen[route.prefix]!r} and {name!r} share the prefix {route.prefix!r}"
                )
            seen[route.prefix] = name
        return self


class GatewayConfigError(ValueError):
    """A configuration the gateway refuses; ``problems`` are ``(field path, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        """One line saying where, then ``• field: message`` per problem."""
        count = len(self.problems)
        head = f"{self.source}: " if self.source else ""
        lines = [f"{head}{count} problem{'s' if count != 1 else ''} in the gateway configuration"]
        lines += [f"• {field}: {message}" if field else f"• {message}" for field, message in self.problems]
        return "\n".join(lines)


def _field(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _message(error: Any) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        return "unknown field (a typo?)"
    return message


def parse_gateway_config(data: Any, source: str | None = None) -> GatewayConfig:
    """Validate already-parsed YAML data; raise :class:`GatewayConfigError` listing every problem."""
    if not isinstance(data, dict):
        raise GatewayConfigError([("", f"expected a mapping of settings, got {type(data).__name__}")], source)
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as error:
        problems = [(_field(e["loc"]), _message(e)) for e in error.errors(include_url=False)]
        raise GatewayConfigError(problems, source) from None


def load_gateway_config(path: str | Path = DEFAULT_CONFIG) -> GatewayConfig:
    """Read and validate the YAML file at ``path`` (:class:`GatewayConfigError` on any problem)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise GatewayConfigError([("", f"cannot read the file: {error.strerror or error}")], source) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise GatewayConfigError([("", f"not valid YAML: {error}")], source) from None
    return parse_gateway_config(data, source)
