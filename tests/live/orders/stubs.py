"""Small real servers standing in for a misbehaving inventory (they listen on loopback like the real one)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web

__all__ = ["broken_inventory", "recording_inventory", "slow_proxy"]


def broken_inventory() -> web.Application:
    """Answers every call with a 500 and a text body, as a crashing server does."""

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500, text="Internal Server Error")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fail)
    return app


def recording_inventory(seen: list[dict[str, str]]) -> web.Application:
    """Reserves anything (201) and appends each call's headers to ``seen``."""

    async def reserve(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        body: dict[str, Any] = await request.json()
        return web.json_response({**body, "id": "res-1", "status": "reserved"}, status=201)

    app = web.Application()
    app.router.add_post("/inventory/reservations", reserve)
    return app


def slow_proxy(target: str, delay: float) -> web.Application:
    """Waits ``delay`` seconds, then forwards the call to ``target`` (even if the caller left meanwhile)."""

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        await asyncio.sleep(delay)
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                f"{target}{request.path}",
                data=body,
                headers={"Content-Type": "application/json"},
            ) as answer,
        ):
            return web.Response(
                status=answer.status, body=await answer.read(), content_type="application/json"
            )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    return app
