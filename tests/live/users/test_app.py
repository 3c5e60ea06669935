"""The users service over real HTTP on loopback: sign-up, login, profiles, the JWKS, and its refusals."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from live.auth.keys import jwks, load_public_key
from live.auth.tokens import TokenIssuer
from live.auth.verify import JwksVerifier
from live.common.server import running
from live.users.app import create_app
from patterns.clock import ManualClock
from tests.live.users.conftest import call, log_in, sign_up, users_settings

pytestmark = pytest.mark.live

DEFAULT_SCOPES = ["inventory:read", "orders:read", "orders:write"]


def token_for(url: str, username: str, scope: str | None = None) -> str:
    reply = log_in(url, username, scope=scope)
    assert reply.status == 200, reply.text
    return reply.body["access_token"]


def test_sign_up_returns_the_profile_without_the_password(users_url) -> None:
    before = time.time()
    reply = sign_up(users_url, "alice", email="alice@example.org", full_name="Alice Liddell")
    assert reply.status == 201, reply.text
    profile = reply.body
    assert set(profile) == {"username", "email", "full_name", "scopes", "created_at"}
    assert (profile["username"], profile["email"], profile["full_name"]) == (
        "alice",
        "alice@example.org",
        "Alice Liddell",
    )
    assert profile["scopes"] == DEFAULT_SCOPES
    created = datetime.fromisoformat(profile["created_at"].replace("Z", "+00:00"))
    assert created.utcoffset() == timedelta(0)
    assert before <= created.timestamp() <= time.time()
    assert "correct horse" not in reply.text


def test_a_taken_username_is_a_conflict(users_url) -> None:
    assert sign_up(users_url, "alice").status == 201
    again = sign_up(users_url, "alice", password="another password")
    assert again.status == 409
    assert again.body == {"detail": "username 'alice' is taken"}
    assert log_in(users_url, "alice", "another password").status == 401


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"username": "Alice", "password": "correct horse"}, "username", "lowercase letters"),
        ({"username": "al", "password": "correct horse"}, "username", "3 to 32 characters"),
        ({"username": "1alice", "password": "correct horse"}, "username", "starting with a letter"),
        ({"username": "a" * 33, "password": "correct horse"}, "username", "3 to 32 characters"),
        ({"username": "alice", "password": "pw1"}, "password", "at least 8 characters"),
        ({"username": "alice", "password": "p" * 129}, "password", "at most 128 characters"),
        ({"username": "alice", "password": "correct horse", "email": "alice"}, "email", "name@example.org"),
        ({"username": "alice", "password": "correct horse", "admin": True}, "admin", "not permitted"),
        ({"username": "alice"}, "password", "Field required"),
        (["alice", "correct horse"], None, "valid dictionary"),
    ],
)
def test_a_body_breaking_a_rule_is_a_422_that_names_the_rule(users_url, body, field, message) -> None:
    reply = call("POST", f"{users_url}/users", json_body=body)
    assert reply.status == 422, reply.text
    (problem,) = reply.body["detail"]
    assert set(problem) == {"loc", "msg", "type"}
    assert message in problem["msg"]
    if field is not None:
        assert problem["loc"] == ["body", field]
    assert "pw1" not in reply.text
    assert sign_up(users_url, "alice").status == 201  # nothing was stored


def test_a_body_that_is_not_json_is_a_422(users_url) -> None:
    reply = call("POST", f"{users_url}/users", raw=b'{"username": "alice",')
    assert reply.status == 422
    assert reply.body["detail"][0]["type"] == "json_invalid"


def test_login_issues_a_bearer_token_the_served_jwks_verifies(users_url) -> None:
    sign_up(users_url, "alice")
    reply = log_in(users_url, "alice")
    assert reply.status == 200, reply.text
    assert reply.headers["Cache-Control"] == "no-store"
    grant = reply.body
    assert set(grant) == {"access_token", "token_type", "expires_in", "scope"}
    assert (grant["token_type"], grant["expires_in"], grant["scope"]) == (
        "bearer",
        900,
        " ".join(DEFAULT_SCOPES),
    )
    verifier = JwksVerifier(call("GET", f"{users_url}/.well-known/jwks.json").body)
    claims = verifier.verify(grant["access_token"])
    assert claims.subject == "alice"
    assert claims.scopes == set(DEFAULT_SCOPES)


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        ("orders:read", "orders:read"),
        ("orders:read inventory:read", "inventory:read orders:read"),
        ("orders:read inventory:write", "orders:read"),
    ],
)
def test_a_login_gets_the_requested_scopes_the_account_may_hold(users_url, requested, granted) -> None:
    sign_up(users_url, "alice")
    reply = log_in(users_url, "alice", scope=requested)
    assert reply.status == 200
    assert reply.body["scope"] == granted
    claims = JwksVerifier(call("GET", f"{users_url}/.well-known/jwks.json").body).verify(
        reply.body["access_token"]
    )
    assert claims.scopes == set(granted.split())


def test_a_login_asking_only_for_scopes_it_may_not_hold_is_refused(users_url) -> None:
    sign_up(users_url, "alice")
    reply = log_in(users_url, "alice", scope="inventory:write")
    assert reply.status == 400
    assert "inventory:write" in reply.body["detail"]


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong horse"), ("nobody", "correct horse")])
def test_wrong_credentials_are_a_401_with_a_bearer_challenge(users_url, username, password) -> None:
    sign_up(users_url, "alice")
    reply = log_in(users_url, username, password)
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert reply.body == {"detail": "wrong username or password"}  # the same for both: no user enumeration


def test_a_login_form_without_a_password_is_a_422(users_url) -> None:
    reply = call("POST", f"{users_url}/users/token", form={"username": "alice"})
    assert reply.status == 422
    assert reply.body["detail"][0]["loc"] == ["body", "password"]


def test_me_is_the_bearers_own_profile(users_url) -> None:
    sign_up(users_url, "alice", email="alice@example.org")
    sign_up(users_url, "bob")
    reply = call("GET", f"{users_url}/users/me", token=token_for(users_url, "alice"))
    assert reply.status == 200
    assert reply.body["username"] == "alice"
    assert reply.body["email"] == "alice@example.org"


def test_me_without_a_token_is_a_401_challenge(users_url) -> None:
    reply = call("GET", f"{users_url}/users/me")
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == "Bearer"


def test_me_with_a_bad_token_says_what_is_wrong_with_it(users_url, state_dir) -> None:
    sign_up(users_url, "alice")
    garbage = call("GET", f"{users_url}/users/me", token="not-a-jwt")
    assert garbage.status == 401
    assert garbage.body == {"detail": "invalid token: malformed"}
    assert (
        garbage.headers["WWW-Authenticate"] == 'Bearer error="invalid_token", error_description="malformed"'
    )
    foreign = TokenIssuer(Ed25519PrivateKey.generate()).issue("alice", DEFAULT_SCOPES)
    assert call("GET", f"{users_url}/users/me", token=foreign).body == {
        "detail": "invalid token: unknown key"
    }


def test_an_expired_token_stops_working_at_its_exp(state_dir) -> None:
    clock = ManualClock(time.time())
    with running(create_app(users_settings(state_dir), clock=clock)) as url:
        sign_up(url, "alice")
        token = token_for(url, "alice")
        clock.advance(899)
        assert call("GET", f"{url}/users/me", token=token).status == 200
        clock.advance(1)
        expired = call("GET", f"{url}/users/me", token=token)
    assert expired.status == 401
    assert expired.body == {"detail": "invalid token: expired"}


def test_a_public_profile_shows_name_only_and_a_missing_user_is_404(users_url) -> None:
    sign_up(users_url, "alice", email="alice@example.org", full_name="Alice Liddell")
    reply = call("GET", f"{users_url}/users/alice")
    assert reply.status == 200
    assert reply.body == {"username": "alice", "full_name": "Alice Liddell"}
    missing = call("GET", f"{users_url}/users/nobody")
    assert missing.status == 404
    assert missing.body == {"detail": "no user 'nobody'"}


def test_the_served_jwks_is_the_public_key_file_of_the_state_folder(users_url, state_dir) -> None:
    reply = call("GET", f"{users_url}/.well-known/jwks.json")
    assert reply.status == 200
    assert reply.body == jwks(load_public_key(state_dir))
    assert "max-age" in reply.headers["Cache-Control"]


def test_the_openapi_document_lists_the_routes_and_the_password_flow(users_url) -> None:
    document = call("GET", f"{users_url}/openapi.json").body
    assert {"/users", "/users/token", "/users/me", "/users/{username}", "/.well-known/jwks.json"} <= set(
        document["paths"]
    )
    (scheme,) = document["components"]["securitySchemes"].values()
    assert scheme["flows"]["password"]["tokenUrl"] == "users/token"


def test_replicas_share_one_database_and_one_key(state_dir) -> None:
    first, second = (create_app(users_settings(state_dir, f"users-{n}")) for n in (1, 2))
    with running(first) as one, running(second) as two:
        assert sign_up(one, "alice").status == 201
        token = token_for(two, "alice")
        assert call("GET", f"{one}/users/me", token=token).body["username"] == "alice"
        assert sign_up(two, "alice").status == 409
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda n: sign_up((one, two)[n % 2], "bob").status, range(8)))
    assert sorted(statuses) == [201] + [409] * 7


def test_without_the_stacks_key_the_app_says_how_to_get_one(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="live up"):
        create_app(users_settings(tmp_path))
