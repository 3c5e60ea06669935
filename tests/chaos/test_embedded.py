"""The embedded server's own behaviour: where it deliberately differs from Toxiproxy, and its parts.

The compatibility suite (test_api_compat, test_datapath) holds both servers to Toxiproxy's behaviour;
these tests pin down what only servicelab's server does (documented deviations) and check its pure
pieces (the slicer's cuts, the Go-like body decoding) directly.
"""

from __future__ import annotations

import socket
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.toxiproxy import EmbeddedToxiproxy
from chaos.toxiproxy.decoding import assign, parse_body
from chaos.toxiproxy.errors import ApiError
from chaos.toxiproxy.toxics.slicer import Slicer
from tests.chaos.conftest import Toxiproxy
from tests.chaos.servers import EchoServer, read_until_closed, recv_exactly


@pytest.fixture
def embedded():
    with EmbeddedToxiproxy() as server:
        yield Toxiproxy("embedded", server.url)


def _round_trip(sock: socket.socket) -> float:
    started = time.perf_counter()
    sock.sendall(b"ping")
    assert recv_exactly(sock, 4) == b"ping"
    return time.perf_counter() - started


@pytest.mark.live
@pytest.mark.parametrize("listen", ["0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:8080", "example.com:80"])
def test_a_listen_address_off_loopback_is_refused_with_400(embedded: Toxiproxy, listen: str) -> None:
    answer = embedded.api("POST", "/proxies", {"name": "db", "listen": listen, "upstream": "127.0.0.1:9"})
    assert answer.status == 400
    assert "127.0.0.1 only" in answer.body["error"]
    assert embedded.api("GET", "/proxies").body == {}


