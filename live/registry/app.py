"""The registry as an HTTP service (FastAPI) around :class:`patterns.registry.Registry`.

Instances register themselves (``POST /services/{service}/instances``), renew their lease every
third of the TTL (``PUT .../heartbeat``) and deregister when they stop gracefully (``DELETE``); those
writes need the stack's registry token as a bearer token, so no stray process can join or evict.
Two background loops keep the catalogue true: a sweep evicts instances whose lease ran out (crashed
processes), and an active health check probes every instance's ``/ready`` and reports PASSING,
WARNING or CRITICAL through :class:`patterns.registry.HealthCheck`; lookups (``GET
/services/{service}``, open to all) list only routable instances. Every registered address must be
on loopback: the registry never points callers anywhere else. An instance that registers with
``metadata.scheme = https`` (a mesh server under mTLS) is listed and probed over https, the probes
presenting the registry's own mesh certificate (``client_ssl``). Addresses are on loopback except in
container mode (``loopback_only=False``, ``live/deploy/``), where each instance is its own host on the
container network and registers the name or pod IP it is reached under.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from ssl import SSLContext
from typing import Annotated, Any

import aiohttp
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from live.common.errors import install_json_errors
from live.common.settings import HOST
from patterns.registry import HealthCheck, Instance, Registry

__all__ = ["RegistryConfig", "create_app"]

NAME = r"^[a-z][a-z0-9-]{0,62}$"
_BEARER = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class RegistryConfig:
    """Timings of the registry (seconds). Short defaults: a laptop stack should notice a crash in seconds.

    A crashed instance stays listed for at most ``ttl + sweep_interval``; an instance that answers
    ``/ready`` with an error or not within ``check_timeout`` leaves rotation after
    ``failures_to_critical`` probes ``check_interval`` apart, and is evicted after
    ``deregister_critical_after`` seconds CRITICAL.
    """

    ttl: float = 3.0
    sweep_interval: float = 0.5
    check_interval: float = 1.0
    check_timeout: float = 0.5
    failures_to_critical: int = 2
    successes_to_passing: int = 1
    deregister_critical_after: float = 30.0
    loopback_only: bool = True


class Registration(BaseModel):
    """The body of a registration."""

    instance: str = Field(pattern=NAME, description="instance id, unique in the registry")
    host: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[A-Za-z0-9.-]+$",
        description="127.0.0.1 (the stack lives on loopback) unless the registry runs in container mode",
    )
    port: int = Field(ge=1, le=65535)
    metadata: dict[str, str] = Field(default_factory=dict)


def _split(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


def _describe(registry: Registry, instance: Instance) -> dict[str, Any]:
    host, port = _split(instance.address)
    return {
        "service": instance.service,
        "instance": instance.instance_id,
        "host": host,
        "port": port,
        "url": f"{_scheme(instance)}://{instance.address}",
        "metadata": dict(instance.metadata),
        "health": str(registry.health(instance.service, instance.instance_id)),
        "note": registry.note(instance.service, instance.instance_id),
    }


def _scheme(instance: Instance) -> str:
    return "https" if instance.metadata.get("scheme") == "https" else "http"


def _not_found(service: str, instance: str) -> HTTPException:
    return HTTPException(404, f"no instance {instance!r} registered under service {service!r}")


class _Checker:
    """Probes every registered instance's ``/ready`` when its check is due and reports the result."""

    def __init__(
        self,
        registry: Registry,
        config: RegistryConfig,
        clock: Callable[[], float],
        client_ssl: SSLContext | bool,
    ) -> None:
        self.registry = registry
        self.config = config
        self.clock = clock
        self.client_ssl = client_ssl
        self.checks: dict[str, HealthCheck] = {}

    def _check(self, instance_id: str) -> HealthCheck:
        check = self.checks.get(instance_id)
        if check is None:
            config = self.config
            check = self.checks[instance_id] = HealthCheck(
                config.check_interval,
                config.check_timeout,
                config.failures_to_critical,
                config.successes_to_passing,
            )
        return check

    async def _probe(self, session: aiohttp.ClientSession, instance: Instance) -> None:
        check = self._check(instance.instance_id)
        started = self.clock()
        try:
            async with session.get(f"{_scheme(instance)}://{instance.address}/ready") as response:
                ok, note = response.status == 200, f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as error:
            ok, note = False, type(error).__name__
        elapsed = self.clock() - started
        if ok and check.timed_out(elapsed):
            ok, note = False, f"slow: {elapsed:.3f}s"
        status = check.record(ok, self.clock())
        with contextlib.suppress(KeyError):  # deregistered while we probed
            self.registry.report(instance.service, instance.instance_id, status, note)

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.config.check_timeout)
        connector = aiohttp.TCPConnector(ssl=self.client_ssl)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            while True:
                registered = [
                    instance
                    for service in self.registry.services()
                    for instance in self.registry.instances(service, include_critical=True)
                ]
                for gone in set(self.checks) - {instance.instance_id for instance in registered}:
                    del self.checks[gone]
                now = self.clock()
                due = [instance for instance in registered if self._check(instance.instance_id).due(now)]
                await asyncio.gather(*(self._probe(session, instance) for instance in due))
                await asyncio.sleep(min(self.config.check_interval, self.config.sweep_interval) / 2)


