"""One proxied TCP connection: the client's socket, the upstream socket, and a link each way.

As in Toxiproxy there is no half-close: when a link's stream ends (its source sent EOF or failed, or
a toxic closed it) the link closes its destination socket entirely once the chain has flushed; that
ends the other link's source, and the other link closes the other socket in turn. A reset
(reset_peer) closes both sockets at once with SO_LINGER 0, so the peers see RST. Disabling or
deleting the proxy aborts both sockets.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from chaos.toxiproxy.link import Link
from chaos.toxiproxy.models import ToxicSpec

if TYPE_CHECKING:
    from chaos.toxiproxy.proxy import Proxy

__all__ = ["Connection", "Side"]

_LINGER_ZERO = struct.pack("ii", 1, 0)
READ_SIZE = 1 << 20
WRITE_HIGH_WATER = 1 << 20
"""Larger reads and write buffers than asyncio's defaults (256 KiB, 64 KiB): fewer wake-ups per MB."""


class Side(asyncio.Protocol):
    """One socket of a connection. Reading stays paused until both links exist."""

    def __init__(self, on_made: Callable[[Side], None] | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.inbound: Link | None = None  # the link that reads this socket
        self.outbound: Link | None = None  # the link that writes to it
        self.connection: Connection | None = None
        self.alive = False
        self._on_made = on_made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.alive = True
        transport.pause_reading()
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        transport.max_size = READ_SIZE  # type: ignore[attr-defined]  # bytes per socket read
        if self._on_made is not None:
            self._on_made(self)

    def data_received(self, data: bytes) -> None:
        if self.inbound is not None:
            self.inbound.feed(data)

    def eof_received(self) -> bool:
        if self.inbound is not None:
            self.inbound.feed_end()
        return True  # keep the socket open: the other direction may still be flushing

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        if self.connection is not None:
            self.connection.side_lost(self)

    def pause_writing(self) -> None:
        if self.outbound is not None:
            self.outbound.dest_blocked = True
            self.outbound.flow()

    def resume_writing(self) -> None:
        if self.outbound is not None:
            self.outbound.dest_blocked = False
            self.outbound.flow()

    # -- used by the links --
    def write(self, data: bytes) -> None:
        if self.alive and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def pause_reading(self) -> None:
        if self.alive and self.transport is not None:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.alive and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self, *, reset: bool = False) -> None:
        if self.transport is None:
            return
        if reset and self.alive:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
        self.transport.abort()


class Connection:
    """A client connection and its upstream connection, joined by two links."""

    def __init__(self, proxy: Proxy, client: Side, upstream: Side) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        client.connection = upstream.connection = self
        self.links: dict[str, Link] = {}

    def open(self, chains: dict[str, list[ToxicSpec]]) -> None:
        """Build both links with the proxy's current toxics and start reading both sockets."""
        up = Link(self, "upstream", self.client, self.upstream, chains["upstream"])
        down = Link(self, "downstream", self.upstream, self.client, chains["downstream"])
        self.links = {"upstream": up, "downstream": down}
        self.client.inbound = self.upstream.outbound = up
        self.upstream.inbound = self.client.outbound = down
        for link in (up, down):
            link.start()
        for side in (self.client, self.upstream):
            if side.alive:
                side.resume_reading()
            else:
                self.side_lost(side)

    def link_finished(self, link: Link, *, reset: bool) -> None:
        if reset:
            self.reset()
        else:
            link.dest.close()

    def side_lost(self, side: Side) -> None:
        if side.inbound is not None:
            side.inbound.feed_end()
        if not self.client.alive and not self.upstream.alive:
            self._dispose()

    def reset(self) -> None:
        """Reset both sockets (RST): reset_peer."""
        for side in (self.client, self.upstream):
            side.abort(reset=True)

    def abort(self) -> None:
        """Drop both sockets now: the proxy is going down."""
        for side in (self.client, self.upstream):
            side.abort()
        self._dispose()

    def _dispose(self) -> None:
        for link in self.links.values():
            link.discard()
        self.proxy.connections.discard(self)
