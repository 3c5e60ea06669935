"""The users service over real HTTP on loopback: sign-up, login, profiles, the JWKS, and its refusals."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
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
from tests.live.http import call
from tests.live.users.conftest import bearer, log_in, sign_up, users_settings

pytestmark = pytest.mark.live

DEFAULT_SCOPES = ["inventory:read", "orders:read", "orders:write"]
USERNAME_RULE_BROKEN = "body.username: a username is 3 to 32 characters"


def token_for(url: str, username: str, scope: str | None = None) -> str:
    answer = log_in(url, username, scope=scope)
    assert answer.status == 200, answer.body
    return answer.body["access_token"]


def served_verifier(url: str) -> JwksVerifier:
    """A verifier built the gateway's way: from the JWKS the service serves."""
    return JwksVerifier(call("GET", f"{url}/.well-known/jwks.json").body)


def test_sign_up_returns_the_profile_without_the_password(users_url) -> None:
    before = time.time()
    answer = sign_up(users_url, "alice", email="alice@example.org", full_name="Alice Liddell")
    assert answer.status == 201, answer.body
    profile = answer.body
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
    assert "correct horse" not in json.dumps(profile)


def test_a_taken_username_is_a_conflict(users_url) -> None:
    assert sign_up(users_url, "alice").status == 201
    again = sign_up(users_url, "alice", password="another password")
    assert again.status == 409
    assert again.body == {"error": "username 'alice' is taken", "status": 409}
    assert log_in(users_url, "alice", "another password").status == 401


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            {"username": "Alice", "password": "correct horse"},
            USERNAME_RULE_BROKEN,
        ),
        ({"username": "al", "password": "correct horse"}, USERNAME_RULE_BROKEN),
        ({"username": "1alice", "password": "correct horse"}, "starting with a letter"),
        ({"username": "a" * 33, "password": "correct horse"}, "body.username: a username is"),
        ({"username": "alice", "password": "pw1"}, "body.password: String should have at least 8 characters"),
        ({"username": "alice", "password": "p" * 129}, "body.password: String should have at most 128"),
        ({"username": "alice", "password": "correct horse", "email": "a"}, "body.email: an email address"),
        ({"username": "alice", "password": "correct horse", "admin": True}, "body.admin: Extra inputs"),
        ({"username": "alice"}, "body.password: Field required"),
        (["alice", "correct horse"], "valid dictionary"),
    ],
)
def test_a_body_breaking_a_rule_is_a_422_that_names_the_rule(users_url, body, problem) -> None:
    answer = call("POST", f"{users_url}/users", json_body=body)
    assert answer.status == 422, answer.body
    assert answer.body["status"] == 422
    (found,) = answer.body["problems"]
    assert problem in found
    assert "pw1" not in json.dumps(answer.body)  # a rejected password is not echoed back
    assert sign_up(users_url, "alice").status == 201  # nothing was stored


