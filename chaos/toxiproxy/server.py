"""Running the embedded Toxiproxy: on the current event loop, or in a background thread.

The API and every proxy share one asyncio event loop. :class:`ToxiproxyServer` is the async form
(``servicelab chaos proxy`` uses it); :class:`EmbeddedToxiproxy` runs one in a thread of its own for
synchronous code (tests, experiments):

    with EmbeddedToxiproxy() as toxiproxy:
        requests.post(f"{toxiproxy.url}/proxies", json={...})
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from types import TracebackType

from aiohttp import web

from chaos.toxiproxy.api import build_app
from chaos.toxiproxy.collection import ProxyCollection
from chaos.toxiproxy.errors import ApiError
from live.common.sockets import bind_loopback

__all__ = ["DEFAULT_PORT", "EmbeddedToxiproxy", "ToxiproxyServer"]

DEFAULT_PORT = 8474
"""Toxiproxy's customary API port."""
SHUTDOWN_TIMEOUT = 1.0
"""Seconds a stopping API server waits for open HTTP connections (aiohttp's default is 60)."""


class ToxiproxyServer:
    """The API on 127.0.0.1:``port`` (0: a free port) and the proxies it manages."""

    def __init__(self) -> None:
        self.proxies = ProxyCollection()
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = DEFAULT_PORT, config: Path | None = None) -> None:
        """Listen; with ``config`` (a JSON list of proxies, like ``toxiproxy-server -config``) populate first.

        Raises OSError when the port is taken, ValueError for an unreadable or refused config.
        """
        if config is not None:
            await self.populate_file(config)
        sock = bind_loopback(port)
        self._runner = web.AppRunner(
            build_app(self.proxies), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self.port = sock.getsockname()[1]

    async def populate_file(self, path: Path) -> None:
        try:
            body = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: {error}") from None
        try:
            _, error = await self.proxies.populate(body)
        except ApiError as refused:
            error = refused
        if error is not None:
            raise ValueError(f"{path}: {error.message}")

    async def close(self) -> None:
        self.proxies.stop_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class EmbeddedToxiproxy:
    """A :class:`ToxiproxyServer` on its own event loop in a daemon thread; a context manager."""

    def __init__(self, port: int = 0) -> None:
        self.server = ToxiproxyServer()
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="toxiproxy", daemon=True)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> EmbeddedToxiproxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(self._port), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.server.close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> EmbeddedToxiproxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
