"""Toxiproxy's HTTP API, checked over real HTTP against every server the ``toxiproxy`` fixture has.

Each expectation here comes from Toxiproxy 2.x itself (its api.go, proxy_collection.go,
toxic_collection.go and API tests): status codes, messages, JSON shapes and defaults, populate's
validate-first behaviour, the merge of a toxic update, reset. The same test must pass against the Go
``toxiproxy-server`` when it is on PATH.
"""

from __future__ import annotations

import socket

import pytest

from tests.chaos.conftest import Toxiproxy

pytestmark = pytest.mark.live

UPSTREAM = "127.0.0.1:9"  # never dialled: these tests open no connection through the proxies
DEFAULT_ATTRIBUTES = {
    "latency": {"latency": 0, "jitter": 0},
    "bandwidth": {"rate": 0},
    "slow_close": {"delay": 0},
    "timeout": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
    "limit_data": {"bytes": 0},
    "noop": {},
}


def _port(listen: str) -> int:
    host, port = listen.rsplit(":", 1)
    assert host == "127.0.0.1"
    return int(port)


def _accepts(listen: str) -> bool:
    try:
        socket.create_connection(("127.0.0.1", _port(listen)), timeout=2).close()
    except ConnectionRefusedError:
        return False
    return True


def _assert_error(answer, status: int, message: str) -> None:
    assert answer.status == status
    assert answer.body == {"error": message, "status": status}


def test_version_names_a_2x_release(toxiproxy: Toxiproxy) -> None:
    answer = toxiproxy.api("GET", "/version")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json;charset=utf-8"
    assert answer.body["version"].startswith("2.") or toxiproxy.kind == "real"


def test_every_routed_response_carries_a_request_id(toxiproxy: Toxiproxy) -> None:
    answers = [
        toxiproxy.api("GET", "/version"),
        toxiproxy.api("GET", "/proxies"),
        toxiproxy.api("GET", "/proxies/missing"),
        toxiproxy.api("POST", "/reset"),
    ]
    ids = [answer.headers["X-Toxiproxy-Request-Id"] for answer in answers]
    assert all(ids)
    assert len(set(ids)) == len(ids)


def test_browsers_are_refused(toxiproxy: Toxiproxy) -> None:
    browser = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0"}
    refused = toxiproxy.api("GET", "/proxies", headers=browser)
    assert refused.status == 403
    assert refused.body == "User agent not allowed\n"
    assert toxiproxy.api("GET", "/proxies", headers={"User-Agent": "Wget/2.1"}).status == 200


def test_no_proxies_is_an_empty_object(toxiproxy: Toxiproxy) -> None:
    answer = toxiproxy.api("GET", "/proxies")
    assert (answer.status, answer.body, answer.headers["Content-Type"]) == (200, {}, "application/json")


def test_create_answers_201_with_the_bound_address_and_listens(toxiproxy: Toxiproxy) -> None:
    answer = toxiproxy.api("POST", "/proxies", {"name": "db", "listen": "127.0.0.1:0", "upstream": UPSTREAM})
    assert answer.status == 201
    body = answer.body
    assert body == {
        "name": "db",
        "listen": body["listen"],
        "upstream": UPSTREAM,
        "enabled": True,
        "toxics": [],
    }
    assert _port(body["listen"]) > 0
    assert _accepts(body["listen"])
    assert toxiproxy.api("GET", "/proxies/db").body == body
    assert toxiproxy.api("GET", "/proxies").body == {"db": body}


def test_localhost_listen_is_resolved_to_127_0_0_1(toxiproxy: Toxiproxy) -> None:
    body = toxiproxy.create("db", UPSTREAM, listen="localhost:0")
    assert body["listen"].startswith("127.0.0.1:")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"upstream": UPSTREAM}, "missing required field: name"),
        ({"name": "db"}, "missing required field: upstream"),
        ({"name": "", "upstream": UPSTREAM}, "missing required field: name"),
    ],
)
def test_create_without_a_required_field_is_400(toxiproxy: Toxiproxy, fields: dict, message: str) -> None:
    _assert_error(toxiproxy.api("POST", "/proxies", {"listen": "127.0.0.1:0", **fields}), 400, message)


@pytest.mark.parametrize("raw", [b"", b"{not json", b'{"name": 5, "upstream": "x:1"}', b"[]"])
def test_create_with_a_bad_body_is_400(toxiproxy: Toxiproxy, raw: bytes) -> None:
    answer = toxiproxy.api("POST", "/proxies", raw=raw)
    assert answer.status == 400
    assert answer.body["status"] == 400
    assert answer.body["error"].startswith("bad request body: ")


