"""What the gateway tests run against: stand-in service instances, signing keys, a gateway on loopback.

:class:`Backend` is a small aiohttp app that records every request it gets and answers as the test
sets it (status, delay); the users stand-in also serves a JWKS document. :func:`gateway_running`
starts the backends and a gateway over them, each on its own ephemeral loopback port, and stops them
all when the ``with`` block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from live.common.instances import InstanceInfo
from live.common.server import running
from live.gateway.app import create_app
from live.gateway.config import GatewayConfig, parse_gateway_config
from patterns.clock import Clock

__all__ = [
    "Answer",
    "Backend",
    "Keys",
    "Running",
    "bearer",
    "closed_port",
    "config",
    "gateway_running",
    "jwks_of",
    "send",
    "send_all",
]


@dataclass
class Seen:
    """One request as a backend received it."""

    method: str
    path_qs: str
    headers: CIMultiDictProxy[str]
    body: bytes


@dataclass
class Backend:
    """A stand-in instance of ``service``: answers JSON ``{"instance", "path", "user"}`` with ``status``."""

    service: str
    name: str
    status: int = 200
    delay: float = 0.0
    reply_headers: dict[str, str] = field(default_factory=dict)
    jwks: dict[str, Any] | None = None
    redirect_to: str | None = None  # answer 307 to this path on the instance's own absolute URL
    seen: list[Seen] = field(default_factory=list)
    jwks_fetches: int = 0

    def app(self) -> web.Application:
        async def answer(request: web.Request) -> web.Response:
            body = await request.read()
            self.seen.append(Seen(request.method, request.raw_path, request.headers, body))
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.redirect_to is not None:
                raise web.HTTPTemporaryRedirect(f"http://{request.host}{self.redirect_to}")
            payload = {"instance": self.name, "path": request.raw_path, "user": request.headers.get("X-User")}
            return web.json_response(payload, status=self.status, headers=self.reply_headers)

        async def jwks(request: web.Request) -> web.Response:
            self.jwks_fetches += 1
            if self.jwks is None:
                return web.json_response({"error": "no keys"}, status=404)
            return web.json_response(self.jwks)

        app = web.Application()
        app.router.add_get("/.well-known/jwks.json", jwks)
        app.router.add_route("*", "/{tail:.*}", answer)
        return app

    @property
    def calls(self) -> int:
        return len(self.seen)


class Keys:
    """An Ed25519 signing key with its key id: mints tokens as the users service does."""

    def __init__(self, kid: str | None = None) -> None:
        self.kid = kid or uuid.uuid4().hex[:8]
        self.private = Ed25519PrivateKey.generate()

    def jwk(self) -> dict[str, Any]:
        public = OKPAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": "EdDSA", "use": "sig"}

    def token(
        self,
        subject: str,
        scopes: Sequence[str] = (),
        *,
        expires_in: float = 900,
        audience: str = "servicelab",
        issuer: str = "servicelab-users",
    ) -> str:
        now = time.time()
        claims = {
            "iss": issuer,
            "aud": audience,
            "sub": subject,
            "scope": " ".join(scopes),
            "iat": int(now),
            "exp": int(now + expires_in),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": self.kid})


def jwks_of(*keys: Keys) -> dict[str, Any]:
    return {"keys": [key.jwk() for key in keys]}


def config(routes: Mapping[str, Mapping[str, Any]], **settings: Any) -> GatewayConfig:
    """A validated gateway config with these routes; no rate limit unless ``rate_limit`` is given."""
    data = {"rate_limit": None, "discovery": {"refresh_interval": 0.5}, **settings, "routes": dict(routes)}
    return parse_gateway_config(data)


@dataclass
class Running:
    """A gateway on loopback: its base URL, its app (for its state), and how often discover was asked."""

    url: str
    app: web.Application
    lookups: list[str]

    def api(self, path: str) -> str:
        return f"{self.url}/api{path}"


@contextlib.contextmanager
def gateway_running(
    gateway_config: GatewayConfig,
    backends: Sequence[Backend],
    *,
    clock: Clock = time.monotonic,
    extra: Sequence[InstanceInfo] = (),
    prepare: Callable[[web.Application], object] | None = None,
) -> Iterator[Running]:
    """Serve ``backends`` and a gateway that discovers them (after the ``extra`` instances, such as a
    dead address; ``prepare`` sees the app before it starts); all stopped when the block ends."""
    with contextlib.ExitStack() as stack:
        found: dict[str, list[InstanceInfo]] = {}
        for info in extra:
            found.setdefault(info.service, []).append(info)
        for backend in backends:
            url = stack.enter_context(running(backend.app()))
            port = int(url.rsplit(":", 1)[1])
            found.setdefault(backend.service, []).append(
                InstanceInfo(backend.service, backend.name, "127.0.0.1", port)
            )
        lookups: list[str] = []

        async def discover(service: str) -> list[InstanceInfo]:
            lookups.append(service)
            return list(found.get(service, []))

        app = create_app(gateway_config, discover, clock=clock)
        if prepare is not None:
            prepare(app)
        url = stack.enter_context(running(app))
        yield Running(url, app, lookups)


@dataclass
class Answer:
    """A response as the client saw it."""

    status: int
    headers: CIMultiDict[str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


async def _send(
    session: aiohttp.ClientSession, method: str, url: str, headers: Mapping[str, str] | None, body: Any
) -> Answer:
    async with session.request(
        method, URL(url, encoded=True), headers=headers, data=body, allow_redirects=False
    ) as response:
        return Answer(response.status, CIMultiDict(response.headers), await response.text())


def send(method: str, url: str, headers: Mapping[str, str] | None = None, body: Any = None) -> Answer:
    """One request, waited for (10 s at most); ``url`` goes out as written (no normalising)."""

    async def one() -> Answer:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            return await _send(session, method, url, headers, body)

    return asyncio.run(one())


def send_all(requests: Sequence[tuple[str, str, Mapping[str, str] | None]]) -> list[Answer]:
    """Several requests at once, answers in the order given (10 s at most)."""

    async def many() -> list[Answer]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            return await asyncio.gather(*(_send(session, m, u, h, None) for m, u, h in requests))

    return asyncio.run(many())


def closed_port() -> int:
    """A loopback port nothing listens on (bound by the kernel's choice, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
