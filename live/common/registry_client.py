"""Talking to the live registry over HTTP, and client-side discovery on top of it.

:class:`RegistryClient` is the registry's HTTP API as methods (writes carry the stack's registry
token). :class:`Discovery` is what a caller uses to find a service: the registry's answer kept in a
:class:`patterns.registry.DiscoveryCache` (so a caller asks the registry at most once per refresh
interval per service, and sees a dead instance for at most that long after the registry dropped it),
and an instance picked from it by a :mod:`patterns.balancing` policy (the gateway uses the same
cache, :class:`live.common.discovery.Instances`, with its own per-route policies).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from ssl import SSLContext
from typing import Any

import aiohttp

from live.common.discovery import Instances
from live.common.edges import EdgeMap
from live.common.instances import InstanceInfo
from live.common.settings import InstanceSettings
from live.mesh.tls import client_ssl
from patterns.balancing import NoHealthyInstance, Policy, RoundRobin

__all__ = ["Discovery", "RegistryClient", "RegistryError", "discovery_for", "registry_client_for"]


class RegistryError(RuntimeError):
    """The registry refused a request or could not be reached."""


class RegistryClient:
    """The registry's HTTP API: register, heartbeat, deregister (token needed) and lookup.

    ``ssl`` is aiohttp's argument: a client context presenting the caller's mesh certificate under mTLS.
    """

    def __init__(
        self, url: str, token: str | None = None, timeout: float = 2.0, ssl: SSLContext | bool = True
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.ssl = ssl
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.ssl)
            self._session = aiohttp.ClientSession(timeout=self.timeout, connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def _call(self, method: str, path: str, json: Any = None) -> tuple[int, Any]:
        try:
            async with self.session.request(
                method, f"{self.url}{path}", json=json, headers=self._headers()
            ) as response:
                body = await response.json() if response.content_type == "application/json" else None
                return response.status, body
        except (aiohttp.ClientError, TimeoutError) as error:
            raise RegistryError(f"registry at {self.url} unreachable: {error!r}") from error

    @staticmethod
    def _check(status: int, body: Any, doing: str) -> None:
        if status >= 400:
            message = body.get("error") if isinstance(body, dict) else None
            raise RegistryError(f"{doing}: registry answered {status} {message or ''}".rstrip())

    async def register(
        self, service: str, instance: str, host: str, port: int, metadata: Mapping[str, str] | None = None
    ) -> float:
        """Register an instance; returns the TTL (seconds) within which it must heartbeat."""
        payload = {"instance": instance, "host": host, "port": port, "metadata": dict(metadata or {})}
        status, body = await self._call("POST", f"/services/{service}/instances", payload)
        self._check(status, body, f"registering {instance}")
        return float(body["ttl"])

    async def heartbeat(self, service: str, instance: str) -> bool:
        """Renew the instance's TTL; False if the registry no longer knows it (it must register again)."""
        status, body = await self._call("PUT", f"/services/{service}/instances/{instance}/heartbeat")
        if status == 404:
            return False
        self._check(status, body, f"heartbeat of {instance}")
        return True

    async def deregister(self, service: str, instance: str) -> None:
        """Remove the instance (a no-op if the registry already dropped it)."""
        status, body = await self._call("DELETE", f"/services/{service}/instances/{instance}")
        if status != 404:
            self._check(status, body, f"deregistering {instance}")

    async def lookup(self, service: str) -> list[InstanceInfo]:
        """The routable instances of ``service`` (empty when it has none)."""
        status, body = await self._call("GET", f"/services/{service}")
        if status == 404:
            return []
        self._check(status, body, f"looking up {service}")
        return [InstanceInfo.from_json(item) for item in body["instances"]]


class Discovery:
    """Find and pick instances of a service: registry lookups cached, then a balancing policy."""

    def __init__(
        self,
        client: RegistryClient,
        policy_factory: Callable[[], Policy] = RoundRobin,
        refresh_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        edges: EdgeMap | None = None,
    ) -> None:
        self.client = client
        self.policy_factory = policy_factory
        self.edges = edges
        self.cached = Instances(client.lookup, refresh_interval, clock)
        self.policies: dict[str, Policy] = {}

    async def instances(self, service: str) -> list[InstanceInfo]:
        """The instances of ``service``, from the cache while it is fresh, else from the registry."""
        found = await self.cached.of(service)
        return found if self.edges is None else [self.edges.route(info) for info in found]

    async def pick(self, service: str, key: Any = None) -> InstanceInfo:
        """One instance of ``service`` chosen by its policy; NoHealthyInstance when there is none."""
        found = await self.instances(service)
        if not found:
            raise NoHealthyInstance(f"no instance of {service!r} is registered")
        policy = self.policies.get(service)
        if policy is None:
            policy = self.policies[service] = self.policy_factory()
        return policy.pick(found, key)

    def forget(self, service: str) -> None:
        """Drop the cached answer for ``service`` (after a refused connection): the next pick asks again."""
        self.cached.invalidate(service)


def registry_client_for(settings: InstanceSettings) -> RegistryClient:
    """The registry client of a stack process: its registry, its token, its mesh identity if any."""
    if settings.registry_url is None:
        raise ValueError(f"{settings.instance} has no registry URL (SERVICELAB_REGISTRY_URL)")
    return RegistryClient(settings.registry_url, settings.registry_token, ssl=client_ssl(settings))


def discovery_for(
    settings: InstanceSettings,
    policy_factory: Callable[[], Policy] = RoundRobin,
    refresh_interval: float = 1.0,
) -> Discovery:
    """The Discovery a stack process uses: its registry, and the proxies of its edges if any."""
    client = registry_client_for(settings)
    edges = EdgeMap(settings.state_dir, settings.service)
    return Discovery(client, policy_factory, refresh_interval, edges=edges)
