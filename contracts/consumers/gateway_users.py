"""Consumer tests of ``gateway -> users``: the JWKS the gateway reads itself, and the routes it forwards.

The gateway is a real consumer of one users answer: ``GET /.well-known/jwks.json``, whose ``keys``
(``kty``, ``crv``, ``x``, ``kid``) it builds its token verifier from. The mock server answers the
contract's example JWKS, which holds the fixed test key (:mod:`contracts.consumers.identity`), so the
gateway really verifies the test's token with it before forwarding ``/users/me``. The other
interactions are the account routes the gateway forwards for its clients: sign-up (``201``), log-in
(an ``access_token``, read by the load generator), public profiles, an unknown user's ``404``.

The ``Authorization`` header is matched by a pattern; the verifier sends the pact's example there,
which users cannot accept, so users' provider verification replaces it with a real token
(:mod:`contracts.providers.users`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pact import match

from contracts.consumers.harness import fetch, gateway_before
from contracts.consumers.identity import BEARER, EXAMPLE_BEARER, USER, bearer, fixed_jwks
from contracts.consumers.mock import instance_of, mock_server, new_pact, write
from contracts.consumers.shapes import error_body, timestamp

__all__ = ["TESTS"]

CONSUMER, PROVIDER = "gateway", "users"
PASSWORD = "correct horse battery"
JWT = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
BASE64URL = r"^[A-Za-z0-9_-]+$"


def _jwks() -> dict[str, Any]:
    (key,) = fixed_jwks()["keys"]
    return {
        "keys": match.each_like(
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "alg": "EdDSA",
                "x": match.regex(key["x"], regex=BASE64URL),
                "kid": match.regex(key["kid"], regex=BASE64URL),
            }
        )
    }


def _profile() -> dict[str, Any]:
    return {"username": USER, "scopes": match.each_like("orders:read"), "created_at": timestamp()}


def _through_gateway(pact: Any, method: str, path: str, **request: Any) -> Any:
    with mock_server(pact) as server, gateway_before(instance_of(PROVIDER, server)) as gw:
        return fetch(method, f"{gw}/api{path}", **request)


def own_profile(folder: Path) -> None:
    """``/users/me`` with a token: the gateway fetches the JWKS, verifies the token, forwards it."""
    pact = new_pact(CONSUMER, PROVIDER)
    (
        pact.upon_receiving("a request for the token signing keys")
        .with_request("GET", "/.well-known/jwks.json")
        .will_respond_with(200)
        .with_body(_jwks(), content_type="application/json")
    )
    (
        pact.upon_receiving("a request for the signed-in user's own profile")
        .given("a user exists", username=USER, password=PASSWORD)
        .with_request("GET", "/users/me")
        .with_header("Authorization", match.regex(EXAMPLE_BEARER, regex=BEARER))
        .will_respond_with(200)
        .with_body(_profile(), content_type="application/json")
    )
    answer = _through_gateway(pact, "GET", "/users/me", headers=bearer(["orders:read"]))
    assert answer.status == 200, answer
    assert answer.body["username"] == USER, answer
    write(pact, folder)


def sign_up(folder: Path) -> None:
    """A new account: 201 with its profile."""
    pact = new_pact(CONSUMER, PROVIDER)
    (
        pact.upon_receiving("a sign-up")
        .given("no user exists", username=USER)
        .with_request("POST", "/users")
        .with_body({"username": USER, "password": match.str(PASSWORD)}, content_type="application/json")
        .will_respond_with(201)
        .with_body(_profile(), content_type="application/json")
    )
    answer = _through_gateway(pact, "POST", "/users", json_body={"username": USER, "password": PASSWORD})
    assert answer.status == 201, answer
    assert answer.body["username"] == USER, answer
    write(pact, folder)


def log_in(folder: Path) -> None:
    """The OAuth 2 password flow: a form in, an ``access_token`` out."""
    pact = new_pact(CONSUMER, PROVIDER)
    (
        pact.upon_receiving("a log-in with the right password")
        .given("a user exists", username=USER, password=PASSWORD)
        .with_request("POST", "/users/token")
        .with_body(
            f"username={USER}&password={PASSWORD.replace(' ', '+')}",
            content_type="application/x-www-form-urlencoded",
        )
        .will_respond_with(200)
        .with_body(
            {
                "access_token": match.regex(EXAMPLE_BEARER.removeprefix("Bearer "), regex=JWT),
                "token_type": "bearer",
                "expires_in": match.int(900),
                "scope": match.str("inventory:read orders:read orders:write"),
            },
            content_type="application/json",
        )
    )
    answer = _through_gateway(pact, "POST", "/users/token", form={"username": USER, "password": PASSWORD})
    assert answer.status == 200, answer
    assert answer.body["access_token"].count(".") == 2, answer
    write(pact, folder)


def public_profile(folder: Path) -> None:
    """Anyone's public profile, no token needed."""
    pact = new_pact(CONSUMER, PROVIDER)
    (
        pact.upon_receiving("a request for a public profile")
        .given("a user exists", username=USER, password=PASSWORD)
        .with_request("GET", f"/users/{USER}")
        .will_respond_with(200)
        .with_body({"username": USER}, content_type="application/json")
    )
    answer = _through_gateway(pact, "GET", f"/users/{USER}")
    assert answer.status == 200, answer
    assert answer.body["username"] == USER, answer
    write(pact, folder)


def unknown_user(folder: Path) -> None:
    """A user that does not exist: 404 in the common error shape."""
    pact = new_pact(CONSUMER, PROVIDER)
    (
        pact.upon_receiving("a request for the profile of a user that does not exist")
        .given("no user exists", username="nobody")
        .with_request("GET", "/users/nobody")
        .will_respond_with(404)
        .with_body(error_body(404), content_type="application/json")
    )
    answer = _through_gateway(pact, "GET", "/users/nobody")
    assert answer.status == 404, answer
    assert answer.body["status"] == 404, answer
    write(pact, folder)


TESTS = (own_profile, sign_up, log_in, public_profile, unknown_user)
