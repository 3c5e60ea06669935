"""The gateway over real HTTP: routing and the prefix strip, JSON refusals, tokens, scopes, identity."""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest

from patterns.clock import ManualClock
from tests.live.gateway.support import Backend, Keys, Running, bearer, config, gateway_running, jwks_of, send

pytestmark = pytest.mark.live

ROUTES = {
    "users": {
        "prefix": "/users",
        "service": "users",
        "rules": [{"methods": ["POST"], "path": "/users/token", "auth": "public"}],
    },
    "orders": {
        "prefix": "/orders",
        "service": "orders",
        "rules": [
            {"methods": ["POST", "DELETE"], "scopes": ["orders:write"]},
            {"methods": ["GET"], "scopes": ["orders:read"]},
        ],
    },
    "inventory": {"prefix": "/inventory", "service": "inventory", "auth": "public"},
}
KEYS = Keys("key-1")


def unsigned(subject: str, scopes: list[str]) -> str:
    """A token with ``alg: none`` and otherwise valid claims."""
    claims = {"iss": "servicelab-users", "aud": "servicelab", "sub": subject, "scope": " ".join(scopes)}
    return jwt.encode(
        {**claims, "exp": int(time.time()) + 600}, None, algorithm="none", headers={"kid": "key-1"}
    )


@pytest.fixture
def stack() -> Iterator[tuple[Running, dict[str, Backend]]]:
    backends = {
        "users": Backend("users", "users-1", jwks=jwks_of(KEYS)),
        "orders": Backend("orders", "orders-1"),
        "inventory": Backend("inventory", "inventory-1"),
    }
    with gateway_running(config(ROUTES, max_body_bytes=1000), list(backends.values())) as gateway:
        yield gateway, backends


def test_requests_reach_their_service_with_api_stripped(stack: tuple[Running, dict[str, Backend]]) -> None:
    gateway, backends = stack
    answer = send("GET", gateway.api("/inventory/items/a%2Fb?q=x%26y&page=2"))
    assert answer.status == 200
    assert answer.json == {
        "instance": "inventory-1",
        "path": "/inventory/items/a%2Fb?q=x%26y&page=2",
        "user": None,
    }
    token = KEYS.token("alice", ["orders:read", "orders:write"])
    placed = send("POST", gateway.api("/orders"), bearer(token), b'{"sku": "a", "quantity": 2}')
    assert placed.status == 200
    seen = backends["orders"].seen[-1]
    assert (seen.method, seen.path_qs, seen.body) == ("POST", "/orders", b'{"sku": "a", "quantity": 2}')
    assert seen.headers["Authorization"] == f"Bearer {token}"
    assert backends["users"].calls == 0


def test_unknown_paths_get_a_json_404_listing_the_routes(stack: tuple[Running, dict[str, Backend]]) -> None:
    gateway, backends = stack
    for path in ("/api/payments/1", "/api/ordersx", "/elsewhere"):
        answer = send("GET", gateway.url + path)
        assert answer.status == 404
        assert answer.json["status"] == 404
        assert answer.json["error"] == f"no route for {path}"
    assert send("GET", gateway.api("/payments")).json["routes"] == [
        "/api/inventory/...",
        "/api/orders/...",
        "/api/users/...",
    ]
    assert sum(backend.calls for backend in backends.values()) == 0


def test_dot_segments_are_refused(stack: tuple[Running, dict[str, Backend]]) -> None:
    gateway, _ = stack
    answer = send("GET", gateway.url + "/api/inventory/%2E%2E/orders/1")
    assert answer.status == 400
    assert "'..'" in answer.json["error"]


def test_a_body_over_the_limit_gets_413_and_never_reaches_the_service(
    stack: tuple[Running, dict[str, Backend]],
) -> None:
    gateway, backends = stack
    assert send("POST", gateway.api("/inventory/items"), body=b"x" * 1000).status == 200
    answer = send("POST", gateway.api("/inventory/items"), body=b"x" * 1001)
    assert answer.status == 413
    assert answer.json == {
        "error": "the request body is larger than the gateway accepts (1000 bytes)",
        "status": 413,
        "limit": 1000,
    }

    async def chunks():  # no Content-Length: counted while read
        for _ in range(3):
            yield b"y" * 400

    assert send("POST", gateway.api("/inventory/items"), body=chunks()).status == 413
    assert backends["inventory"].calls == 1


def test_a_missing_token_is_401_with_a_bearer_challenge(stack: tuple[Running, dict[str, Backend]]) -> None:
    gateway, backends = stack
    answer = send("GET", gateway.api("/orders"))
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="servicelab"'
    assert "needs a bearer token" in answer.json["error"]
    wrong_scheme = send("GET", gateway.api("/orders"), {"Authorization": "Basic YWxpY2U6cHc="})
    assert wrong_scheme.status == 401
    assert 'error="invalid_request"' in wrong_scheme.headers["WWW-Authenticate"]
    assert backends["orders"].calls == 0


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (KEYS.token("alice", ["orders:read"], expires_in=-60), "expired"),
        (KEYS.token("alice", ["orders:read"], audience="elsewhere"), "wrong audience"),
        (Keys("key-1").token("alice", ["orders:read"]), "bad signature"),  # same kid, another key
        ("not.a.token", "malformed"),
        (unsigned("alice", ["orders:read"]), "algorithm not allowed"),
    ],
)
def test_a_rejected_token_is_401_saying_why(
    stack: tuple[Running, dict[str, Backend]], token: str, reason: str
) -> None:
    gateway, backends = stack
    answer = send("GET", gateway.api("/orders"), bearer(token))
    assert answer.status == 401
    assert answer.json["reason"] == reason
    assert answer.json["error"] == f"the bearer token was rejected: {reason}"
    challenge = answer.headers["WWW-Authenticate"]
    assert challenge == f'Bearer realm="servicelab", error="invalid_token", error_description="{reason}"'
    assert backends["orders"].calls == 0