def test_errors_are_json_sent_as_plain_text(toxiproxy: Toxiproxy) -> None:
    answer = toxiproxy.api("GET", "/proxies/missing")
    _assert_error(answer, 404, "proxy not found")
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_a_taken_name_is_409(toxiproxy: Toxiproxy) -> None:
    toxiproxy.create("db", UPSTREAM)
    _assert_error(
        toxiproxy.api("POST", "/proxies", {"name": "db", "listen": "127.0.0.1:0", "upstream": UPSTREAM}),
        409,
        "proxy already exists",
    )


def test_a_port_in_use_is_500(toxiproxy: Toxiproxy) -> None:
    listen = toxiproxy.create("first", UPSTREAM)["listen"]
    answer = toxiproxy.api("POST", "/proxies", {"name": "second", "listen": listen, "upstream": UPSTREAM})
    _assert_error(answer, 500, f"listen tcp {listen}: bind: address already in use")
    assert toxiproxy.api("GET", "/proxies/second").status == 404


def test_a_disabled_proxy_keeps_its_listen_field_and_does_not_listen(toxiproxy: Toxiproxy) -> None:
    body = toxiproxy.create("db", UPSTREAM, listen="127.0.0.1:0", enabled=False)
    assert (body["enabled"], body["listen"]) == (False, "127.0.0.1:0")


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_update_disables_and_reenables_on_the_same_port(toxiproxy: Toxiproxy, method: str) -> None:
    listen = toxiproxy.create("db", UPSTREAM)["listen"]
    down = toxiproxy.api(method, "/proxies/db", {"enabled": False})
    assert down.status == 200
    assert down.body == {"name": "db", "listen": listen, "upstream": UPSTREAM, "enabled": False, "toxics": []}
    assert not _accepts(listen)
    up = toxiproxy.api(method, "/proxies/db", {"enabled": True})
    assert (up.status, up.body["enabled"], up.body["listen"]) == (200, True, listen)
    assert _accepts(listen)


def test_update_changes_the_upstream_and_keeps_the_rest(toxiproxy: Toxiproxy) -> None:
    listen = toxiproxy.create("db", UPSTREAM)["listen"]
    answer = toxiproxy.api("PATCH", "/proxies/db", {"upstream": "127.0.0.1:10"})
    assert answer.body == {
        "name": "db",
        "listen": listen,
        "upstream": "127.0.0.1:10",
        "enabled": True,
        "toxics": [],
    }


def test_update_of_a_missing_proxy_is_404(toxiproxy: Toxiproxy) -> None:
    _assert_error(toxiproxy.api("PATCH", "/proxies/nope", {"enabled": False}), 404, "proxy not found")


def test_delete_is_204_then_404(toxiproxy: Toxiproxy) -> None:
    listen = toxiproxy.create("db", UPSTREAM)["listen"]
    deleted = toxiproxy.api("DELETE", "/proxies/db")
    assert (deleted.status, deleted.body) == (204, None)
    assert not _accepts(listen)
    _assert_error(toxiproxy.api("DELETE", "/proxies/db"), 404, "proxy not found")
    assert toxiproxy.api("GET", "/proxies").body == {}


@pytest.mark.parametrize("kind", sorted(DEFAULT_ATTRIBUTES))
def test_a_toxic_gets_toxiproxys_defaults(toxiproxy: Toxiproxy, kind: str) -> None:
    toxiproxy.create("db", UPSTREAM)
    answer = toxiproxy.api("POST", "/proxies/db/toxics", {"type": kind})
    assert answer.status == 200
    expected = {
        "attributes": DEFAULT_ATTRIBUTES[kind],
        "name": f"{kind}_downstream",
        "type": kind,
        "stream": "downstream",
        "toxicity": 1,
    }
    assert answer.body == expected
    assert toxiproxy.api("GET", f"/proxies/db/toxics/{kind}_downstream").body == expected


