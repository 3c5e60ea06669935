"""``toxiproxy-python`` (the client the design card names) drives the server unchanged.

Its quirks, which these tests work with rather than around:
- the server address is class state (``APIConsumer.host``/``port``, default 127.0.0.1:8474), shared by
  every ``Toxiproxy`` object of the process; ``update_api_consumer(host, port)`` changes it for all;
- ``populate`` is done client-side with GET/DELETE/POST, not with ``POST /populate``, and compares the
  ``listen`` it was given with the bound one, so a ``127.0.0.1:0`` entry is recreated on every call;
- ``add_toxic`` returns nothing, and there is no toxic update;
- only 400/404/409 raise; a 500 (a port in use) comes back as a response whose JSON has no ``name``,
  so ``create`` fails with ``KeyError: 'name'``;
- ``version()`` returns the raw body bytes.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
from toxiproxy import Toxiproxy as Client
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from tests.chaos.conftest import Toxiproxy
from tests.chaos.servers import EchoServer, recv_exactly

pytestmark = pytest.mark.live


@pytest.fixture
def client(toxiproxy: Toxiproxy) -> Iterator[Client]:
    saved = APIConsumer.host, APIConsumer.port
    host, port = toxiproxy.url.removeprefix("http://").rsplit(":", 1)
    client = Client()
    client.update_api_consumer(host, int(port))
    try:
        yield client
    finally:
        APIConsumer.host, APIConsumer.port = saved


def _round_trip(port: int) -> float:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        started = time.perf_counter()
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"
        return time.perf_counter() - started


def test_the_client_runs_a_proxy_through_its_life(client: Client) -> None:
    assert client.running()
    assert json.loads(client.version())["version"].startswith("2.")
    with EchoServer() as echo:
        proxy = client.create(upstream=echo.address, name="echo")
        port = int(proxy.listen.rsplit(":", 1)[1])
        assert (proxy.name, proxy.enabled, _round_trip(port) < 0.1) == ("echo", True, True)
        with pytest.raises(ProxyExists):
            client.create(upstream=echo.address, name="echo")

        proxy.add_toxic(type="latency", attributes={"latency": 100})
        toxic = proxy.get_toxic("latency_downstream")
        assert (toxic.type, toxic.stream, toxic.toxicity, toxic.attributes) == (
            "latency",
            "downstream",
            1,
            {"latency": 100, "jitter": 0},
        )
        assert _round_trip(port) >= 0.1
        with pytest.raises(InvalidToxic):
            proxy.add_toxic(type="earthquake")
        proxy.destroy_toxic("latency_downstream")
        assert proxy.toxics() == {}

        with proxy.down(), pytest.raises(ConnectionRefusedError):
            _round_trip(port)
        assert _round_trip(port) < 0.1
        assert set(client.proxies()) == {"echo"}
        assert client.reset()
        assert client.destroy(proxy)
    assert client.proxies() == {}
    with pytest.raises(NotFound):
        proxy.destroy()


def test_the_clients_populate_creates_missing_proxies(client: Client) -> None:
    created = client.populate([{"name": "a", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"}])
    assert [proxy.name for proxy in created] == ["a"]
    assert client.get_proxy("a").listen.startswith("127.0.0.1:")
