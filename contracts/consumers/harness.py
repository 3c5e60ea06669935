"""The real consumers, pointed at Pact's mock server through the hooks they have for it.

Nothing is stubbed on the consumer's side: the gateway is :func:`live.gateway.app.create_app` with the
stack's own route file, served on loopback, whose ``discover`` hook (the registry in the stack)
answers the mock server for the provider under test; orders' :class:`~live.orders.inventory.InventoryClient`
gets the same kind of ``discover``. A test then calls the gateway as its clients do (the load
generator, a browser) and checks what they would see.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from contracts.discovery import discover_only
from live.common.instances import InstanceInfo
from live.common.server import running
from live.gateway.app import create_app
from live.gateway.auth import TokenVerifier
from live.gateway.config import load_gateway_config

__all__ = ["Answer", "fetch", "gateway_before"]


@contextmanager
def gateway_before(instance: InstanceInfo, verifier: TokenVerifier | None = None) -> Iterator[str]:
    """The stack's gateway (its own route file) on loopback, finding ``instance``'s service there;
    yields the gateway's base URL. ``verifier``: how it checks tokens (default: users' JWKS, fetched
    from ``instance`` -- the ``gateway -> users`` tests)."""
    app = create_app(load_gateway_config(), discover_only(instance), verifier_source=verifier)
    with running(app) as url:
        yield url


@dataclass(frozen=True)
class Answer:
    """An HTTP answer as a client sees it: status, headers, and the body parsed as JSON (else text)."""

    status: int
    headers: Mapping[str, str]
    body: Any


def fetch(
    method: str,
    url: str,
    *,
    json_body: Any = None,
    form: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Answer:
    """One request with aiohttp (as the load generator sends them); every status is an answer."""

    async def send() -> Answer:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.request(
                method, url, json=json_body, data=dict(form) if form else None, headers=dict(headers or {})
            ) as response,
        ):
            text = await response.text()
            try:
                body = json.loads(text) if text else None
            except ValueError:
                body = text
            return Answer(response.status, dict(response.headers), body)

    return asyncio.run(send())