async def _sweep(registry: Registry, interval: float) -> None:
    while True:
        registry.evict_expired()
        await asyncio.sleep(interval)


def create_app(
    token: str,
    config: RegistryConfig | None = None,
    clock: Callable[[], float] = time.monotonic,
    client_ssl: SSLContext | bool = True,
) -> FastAPI:
    """The registry service; writes need ``Authorization: Bearer <token>``; ``client_ssl`` is what its
    health checks connect with (aiohttp's ``ssl`` argument: the registry's mesh identity under mTLS)."""
    if not token:
        raise ValueError("the registry needs a non-empty write token")
    config = config or RegistryConfig()
    registry = Registry(clock, ttl=config.ttl, deregister_critical_after=config.deregister_critical_after)
    checker = _Checker(registry, config, clock, client_ssl)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sweeping = asyncio.create_task(_sweep(registry, config.sweep_interval))
        loops = [sweeping, asyncio.create_task(checker.run())]
        yield
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)

    app = FastAPI(
        title="servicelab registry",
        description="Service registry: register, heartbeat, deregister (bearer token), look up.",
        lifespan=lifespan,
    )
    app.state.registry = registry
    install_json_errors(app)

    def writer(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
        if credentials is None:
            raise HTTPException(401, "registry writes need the stack's token", {"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
            raise HTTPException(403, "wrong registry token")

    writes = [Depends(writer)]

    @app.post("/services/{service}/instances", status_code=201, dependencies=writes)
    def register(service: Annotated[str, Path(pattern=NAME)], body: Registration) -> dict[str, Any]:
        """Register (or re-register) an instance; returns the TTL it must heartbeat within."""
        if config.loopback_only and body.host != HOST:
            raise HTTPException(422, f"host must be {HOST} (the stack lives on loopback), got {body.host!r}")
        try:
            registry.register(Instance(service, body.instance, f"{body.host}:{body.port}", body.metadata))
        except ValueError as error:
            raise HTTPException(409, str(error)) from None
        return {"service": service, "instance": body.instance, "ttl": config.ttl}

    @app.put("/services/{service}/instances/{instance}/heartbeat", dependencies=writes)
    def heartbeat(service: str, instance: str) -> dict[str, Any]:
        """Renew an instance's lease."""
        try:
            registry.heartbeat(service, instance)
        except KeyError:
            raise _not_found(service, instance) from None
        return {"ttl": config.ttl}

    @app.delete("/services/{service}/instances/{instance}", status_code=204, dependencies=writes)
    def deregister(service: str, instance: str) -> Response:
        """Remove an instance that is stopping."""
        try:
            registry.deregister(service, instance)
        except KeyError:
            raise _not_found(service, instance) from None
        return Response(status_code=204)

    @app.get("/services")
    def services() -> dict[str, Any]:
        """Every service with its number of routable and registered instances."""
        return {
            "services": [
                {
                    "service": name,
                    "routable": len(registry.instances(name)),
                    "registered": len(registry.instances(name, include_critical=True)),
                }
                for name in registry.services()
            ]
        }

    @app.get("/services/{service}")
    def lookup(service: str, include_critical: Annotated[bool, Query()] = False) -> dict[str, Any]:
        """The instances of a service callers may route to (all of them with ``include_critical``)."""
        found = registry.instances(service, include_critical=include_critical)
        return {"service": service, "instances": [_describe(registry, instance) for instance in found]}

    @app.get("/changes")
    def changes(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
        """The most recent changes (register, deregister, health, expire, evict_critical), newest last."""
        recent = list(registry.changes)[-limit:]
        return {"index": registry.index, "changes": [change._asdict() for change in recent]}

    return app
