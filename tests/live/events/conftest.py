"""The two broker backends as one fixture, so every behaviour test runs against both.

``embedded``: the broker service (``live.broker``'s app on a real SQLite file in tmp_path) served on a
loopback port in a background thread, reached by :class:`~live.events.client.BrokerClient`;
:meth:`Backend.restart` stops it and starts a new one on the same file (and another port).
``redis``: a ``redis-server`` of this test module on an ephemeral loopback port, its files in a
temporary folder, reached by :class:`~live.events.redis_streams.RedisBroker`. Both use :data:`POLICY`.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from live.broker.app import create_app
from live.common.server import running
from live.common.settings import HOST, InstanceSettings
from live.events.broker import Broker, DeliveryPolicy
from live.events.client import BrokerClient
from live.events.redis_streams import RedisBroker
from live.supervisor.processes import terminate
from tests.conftest import require

POLICY = DeliveryPolicy(ack_timeout=0.5, max_deliveries=3)
"""Short enough for quick tests, long enough that a slow CI machine acks in time."""


def free_port() -> int:
    """A port nothing listens on now (bound to 127.0.0.1:0, then closed) for a server that needs a number."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _pong(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A redis-server on loopback with no persistence, its files in ``folder``; yields its URL."""
    require(binary="redis-server")
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
    command += ["--dir", str(folder), "--protected-mode", "yes"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not _pong(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {port} did not answer PING (exit {server.poll()})")
            time.sleep(0.05)
        yield f"redis://{HOST}:{port}/0"
    finally:
        terminate(server)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


class Backend:
    """One backend: ``broker()`` makes a client (inside the test's event loop); ``restart()`` if embedded."""

    def __init__(self, name: str, tmp_path: Path, redis_url: str | None = None) -> None:
        self.name = name
        self.redis_url = redis_url
        self.settings = InstanceSettings(service="broker", instance="broker-1", state_dir=tmp_path)
        self._serving = contextlib.ExitStack()
        self.url = self._serve() if name == "embedded" else ""

    def _serve(self) -> str:
        return self._serving.enter_context(running(create_app(self.settings, POLICY)))

    def broker(self) -> Broker:
        if self.redis_url is not None:
            return RedisBroker(self.redis_url, POLICY)

        async def locate() -> str:
            return self.url

        return BrokerClient(locate)

    def restart(self) -> None:
        """Stop the embedded broker and start it again on the same SQLite file."""
        assert self.name == "embedded", "only the embedded broker restarts in these tests"
        self._serving.close()
        self.url = self._serve()

    def stop(self) -> None:
        self._serving.close()


@pytest.fixture(params=["embedded", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    made = Backend(request.param, tmp_path, url)
    try:
        yield made
    finally:
        made.stop()


@pytest.fixture
def stream() -> str:
    """A stream of this test alone (the Redis server is shared by a module's tests)."""
    return f"test-{uuid.uuid4().hex[:12]}"