def test_a_body_that_is_not_json_is_a_422(users_url) -> None:
    request = urllib.request.Request(
        f"{users_url}/users",
        data=b'{"username": "alice",',
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused, urllib.request.urlopen(request, timeout=10):
        pass
    with refused.value as answer:
        assert answer.code == 422
        assert "JSON decode error" in json.loads(answer.read())["error"]


def test_login_issues_a_bearer_token_the_served_jwks_verifies(users_url) -> None:
    sign_up(users_url, "alice")
    answer = log_in(users_url, "alice")
    assert answer.status == 200, answer.body
    assert answer.headers["cache-control"] == "no-store"
    grant = answer.body
    assert set(grant) == {"access_token", "token_type", "expires_in", "scope"}
    assert (grant["token_type"], grant["expires_in"]) == ("bearer", 900)
    assert grant["scope"] == " ".join(DEFAULT_SCOPES)
    claims = served_verifier(users_url).verify(grant["access_token"])
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
    answer = log_in(users_url, "alice", scope=requested)
    assert answer.status == 200
    assert answer.body["scope"] == granted
    assert served_verifier(users_url).verify(answer.body["access_token"]).scopes == set(granted.split())


def test_a_login_asking_only_for_scopes_it_may_not_hold_is_refused(users_url) -> None:
    sign_up(users_url, "alice")
    answer = log_in(users_url, "alice", scope="inventory:write")
    assert answer.status == 400
    assert "inventory:write" in answer.body["error"]


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong horse"), ("nobody", "correct horse")])
def test_wrong_credentials_are_a_401_with_a_bearer_challenge(users_url, username, password) -> None:
    sign_up(users_url, "alice")
    answer = log_in(users_url, username, password)
    assert answer.status == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    # the same answer for a wrong password and an unknown name: no user enumeration
    assert answer.body == {"error": "wrong username or password", "status": 401}


def test_a_login_form_without_a_password_is_a_422(users_url) -> None:
    answer = call("POST", f"{users_url}/users/token", form={"username": "alice"})
    assert answer.status == 422
    assert answer.body["problems"] == ["body.password: Field required"]


def test_me_is_the_bearers_own_profile(users_url) -> None:
    sign_up(users_url, "alice", email="alice@example.org")
    sign_up(users_url, "bob")
    answer = call("GET", f"{users_url}/users/me", headers=bearer(token_for(users_url, "alice")))
    assert answer.status == 200
    assert answer.body["username"] == "alice"
    assert answer.body["email"] == "alice@example.org"


def test_me_without_a_token_is_a_401_challenge(users_url) -> None:
    answer = call("GET", f"{users_url}/users/me")
    assert answer.status == 401
    assert answer.headers["www-authenticate"] == "Bearer"


def test_me_with_a_bad_token_says_what_is_wrong_with_it(users_url) -> None:
    sign_up(users_url, "alice")
    garbage = call("GET", f"{users_url}/users/me", headers=bearer("not-a-jwt"))
    assert garbage.status == 401
    assert garbage.body["error"] == "invalid token: malformed"
    challenge = garbage.headers["www-authenticate"]
    assert challenge == 'Bearer error="invalid_token", error_description="malformed"'
    foreign = TokenIssuer(Ed25519PrivateKey.generate()).issue("alice", DEFAULT_SCOPES)
    unknown = call("GET", f"{users_url}/users/me", headers=bearer(foreign))
    assert unknown.body["error"] == "invalid token: unknown key"


def test_an_expired_token_stops_working_at_its_exp(state_dir) -> None:
    clock = ManualClock(time.time())
    with running(create_app(users_settings(state_dir), clock=clock)) as url:
        sign_up(url, "alice")
        token = token_for(url, "alice")
        clock.advance(899)
        assert call("GET", f"{url}/users/me", headers=bearer(token)).status == 200
        clock.advance(1)
        expired = call("GET", f"{url}/users/me", headers=bearer(token))
    assert expired.status == 401
    assert expired.body["error"] == "invalid token: expired"


def test_a_public_profile_shows_the_name_only_and_a_missing_user_is_404(users_url) -> None:
    sign_up(users_url, "alice", email="alice@example.org", full_name="Alice Liddell")
    answer = call("GET", f"{users_url}/users/alice")
    assert answer.status == 200
    assert answer.body == {"username": "alice", "full_name": "Alice Liddell"}
    missing = call("GET", f"{users_url}/users/nobody")
    assert missing.status == 404
    assert missing.body == {"error": "no user 'nobody'", "status": 404}


def test_the_served_jwks_is_the_public_key_file_of_the_state_folder(users_url, state_dir) -> None:
    answer = call("GET", f"{users_url}/.well-known/jwks.json")
    assert answer.status == 200
    assert answer.body == jwks(load_public_key(state_dir))
    assert "max-age" in answer.headers["cache-control"]


def test_the_openapi_document_lists_the_routes_and_the_password_flow(users_url) -> None:
    document = call("GET", f"{users_url}/openapi.json").body
    routes = {"/users", "/users/token", "/users/me", "/users/{username}", "/.well-known/jwks.json"}
    assert routes <= set(document["paths"])
    (scheme,) = document["components"]["securitySchemes"].values()
    assert scheme["flows"]["password"]["tokenUrl"] == "users/token"


def test_replicas_share_one_database_and_one_key(state_dir) -> None:
    first, second = (create_app(users_settings(state_dir, f"users-{n}")) for n in (1, 2))
    with running(first) as one, running(second) as two:
        assert sign_up(one, "alice").status == 201
        token = token_for(two, "alice")
        assert call("GET", f"{one}/users/me", headers=bearer(token)).body["username"] == "alice"
        assert sign_up(two, "alice").status == 409
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda n: sign_up((one, two)[n % 2], "bob").status, range(8)))
    assert sorted(statuses) == [201] + [409] * 7


def test_without_the_stacks_key_the_app_says_how_to_get_one(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="live up"):
        create_app(users_settings(tmp_path))