def test_a_toxic_keeps_what_it_was_given_and_ignores_unknown_attributes(toxiproxy: Toxiproxy) -> None:
    toxiproxy.create("db", UPSTREAM)
    body = {
        "name": "slow",
        "type": "latency",
        "stream": "upstream",
        "toxicity": 0.25,
        "attributes": {"latency": 120, "jitter": 7, "colour": "red"},
    }
    answer = toxiproxy.api("POST", "/proxies/db/toxics", body)
    assert answer.body == {**body, "attributes": {"latency": 120, "jitter": 7}}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"type": "latency", "stream": "sideways"},
            400,
            "stream was invalid, can be either upstream or downstream",
        ),
        ({"type": "earthquake"}, 400, "invalid toxic type"),
        ({}, 400, "invalid toxic type"),
    ],
)
def test_bad_toxics_are_refused(toxiproxy: Toxiproxy, body: dict, status: int, message: str) -> None:
    toxiproxy.create("db", UPSTREAM)
    _assert_error(toxiproxy.api("POST", "/proxies/db/toxics", body), status, message)
    assert toxiproxy.api("GET", "/proxies/db/toxics").body == []


def test_attributes_of_the_wrong_type_are_400(toxiproxy: Toxiproxy) -> None:
    toxiproxy.create("db", UPSTREAM)
    for attributes in ({"latency": "100"}, {"latency": 1.5}, [1]):
        answer = toxiproxy.api("POST", "/proxies/db/toxics", {"type": "latency", "attributes": attributes})
        assert answer.status == 400
        assert answer.body["error"].startswith("bad request body: ")


def test_toxic_names_are_unique_across_streams(toxiproxy: Toxiproxy) -> None:
    toxiproxy.create("db", UPSTREAM)
    toxiproxy.toxic("db", {"type": "latency", "stream": "upstream"})
    toxiproxy.toxic("db", {"type": "latency", "stream": "downstream"})  # another default name: fine
    duplicate = {"name": "latency_upstream", "type": "noop", "stream": "downstream"}
    _assert_error(toxiproxy.api("POST", "/proxies/db/toxics", duplicate), 409, "toxic already exists")


def test_toxics_are_listed_upstream_first_in_insertion_order(toxiproxy: Toxiproxy) -> None:
    toxiproxy.create("db", UPSTREAM)
    for name, stream in [("d1", "downstream"), ("u1", "upstream"), ("d2", "downstream"), ("u2", "upstream")]:
        toxiproxy.toxic("db", {"name": name, "type": "noop", "stream": stream})
    names = [toxic["name"] for toxic in toxiproxy.api("GET", "/proxies/db/toxics").body]
    assert names == ["u1", "u2", "d1", "d2"]
    assert [toxic["name"] for toxic in toxiproxy.api("GET", "/proxies/db").body["toxics"]] == names


def test_toxic_routes_need_the_proxy_and_the_toxic(toxiproxy: Toxiproxy) -> None:
    _assert_error(toxiproxy.api("GET", "/proxies/nope/toxics"), 404, "proxy not found")
    _assert_error(toxiproxy.api("POST", "/proxies/nope/toxics", {"type": "noop"}), 404, "proxy not found")
    toxiproxy.create("db", UPSTREAM)
    for method in ("GET", "PATCH", "DELETE"):
        _assert_error(toxiproxy.api(method, "/proxies/db/toxics/nope", {}), 404, "toxic not found")


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_toxic_update_merges_attributes_and_keeps_the_toxicity(toxiproxy: Toxiproxy, method: str) -> None:
    toxiproxy.create("db", UPSTREAM)
    toxiproxy.toxic("db", {"type": "latency", "attributes": {"latency": 100, "jitter": 10}})
    path = "/proxies/db/toxics/latency_downstream"
    first = toxiproxy.api(method, path, {"toxicity": 0.5, "attributes": {"latency": 1000}})
    assert first.status == 200
    assert (first.body["toxicity"], first.body["attributes"]) == (0.5, {"latency": 1000, "jitter": 10})
    second = toxiproxy.api(method, path, {"attributes": {"latency": 500}})
    assert (second.body["toxicity"], second.body["attributes"]) == (0.5, {"latency": 500, "jitter": 10})
    third = toxiproxy.api(method, path, {"name": "renamed", "stream": "upstream", "type": "noop"})
    assert (third.body["name"], third.body["stream"], third.body["type"]) == (
        "latency_downstream",
        "downstream",
        "latency",
    )
    assert toxiproxy.api("GET", path).body == third.body


def test_a_toxic_delete_is_204_then_404(toxiproxy: Toxiproxy) -> None:
    toxiproxy.create("db", UPSTREAM)
    toxiproxy.toxic("db", {"type": "noop"})
    assert toxiproxy.api("DELETE", "/proxies/db/toxics/noop_downstream").status == 204
    _assert_error(toxiproxy.api("DELETE", "/proxies/db/toxics/noop_downstream"), 404, "toxic not found")
    assert toxiproxy.api("GET", "/proxies/db/toxics").body == []