@pytest.mark.live
def test_populate_refuses_a_foreign_listen_before_creating_anything(embedded: Toxiproxy) -> None:
    proxies = [
        {"name": "one", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"},
        {"name": "two", "listen": "0.0.0.0:0", "upstream": "127.0.0.1:9"},
    ]
    answer = embedded.api("POST", "/populate", proxies)
    assert (answer.status, answer.body["proxies"]) == (400, None)
    assert embedded.api("GET", "/proxies").body == {}


@pytest.mark.live
def test_a_missing_listen_means_a_free_port_on_loopback(embedded: Toxiproxy) -> None:
    answer = embedded.api("POST", "/proxies", {"name": "db", "upstream": "127.0.0.1:9"})
    assert answer.status == 201
    assert answer.body["listen"].startswith("127.0.0.1:")
    assert not answer.body["listen"].endswith(":0")


@pytest.mark.live
def test_a_malformed_listen_is_500_as_in_toxiproxy(embedded: Toxiproxy) -> None:
    answer = embedded.api("POST", "/proxies", {"name": "db", "listen": "local373", "upstream": "127.0.0.1:9"})
    assert answer.body == {"error": "listen tcp: address local373: missing port in address", "status": 500}


@pytest.mark.live
def test_unrouted_requests_look_like_gorilla_mux_and_still_get_a_request_id(embedded: Toxiproxy) -> None:
    missing = embedded.api("GET", "/nowhere")
    assert (missing.status, missing.body) == (404, "404 page not found\n")
    wrong_method = embedded.api("PUT", "/proxies")
    assert (wrong_method.status, wrong_method.body) == (405, None)
    assert missing.headers["X-Toxiproxy-Request-Id"] != wrong_method.headers["X-Toxiproxy-Request-Id"]


@pytest.mark.live
def test_field_names_match_case_insensitively_like_go(embedded: Toxiproxy) -> None:
    answer = embedded.api(
        "POST", "/proxies", {"Name": "db", "UPSTREAM": "127.0.0.1:9", "Listen": "127.0.0.1:0"}
    )
    assert (answer.status, answer.body["name"], answer.body["upstream"]) == (201, "db", "127.0.0.1:9")


@pytest.mark.live
def test_removing_a_timeout_that_never_acted_keeps_the_connection(embedded: Toxiproxy) -> None:
    with (
        EchoServer() as echo,
        socket.create_connection(("127.0.0.1", embedded.proxy_port("e", echo.address)), timeout=10) as sock,
    ):
        embedded.toxic("e", {"type": "timeout", "toxicity": 0})
        assert _round_trip(sock) < 0.1
        assert embedded.api("DELETE", "/proxies/e/toxics/timeout_downstream").status == 204
        assert _round_trip(sock) < 0.1


@pytest.mark.live
def test_reset_peer_added_to_an_open_connection_still_resets(embedded: Toxiproxy) -> None:
    with (
        EchoServer() as echo,
        socket.create_connection(("127.0.0.1", embedded.proxy_port("e", echo.address)), timeout=10) as sock,
    ):
        assert _round_trip(sock) < 0.1
        embedded.toxic("e", {"type": "reset_peer"})
        sock.sendall(b"ping")
        with pytest.raises(ConnectionResetError):
            read_until_closed(sock, limit=5)


@pytest.mark.live
def test_raising_the_toxicity_keeps_each_connections_draw(embedded: Toxiproxy) -> None:
    with (
        EchoServer() as echo,
        socket.create_connection(("127.0.0.1", embedded.proxy_port("e", echo.address)), timeout=10) as sock,
    ):
        embedded.toxic("e", {"type": "latency", "toxicity": 0, "attributes": {"latency": 100}})
        assert _round_trip(sock) < 0.05
        embedded.api("PATCH", "/proxies/e/toxics/latency_downstream", {"toxicity": 1})
        assert _round_trip(sock) >= 0.1


@pytest.mark.live
def test_removing_a_latency_flushes_what_it_held_in_order(embedded: Toxiproxy) -> None:
    with (
        EchoServer() as echo,
        socket.create_connection(("127.0.0.1", embedded.proxy_port("e", echo.address)), timeout=10) as sock,
    ):
        embedded.toxic("e", {"type": "latency", "attributes": {"latency": 2000}})
        for part in (b"a", b"b", b"c"):
            sock.sendall(part)
            time.sleep(0.02)
        started = time.monotonic()
        embedded.api("DELETE", "/proxies/e/toxics/latency_downstream")
        sock.sendall(b"d")
        assert recv_exactly(sock, 4) == b"abcd"
        assert time.monotonic() - started < 0.5


@given(
    length=st.integers(0, 5000),
    average=st.integers(0, 300),
    variation=st.integers(0, 400),
)
def test_slicer_cuts_cover_the_chunk_in_order_with_bounded_pieces(
    length: int, average: int, variation: int
) -> None:
    ends = Slicer(average_size=average, size_variation=variation).cuts(length)
    starts = [0, *ends[:-1]]
    assert ends[-1] == length
    assert all(end > start for start, end in zip(starts, ends, strict=True)) or length == 0
    assert all(end - start <= max(1, average + variation) for start, end in zip(starts, ends, strict=True))


def test_slicer_without_variation_halves_evenly() -> None:
    assert Slicer(average_size=1000).cuts(20_000) == [625 * k for k in range(1, 33)]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "bad request body: EOF"),
        (b"   ", "bad request body: EOF"),
        (b'{"a": NaN}', "bad request body: "),
    ],
)
def test_bodies_that_hold_no_json_value_are_400(raw: bytes, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_body(raw)
    assert caught.value.status == 400
    assert caught.value.message.startswith(message)


def test_only_the_first_json_value_counts() -> None:
    assert parse_body(b'{"a": 1} trailing') == {"a": 1}


def test_assign_follows_go_rules() -> None:
    values = {"name": "kept", "count": 3, "ratio": 1.0}
    fields = {"name": str, "count": int, "ratio": float}
    assign(values, fields, {"NAME": None, "Count": 7, "ratio": 2, "other": [1]}, "Thing")
    assert values == {"name": "kept", "count": 7, "ratio": 2.0}
    for wrong in ({"count": 1.5}, {"count": True}, {"name": 1}, {"ratio": "1"}, {"count": 2**63}):
        with pytest.raises(ApiError, match="cannot unmarshal"):
            assign(dict(values), fields, wrong, "Thing")


@pytest.mark.live
def test_a_body_over_aiohttps_limit_is_refused_with_a_request_id(embedded: Toxiproxy) -> None:
    answer = embedded.api("POST", "/populate", raw=b"[" + b" " * (2 << 20) + b"]")
    assert answer.status == 413
    assert answer.headers["X-Toxiproxy-Request-Id"]
