"""Toxic churn: re-adding a toxic rolls its toxicity again for a connection that was spared."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from chaos.client import ToxiproxyClient
from chaos.extension.churn import Churn
from chaos.toxiproxy import EmbeddedToxiproxy

pytestmark = pytest.mark.live


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(1024):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _echoes(sock: socket.socket) -> bool:
    try:
        sock.sendall(b"x")
        return sock.recv(1) == b"x"
    except OSError:
        return False


def test_a_spared_connection_stays_spared_until_the_churn_rolls_again(echo: int) -> None:
    with EmbeddedToxiproxy() as server:
        client = ToxiproxyClient(server.url)
        listen = client.create_proxy("edge", f"127.0.0.1:{echo}")["listen"]
        client.add_toxic("edge", {"type": "reset_peer", "toxicity": 0.5, "attributes": {"timeout": 0}})
        host, port = listen.rsplit(":", 1)
        spared = None
        for _ in range(40):  # each connection is spared with probability 1/2
            sock = socket.create_connection((host, int(port)), timeout=5)
            if _echoes(sock):
                spared = sock
                break
            sock.close()
        assert spared is not None
        with spared:
            assert all(_echoes(spared) for _ in range(20))  # decided once: spared for good
            churn = Churn(client, lambda: ["edge"], period=0.05).start()
            try:
                deadline = time.monotonic() + 20
                while _echoes(spared) and time.monotonic() < deadline:
                    time.sleep(0.02)
                reset = not _echoes(spared)
            finally:
                rounds = churn.stop()
        assert reset  # some re-roll picked it
        assert rounds >= 1
        assert [toxic["type"] for toxic in client.toxics("edge")] == ["reset_peer"]  # still in place
