"""Both kinds of app run on a loopback ephemeral port and stop cleanly when the block ends."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from aiohttp import web
from fastapi import FastAPI

from live.common.lifecycle import lifecycle_of
from live.common.server import running
from tests.live.http import call

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


SLOW_SERVICE = """
import asyncio, sys
from pathlib import Path
from aiohttp import web
from live.common.observability import instrument
from live.common.server import serve
from live.common.settings import InstanceSettings

async def slow(request):
    await asyncio.sleep(1.0)
    return web.json_response({"done": True})

app = web.Application()
app.router.add_get("/slow", slow)
settings = InstanceSettings("slow", "slow-1", Path(sys.argv[1]))
instrument(app, settings)
serve(app, settings, grace=5.0)
"""


def test_sigterm_lets_the_request_in_progress_finish_and_refuses_readiness_meanwhile(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", SLOW_SERVICE, str(tmp_path)])
    run_file = tmp_path / "run" / "slow-1.json"
    try:
        deadline = time.monotonic() + 20
        while not run_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        url = json.loads(run_file.read_text())["url"]
        answers = []
        request = threading.Thread(target=lambda: answers.append(call("GET", f"{url}/slow")))
        request.start()
        time.sleep(0.3)  # the request is inside the handler now
        child.terminate()
        time.sleep(0.2)
        assert call("GET", f"{url}/ready").status == 503  # draining: still answering, not ready
        request.join(timeout=10)
        assert [answer.status for answer in answers] == [200]
        assert child.wait(timeout=10) == 0
        assert not run_file.exists()
    finally:
        child.kill()
