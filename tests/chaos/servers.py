"""Small TCP servers on 127.0.0.1:0 for the data-path tests, and a client helper.

Each runs its accept loop and one thread per connection, and stops (closing every socket it opened)
when its ``with`` block ends.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

__all__ = ["EchoServer", "GreetingServer", "TcpServer", "read_until_closed", "recv_exactly"]


class TcpServer:
    """Calls ``serve(conn)`` for every accepted connection, in a thread of its own."""

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self._serve = serve
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self._serve(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def __enter__(self) -> TcpServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        with self._lock:
            for conn in self._conns:
                conn.close()
        self._thread.join(timeout=5)


def _echo(conn: socket.socket) -> None:
    while data := conn.recv(65536):
        conn.sendall(data)


def EchoServer() -> TcpServer:  # noqa: N802 - reads as a class at the call site
    """Sends back every byte it receives."""
    return TcpServer(_echo)


def GreetingServer(greeting: bytes) -> TcpServer:  # noqa: N802
    """Sends ``greeting`` to each client and closes the connection."""
    return TcpServer(lambda conn: conn.sendall(greeting))


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """``size`` bytes from ``sock`` (fewer only if the peer closed first)."""
    parts, got = [], 0
    while got < size:
        part = sock.recv(min(65536, size - got))
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def read_until_closed(sock: socket.socket, limit: float = 10.0) -> tuple[bytes, float]:
    """Everything ``sock`` receives until the peer closes, and the monotonic time it closed.

    TimeoutError when the peer has not closed within ``limit`` seconds.
    """
    deadline = time.monotonic() + limit
    parts = []
    while True:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        part = sock.recv(65536)
        if not part:
            return b"".join(parts), time.monotonic()
        parts.append(part)