def test_reset_enables_every_proxy_and_removes_every_toxic(toxiproxy: Toxiproxy) -> None:
    listen = toxiproxy.create("db", UPSTREAM)["listen"]
    toxiproxy.create("cache", UPSTREAM)
    toxiproxy.toxic("db", {"type": "latency"})
    toxiproxy.toxic("cache", {"type": "timeout", "stream": "upstream"})
    toxiproxy.api("PATCH", "/proxies/db", {"enabled": False})
    answer = toxiproxy.api("POST", "/reset")
    assert (answer.status, answer.body) == (204, None)
    proxies = toxiproxy.api("GET", "/proxies").body
    assert [(p["enabled"], p["toxics"]) for p in proxies.values()] == [(True, []), (True, [])]
    assert proxies["db"]["listen"] == listen
    assert _accepts(listen)


def test_populate_creates_with_enabled_by_default(toxiproxy: Toxiproxy) -> None:
    answer = toxiproxy.api(
        "POST",
        "/populate",
        [
            {"name": "one", "listen": "127.0.0.1:0", "upstream": UPSTREAM},
            {"name": "two", "listen": "127.0.0.1:0", "upstream": UPSTREAM, "enabled": False},
        ],
    )
    assert answer.status == 201
    assert list(answer.body) == ["proxies"]
    one, two = answer.body["proxies"]
    assert (one["name"], one["enabled"], two["name"], two["enabled"]) == ("one", True, "two", False)
    assert _accepts(one["listen"])
    assert set(toxiproxy.api("GET", "/proxies").body) == {"one", "two"}


def test_populate_keeps_an_unchanged_proxy_and_replaces_a_changed_one(toxiproxy: Toxiproxy) -> None:
    kept = toxiproxy.create("kept", UPSTREAM)["listen"]
    moved = toxiproxy.create("moved", UPSTREAM)["listen"]
    for name in ("kept", "moved"):
        toxiproxy.toxic(name, {"type": "latency"})
    answer = toxiproxy.api(
        "POST",
        "/populate",
        [
            {"name": "kept", "listen": kept, "upstream": UPSTREAM},
            {"name": "moved", "listen": moved, "upstream": "127.0.0.1:10"},
        ],
    )
    assert answer.status == 201
    first, second = answer.body["proxies"]
    assert (first["listen"], len(first["toxics"])) == (kept, 1)
    assert (second["upstream"], second["toxics"]) == ("127.0.0.1:10", [])


def test_populate_checks_every_entry_before_creating_any(toxiproxy: Toxiproxy) -> None:
    answer = toxiproxy.api(
        "POST",
        "/populate",
        [
            {"name": "one", "listen": "127.0.0.1:0", "upstream": UPSTREAM},
            {"name": "two", "listen": "127.0.0.1:0"},
        ],
    )
    assert answer.status == 400
    assert answer.body == {
        "error": "missing required field: upstream at proxy 2",
        "status": 400,
        "proxies": None,
    }
    assert answer.headers["Content-Type"] == "application/json"
    assert toxiproxy.api("GET", "/proxies").body == {}


def test_populate_stops_at_a_failure_and_keeps_what_it_made(toxiproxy: Toxiproxy) -> None:
    taken = toxiproxy.create("taken", UPSTREAM)["listen"]
    answer = toxiproxy.api(
        "POST",
        "/populate",
        [
            {"name": "one", "listen": "127.0.0.1:0", "upstream": UPSTREAM},
            {"name": "two", "listen": taken, "upstream": UPSTREAM},
            {"name": "three", "listen": "127.0.0.1:0", "upstream": UPSTREAM},
        ],
    )
    assert answer.status == 500
    assert answer.body["error"] == f"listen tcp {taken}: bind: address already in use"
    assert [proxy["name"] for proxy in answer.body["proxies"]] == ["one"]
    assert set(toxiproxy.api("GET", "/proxies").body) == {"taken", "one"}


@pytest.mark.parametrize("raw", [b'{"name": "one"}', b"not json"])
def test_populate_wants_a_list(toxiproxy: Toxiproxy, raw: bytes) -> None:
    answer = toxiproxy.api("POST", "/populate", raw=raw)
    assert answer.status == 400
    assert answer.body["error"].startswith("bad request body: ")
    assert answer.body["proxies"] is None


def test_populate_with_nothing_answers_null_proxies(toxiproxy: Toxiproxy) -> None:
    answer = toxiproxy.api("POST", "/populate", [])
    assert (answer.status, answer.body) == (201, {"proxies": None})
