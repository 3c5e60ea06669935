"""A proxy: a listener on 127.0.0.1 whose every connection is piped to ``upstream`` through the toxics.

Fields and their meaning are Toxiproxy's: ``listen`` is rewritten to the bound address once the
proxy listens (``127.0.0.1:0`` becomes ``127.0.0.1:41234``); ``enabled`` false means no listener and
no connections. Each accepted client gets a fresh connection to ``upstream``; if that fails the
client is closed. Changing ``listen`` or ``upstream`` restarts the proxy, dropping its connections.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from typing import Any

from chaos.toxiproxy.connection import Connection, Side
from chaos.toxiproxy.errors import ApiError
from chaos.toxiproxy.models import STREAMS, parse_hostport, resolve_listen
from chaos.toxiproxy.toxic_collection import ToxicCollection
from live.common.sockets import bind_loopback

__all__ = ["Proxy"]

log = logging.getLogger(__name__)


class Proxy:
    def __init__(self, name: str, listen: str, upstream: str) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics = ToxicCollection(self)
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None
        self._pending: set[Side] = set()  # accepted clients whose upstream is being dialled

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [spec.as_json() for spec in self.toxics.listed()],
        }

    def differs(self, listen: str, upstream: str) -> bool:
        """Whether ``listen``/``upstream`` name another address than the proxy's (ApiError if malformed)."""
        return self.listen != resolve_listen(listen) or self.upstream != upstream

    async def start(self) -> None:
        """Listen (no-op when enabled). ApiError 500 when the address cannot be bound."""
        if self.enabled:
            return
        _, port = parse_hostport(resolve_listen(self.listen), verb="listen")
        try:
            sock = bind_loopback(port)
        except OSError as error:
            reason = "address already in use" if error.errno == errno.EADDRINUSE else error.strerror
            raise ApiError(f"listen tcp 127.0.0.1:{port}: bind: {reason}", 500) from None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: Side(self._accepted), sock=sock, backlog=4096)
        self.listen = f"127.0.0.1:{sock.getsockname()[1]}"
        self.enabled = True
        log.info("proxy %s listening on %s -> %s", self.name, self.listen, self.upstream)

    def stop(self) -> None:
        """Close the listener and every connection (no-op when disabled)."""
        if not self.enabled:
            return
        self.enabled = False
        if self._server is not None:
            self._server.close()
            self._server = None
        for connection in list(self.connections):
            connection.abort()
        for client in list(self._pending):
            client.abort()

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Toxiproxy's update: restart on a new address, then start or stop as ``enabled`` says."""
        if self.differs(listen, upstream):
            self.stop()
            self.listen, self.upstream = listen, upstream
        if enabled and not self.enabled:
            await self.start()
        elif not enabled:
            self.stop()

    def _accepted(self, client: Side) -> None:
        self._pending.add(client)
        asyncio.get_running_loop().create_task(self._connect(client))

    async def _connect(self, client: Side) -> None:
        loop = asyncio.get_running_loop()
        try:
            host, port = parse_hostport(self.upstream, verb="dial")
            _, upstream = await loop.create_connection(Side, host or "127.0.0.1", port)
        except (ApiError, OSError) as error:
            log.warning("proxy %s: cannot reach upstream %s: %s", self.name, self.upstream, error)
            client.close()
            return
        finally:
            self._pending.discard(client)
        assert isinstance(upstream, Side)
        if not self.enabled or not client.alive:
            upstream.close()
            client.close()
            return
        connection = Connection(self, client, upstream)
        self.connections.add(connection)
        connection.open({direction: self.toxics.chain(direction) for direction in STREAMS})