def test_a_missing_scope_is_403_naming_it(stack: tuple[Running, dict[str, Backend]]) -> None:
    gateway, backends = stack
    reader = KEYS.token("alice", ["orders:read"])
    assert send("GET", gateway.api("/orders/7"), bearer(reader)).status == 200
    answer = send("POST", gateway.api("/orders"), bearer(reader), b"{}")
    assert answer.status == 403
    assert answer.json["missing"] == ["orders:write"]
    assert 'error="insufficient_scope", scope="orders:write"' in answer.headers["WWW-Authenticate"]
    assert [seen.method for seen in backends["orders"].seen] == ["GET"]


def test_public_rules_and_token_only_rules(stack: tuple[Running, dict[str, Backend]]) -> None:
    gateway, backends = stack
    assert send("POST", gateway.api("/users/token"), body=b"username=a&password=b").status == 200
    assert send("GET", gateway.api("/users/me")).status == 401
    me = send("GET", gateway.api("/users/me"), bearer(KEYS.token("alice")))
    assert (me.status, me.json["user"]) == (200, "alice")
    assert [seen.path_qs for seen in backends["users"].seen] == ["/users/token", "/users/me"]


def test_identity_headers_come_from_the_token_never_from_the_client(
    stack: tuple[Running, dict[str, Backend]],
) -> None:
    gateway, backends = stack
    spoof = {
        "X-User": "admin",
        "X-Scopes": "orders:read orders:write admin",
        "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
    }
    public = send("GET", gateway.api("/inventory/items"), spoof)
    assert public.status == 200
    seen = backends["inventory"].seen[-1].headers
    assert "X-User" not in seen
    assert "X-Scopes" not in seen
    assert seen["traceparent"] == spoof["traceparent"]
    token = KEYS.token("alice", ["orders:read"])
    answer = send("GET", gateway.api("/orders"), {**spoof, **bearer(token), "Idempotency-Key": "k-1"})
    assert answer.json["user"] == "alice"
    seen = backends["orders"].seen[-1].headers
    assert seen.getall("X-User") == ["alice"]
    assert seen.getall("X-Scopes") == ["orders:read"]
    assert seen["Idempotency-Key"] == "k-1"
    assert seen["X-Forwarded-For"] == "127.0.0.1"


def test_a_redirect_to_the_instance_points_through_the_gateway(
    stack: tuple[Running, dict[str, Backend]],
) -> None:
    gateway, backends = stack
    backends["inventory"].redirect_to = "/inventory/items/KB-1"
    answer = send("GET", gateway.api("/inventory/items/kb-1"))
    assert answer.status == 307
    assert answer.headers["Location"] == gateway.api("/inventory/items/KB-1")


def test_hop_by_hop_headers_stay_on_their_hop(stack: tuple[Running, dict[str, Backend]]) -> None:
    gateway, backends = stack
    headers = {
        "Connection": "keep-alive, X-Hop-Secret",
        "X-Hop-Secret": "1",
        "Keep-Alive": "timeout=5",
        "X-Kept": "2",
    }
    assert send("GET", gateway.api("/inventory/items"), headers).status == 200
    seen = backends["inventory"].seen[-1].headers
    assert "X-Hop-Secret" not in seen
    assert "Keep-Alive" not in seen
    assert seen["X-Kept"] == "2"


def test_a_rotated_key_is_fetched_when_a_token_names_it_at_most_once_per_interval() -> None:
    old, new = Keys("old"), Keys("new")
    users = Backend("users", "users-1", jwks=jwks_of(old))
    orders = Backend("orders", "orders-1")
    clock = ManualClock(100.0)
    gateway_config = config(ROUTES, jwks={"refetch_interval": 5.0})

    def status(keys: Keys) -> int:
        return send("GET", gateway.api("/orders"), bearer(keys.token("a", ["orders:read"]))).status

    with gateway_running(gateway_config, [users, orders], clock=clock) as gateway:
        assert status(old) == 200
        assert users.jwks_fetches == 1
        users.jwks = jwks_of(old, new)  # the users service rotates its key
        unknown = send("GET", gateway.api("/orders"), bearer(new.token("a", ["orders:read"])))
        assert (unknown.status, unknown.json["reason"]) == (401, "unknown key")
        assert users.jwks_fetches == 1  # too soon after the last fetch: made-up kids cannot force fetches
        clock.advance(5.0)
        assert status(new) == 200  # one refetch, for the key id it did not know
        assert status(old) == 200
        assert users.jwks_fetches == 2
        for _ in range(3):
            assert status(Keys("made-up")) == 401
        assert users.jwks_fetches == 2
        clock.advance(5.0)
        assert status(Keys("made-up")) == 401
        assert users.jwks_fetches == 3


def test_without_signing_keys_token_routes_answer_503() -> None:
    users = Backend("users", "users-1", jwks=None)  # its JWKS endpoint answers 404
    backends = [users, Backend("orders", "orders-1"), Backend("inventory", "inventory-1")]
    with gateway_running(config(ROUTES), backends) as gateway:
        answer = send("GET", gateway.api("/orders"), bearer(KEYS.token("a", ["orders:read"])))
        assert answer.status == 503
        assert "signing keys could not be fetched" in answer.json["error"]
        assert "answered 404" in answer.json["error"]
        assert send("GET", gateway.api("/inventory/items")).status == 200  # public routes still work
        assert backends[1].calls == 0
