"""Listening sockets of the stack: on 127.0.0.1, bound here or inherited from the supervisor.

The one exception is container mode (``SERVICELAB_LISTEN``, see :mod:`live.common.settings`): inside a
container the process binds the address it is told, since published ports arrive on the container's
interface.
"""

from __future__ import annotations

import socket

from live.common.settings import HOST

__all__ = ["bind", "bind_loopback", "free_port", "inherited"]


def bind_loopback(port: int = 0) -> socket.socket:
    """A listening TCP socket on 127.0.0.1 (``port`` 0: the kernel picks a free one)."""
    return bind(HOST, port)


def free_port() -> int:
    """A loopback port that was free a moment ago, for a program that binds it itself (Prometheus,
    nginx, a Toxiproxy process): it may be taken again before that program binds it, so callers
    check that the program came up."""
    with bind_loopback() as probe:
        return int(probe.getsockname()[1])


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (only container mode asks for a host other than 127.0.0.1)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def inherited(fd: int) -> socket.socket:
    """The listening socket the supervisor bound for us (it must be a TCP socket on 127.0.0.1)."""
    sock = socket.socket(fileno=fd)
    host = sock.getsockname()[0]
    if host != HOST:
        sock.close()
        raise RuntimeError(f"the inherited socket (fd {fd}) is bound to {host}, not {HOST}")
    sock.setblocking(False)
    return sock
