"""The least a Python gateway can cost: a bare aiohttp reverse proxy, the floor row of ``gateway.py``.

``python benchmarks/bare_proxy.py UPSTREAM_URL`` listens on 127.0.0.1 (a free port, printed on its
first line of output), strips a leading ``/api`` and forwards every request to ``UPSTREAM_URL`` over
one keep-alive client session, on the same event loop as the stack's processes (uvloop): no routing
table, authentication, limits, resilience, discovery, tracing, metrics or logs. What the gateway
costs above this row is the price of those features; what this row costs above nginx is the price of
Python and aiohttp.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp
from aiohttp import web

from live.common.loop import run
from live.common.sockets import bind_loopback

PREFIX = "/api"


async def serve(upstream: str) -> None:
    async with aiohttp.ClientSession() as session:

        async def forward(request: web.Request) -> web.Response:
            path = request.path_qs.removeprefix(PREFIX)
            body = await request.read()
            async with session.request(request.method, upstream + path, data=body or None) as answer:
                return web.Response(
                    body=await answer.read(), status=answer.status, content_type=answer.content_type
                )

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        sock = bind_loopback()
        await web.SockSite(runner, sock).start()
        print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
        try:
            await asyncio.Event().wait()  # until the benchmark terminates the process
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    run(serve(sys.argv[1]))
