"""Bytes through the proxies, with every toxic, timed: the same tests against every Toxiproxy we have.

Tolerances are the issue's: latency 100 ms +- 5 ms (the median of ten round trips, less the median
round trip through the proxy without toxics); bandwidth within 10 % of the rate; limit_data exactly N
bytes. Servers are the test's own echo/greeting servers on 127.0.0.1:0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import threading
import time

import pytest

from tests.chaos.conftest import Toxiproxy
from tests.chaos.servers import EchoServer, GreetingServer, read_until_closed, recv_exactly

pytestmark = pytest.mark.live


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _round_trip(sock: socket.socket, message: bytes = b"ping") -> float:
    started = time.perf_counter()
    sock.sendall(message)
    assert recv_exactly(sock, len(message)) == message
    return time.perf_counter() - started


def _median_round_trip(sock: socket.socket, count: int = 10) -> float:
    return statistics.median(_round_trip(sock) for _ in range(count))


def _send_in_background(sock: socket.socket, payload: bytes) -> threading.Thread:
    def send() -> None:
        with contextlib.suppress(OSError):  # the proxy may close first: some tests check just that
            sock.sendall(payload)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_latency_adds_100_ms_within_5_ms(toxiproxy: Toxiproxy) -> None:
    with EchoServer() as echo, _connect(toxiproxy.proxy_port("echo", echo.address)) as sock:
        baseline = _median_round_trip(sock)
        toxiproxy.toxic("echo", {"type": "latency", "attributes": {"latency": 100}})
        added = _median_round_trip(sock) - baseline
    assert added == pytest.approx(0.100, abs=0.005)


def test_bandwidth_is_within_10_percent_of_the_rate(toxiproxy: Toxiproxy) -> None:
    payload = os.urandom(600_000)
    with EchoServer() as echo:
        port = toxiproxy.proxy_port("echo", echo.address)
        toxiproxy.toxic("echo", {"type": "bandwidth", "attributes": {"rate": 1000}})  # 1,000,000 B/s
        with _connect(port) as sock:
            started = time.perf_counter()
            sender = _send_in_background(sock, payload)
            received = recv_exactly(sock, len(payload))
            elapsed = time.perf_counter() - started
            sender.join(timeout=10)
    assert received == payload
    assert len(payload) / elapsed == pytest.approx(1_000_000, rel=0.10)


def test_timeout_drops_the_data_then_closes(toxiproxy: Toxiproxy) -> None:
    with EchoServer() as echo:
        port = toxiproxy.proxy_port("echo", echo.address)
        toxiproxy.toxic("echo", {"type": "timeout", "attributes": {"timeout": 300}})
        with _connect(port) as sock:
            opened = time.monotonic()
            sock.sendall(b"lost in the void")
            data, closed = read_until_closed(sock)
    assert data == b""
    assert 0.28 <= closed - opened <= 0.6


def test_timeout_zero_holds_the_connection_until_removed_then_closes_it(toxiproxy: Toxiproxy) -> None:
    with EchoServer() as echo, _connect(toxiproxy.proxy_port("echo", echo.address)) as sock:
        assert _round_trip(sock) < 0.1
        toxiproxy.toxic("echo", {"type": "timeout"})
        sock.sendall(b"dropped")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(100)
        assert toxiproxy.api("DELETE", "/proxies/echo/toxics/timeout_downstream").status == 204
        data, _ = read_until_closed(sock, limit=5)
    assert data == b""


def test_reset_peer_gives_the_client_econnreset(toxiproxy: Toxiproxy) -> None:
    with EchoServer() as echo:
        port = toxiproxy.proxy_port("echo", echo.address)
        toxiproxy.toxic("echo", {"type": "reset_peer"})
        with _connect(port) as sock:
            sock.sendall(b"ping")
            with pytest.raises(ConnectionResetError):
                read_until_closed(sock, limit=5)


def test_limit_data_closes_after_exactly_n_bytes(toxiproxy: Toxiproxy) -> None:
    payload = os.urandom(5000)
    with EchoServer() as echo:
        port = toxiproxy.proxy_port("echo", echo.address)
        toxiproxy.toxic("echo", {"type": "limit_data", "attributes": {"bytes": 1234}})
        with _connect(port) as sock:
            sock.sendall(payload)
            data, _ = read_until_closed(sock)
    assert data == payload[:1234]


def test_slow_close_holds_the_close_back(toxiproxy: Toxiproxy) -> None:
    with GreetingServer(b"bye") as greeter:
        port = toxiproxy.proxy_port("greeter", greeter.address)
        with _connect(port) as sock:
            opened = time.monotonic()
            data, closed = read_until_closed(sock)
        assert (data, closed - opened < 0.2) == (b"bye", True)
        toxiproxy.toxic("greeter", {"type": "slow_close", "attributes": {"delay": 300}})
        with _connect(port) as sock:
            opened = time.monotonic()
            data, closed = read_until_closed(sock)
    assert data == b"bye"
    assert 0.28 <= closed - opened <= 0.6


def test_slicer_delivers_every_byte_in_delayed_pieces(toxiproxy: Toxiproxy) -> None:
    payload = os.urandom(20_000)  # cut into 32 pieces of 625 bytes, 10 ms apart
    with GreetingServer(payload) as greeter:
        port = toxiproxy.proxy_port("greeter", greeter.address)
        attributes = {"average_size": 1000, "size_variation": 0, "delay": 10_000}
        toxiproxy.toxic("greeter", {"type": "slicer", "attributes": attributes})
        with _connect(port) as sock:
            opened = time.monotonic()
            data, closed = read_until_closed(sock)
    assert data == payload
    assert closed - opened >= 0.25


def test_toxics_change_on_an_open_connection(toxiproxy: Toxiproxy) -> None:
    with EchoServer() as echo, _connect(toxiproxy.proxy_port("echo", echo.address)) as sock:
        assert _median_round_trip(sock, 3) < 0.02
        toxiproxy.toxic("echo", {"type": "latency", "attributes": {"latency": 100}})
        assert _median_round_trip(sock, 3) == pytest.approx(0.100, abs=0.01)
        toxiproxy.api("PATCH", "/proxies/echo/toxics/latency_downstream", {"attributes": {"latency": 200}})
        assert _median_round_trip(sock, 3) == pytest.approx(0.200, abs=0.01)
        toxiproxy.api("DELETE", "/proxies/echo/toxics/latency_downstream")
        assert _median_round_trip(sock, 3) < 0.02


def test_toxicity_is_decided_once_per_connection(toxiproxy: Toxiproxy) -> None:
    """toxicity 0.5: each connection is slowed on every round trip or on none, and both kinds occur.

    The latency (300 ms) is far above the scheduling noise of 40 connections in one process.
    """

    async def three_round_trips(port: int) -> list[float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        times = []
        for _ in range(3):
            started = time.perf_counter()
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
            times.append(time.perf_counter() - started)
        writer.close()
        return times

    async def all_connections(port: int) -> list[list[float]]:
        async with asyncio.timeout(30):
            return await asyncio.gather(*(three_round_trips(port) for _ in range(40)))

    with EchoServer() as echo:
        port = toxiproxy.proxy_port("echo", echo.address)
        toxiproxy.toxic("echo", {"type": "latency", "toxicity": 0.5, "attributes": {"latency": 300}})
        connections = asyncio.run(all_connections(port))
    slowed = [[t >= 0.3 for t in times] for times in connections]
    assert all(len(set(flags)) == 1 for flags in slowed), connections
    assert 0 < sum(flags[0] for flags in slowed) < len(slowed)  # 2 * 0.5**40 chance of a false alarm


def test_disabling_a_proxy_closes_its_connections_and_listener(toxiproxy: Toxiproxy) -> None:
    with EchoServer() as echo:
        port = toxiproxy.proxy_port("echo", echo.address)
        with _connect(port) as sock:
            _round_trip(sock)
            toxiproxy.api("PATCH", "/proxies/echo", {"enabled": False})
            try:
                data, _ = read_until_closed(sock, limit=5)
            except ConnectionResetError:
                data = b""
            assert data == b""
        with pytest.raises(ConnectionRefusedError):
            _connect(port)
        toxiproxy.api("PATCH", "/proxies/echo", {"enabled": True})
        with _connect(port) as sock:
            assert _round_trip(sock) < 0.1


def test_an_unreachable_upstream_closes_the_client(toxiproxy: Toxiproxy) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # bound, never listening: connections to it are refused
        port = toxiproxy.proxy_port("nowhere", f"127.0.0.1:{unused.getsockname()[1]}")
        with _connect(port) as sock:
            try:
                data, _ = read_until_closed(sock, limit=5)
            except ConnectionResetError:
                data = b""
    assert data == b""


def test_no_byte_lost_or_reordered_through_noops_under_1000_concurrent_connections(
    toxiproxy: Toxiproxy,
) -> None:
    size, count = 16_384, 1000

    async def exchange(port: int, payload: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(payload)
        await writer.drain()
        echoed = await reader.readexactly(len(payload))
        writer.close()
        return echoed

    async def everyone(port: int) -> tuple[list[bytes], list[bytes]]:
        payloads = [os.urandom(size) for _ in range(count)]
        async with asyncio.timeout(60):
            return payloads, await asyncio.gather(*(exchange(port, payload) for payload in payloads))

    with EchoServer() as echo:
        port = toxiproxy.proxy_port("echo", echo.address)
        for stream in ("upstream", "downstream"):
            toxiproxy.toxic("echo", {"type": "noop", "stream": stream})
        payloads, echoed = asyncio.run(everyone(port))
    assert sum(sent == got for sent, got in zip(payloads, echoed, strict=True)) == count


def test_no_byte_lost_or_reordered_while_toxics_churn(toxiproxy: Toxiproxy) -> None:
    """Latency, slicer and bandwidth toxics added, updated and removed while 50 connections stream."""
    size, count, piece = 400_000, 50, 4096
    churn = [
        (
            "POST",
            "/proxies/echo/toxics",
            {"name": "lat", "type": "latency", "attributes": {"latency": 5, "jitter": 3}},
        ),
        (
            "POST",
            "/proxies/echo/toxics",
            {"name": "cut", "type": "slicer", "attributes": {"average_size": 500}},
        ),
        ("POST", "/proxies/echo/toxics", {"name": "bw", "type": "bandwidth", "stream": "upstream"}),
        ("PATCH", "/proxies/echo/toxics/bw", {"attributes": {"rate": 20_000}}),
        ("PATCH", "/proxies/echo/toxics/lat", {"attributes": {"latency": 1}}),
        ("DELETE", "/proxies/echo/toxics/cut", None),
        ("DELETE", "/proxies/echo/toxics/lat", None),
        ("DELETE", "/proxies/echo/toxics/bw", None),
    ]

    async def stream(port: int, payload: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        received = bytearray()
        for start in range(0, len(payload), piece):
            writer.write(payload[start : start + piece])
            await writer.drain()
            received += await reader.read(65536)
        while len(received) < len(payload):
            received += await reader.readexactly(len(payload) - len(received))
        writer.close()
        return bytes(received)

    async def everyone(port: int, payloads: list[bytes]) -> list[bytes]:
        async with asyncio.timeout(60):
            return await asyncio.gather(*(stream(port, payload) for payload in payloads))

    statuses: list[int] = []

    def change_toxics(stop: threading.Event) -> None:
        for _ in range(50):
            for method, path, body in churn:
                if stop.is_set():
                    return
                statuses.append(toxiproxy.api(method, path, body).status)
                time.sleep(0.005)

    with EchoServer() as echo:
        port = toxiproxy.proxy_port("echo", echo.address)
        payloads = [os.urandom(size) for _ in range(count)]
        stop = threading.Event()
        changer = threading.Thread(target=change_toxics, args=(stop,), daemon=True)
        changer.start()
        try:
            echoed = asyncio.run(everyone(port, payloads))
            changes_while_streaming = len(statuses)
        finally:
            stop.set()
            changer.join(timeout=30)
    assert sum(sent == got for sent, got in zip(payloads, echoed, strict=True)) == count
    assert changes_while_streaming >= len(churn)  # at least one whole add/update/remove cycle overlapped
    assert set(statuses) <= {200, 204}
