"""Both kinds of app run on a loopback ephemeral port and stop cleanly when the block ends."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest
from aiohttp import web
from fastapi import FastAPI

from live.common.lifecycle import lifecycle_of
from live.common.server import running

pytestmark = pytest.mark.live


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"kind": "fastapi"}

    return app


def aiohttp_app() -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"kind": "aiohttp"})

    app = web.Application()
    app.router.add_get("/hello", hello)
    return app


def refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) != 0


@pytest.mark.parametrize(("make", "kind"), [(fastapi_app, "fastapi"), (aiohttp_app, "aiohttp")])
def test_an_app_serves_on_loopback_then_releases_its_port(make, kind) -> None:
    app = make()
    with running(app) as url:
        assert url.startswith("http://127.0.0.1:")
        assert lifecycle_of(app).ready
        with urllib.request.urlopen(f"{url}/hello", timeout=5) as response:
            assert json.loads(response.read()) == {"kind": kind}
    assert refused(url)
    assert not lifecycle_of(app).ready


def test_an_app_that_fails_to_start_raises_in_the_caller() -> None:
    async def broken(app: web.Application) -> None:
        raise RuntimeError("no database")

    app = aiohttp_app()
    app.on_startup.append(broken)
    with pytest.raises(RuntimeError, match="no database"), running(app):
        pass
