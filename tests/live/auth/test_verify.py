"""Every kind of bad token is refused, each with its own reason; good tokens yield their claims.

Forged tokens are assembled by hand (base64url JSON, then a signature or none), the way an attacker
would, so the verifier is tested against the bytes it will actually meet, not against what PyJWT
agrees to produce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from live.auth.keys import jwks, key_id, public_pem
from live.auth.tokens import TokenIssuer
from live.auth.verify import Claims, JwksVerifier, TokenRejected
from tests.live.auth.conftest import NOW

KEY = Ed25519PrivateKey.generate()
"""A key for the property tests (hypothesis runs many examples per test; fixtures are per test)."""


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def part(value: Any) -> str:
    return b64(json.dumps(value).encode())


def claims(**changes: Any) -> dict[str, Any]:
    """A valid payload at NOW, with ``changes`` applied (None removes a claim)."""
    payload = {
        "iss": "servicelab-users",
        "aud": "servicelab",
        "sub": "alice",
        "scope": "orders:read",
        "iat": int(NOW),
        "exp": int(NOW) + 900,
        "jti": "j1",
    }
    payload.update(changes)
    return {name: value for name, value in payload.items() if value is not None}


def signed(key: Ed25519PrivateKey, payload: dict[str, Any], kid: str | None = None) -> str:
    """A token properly signed by ``key`` (so only its claims can be at fault)."""
    return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": kid or key_id(key.public_key())})


def reason(verifier: JwksVerifier, token: str) -> str:
    with pytest.raises(TokenRejected) as rejected:
        verifier.verify(token)
    return rejected.value.reason


def test_a_valid_token_yields_its_claims(verifier, private_key) -> None:
    assert verifier.verify(signed(private_key, claims())) == Claims(
        subject="alice", scopes=frozenset({"orders:read"}), expires_at=NOW + 900, raw=claims()
    )


def test_a_tampered_payload_breaks_the_signature(verifier, issuer) -> None:
    header, payload, signature = issuer.issue("alice", ["orders:read"]).split(".")
    forged = json.loads(unb64(payload)) | {"sub": "admin", "scope": "inventory:write"}
    assert reason(verifier, f"{header}.{part(forged)}.{signature}") == "bad signature"


def test_a_tampered_signature_is_refused(verifier, issuer) -> None:
    header, payload, signature = issuer.issue("alice", []).split(".")
    flipped = bytearray(unb64(signature))
    flipped[0] ^= 1
    assert reason(verifier, f"{header}.{payload}.{b64(bytes(flipped))}") == "bad signature"


def test_a_token_signed_by_another_key_under_our_kid_is_refused(verifier, private_key) -> None:
    token = signed(Ed25519PrivateKey.generate(), claims(), kid=key_id(private_key.public_key()))
    assert reason(verifier, token) == "bad signature"


def test_an_expired_token_is_refused_from_its_exp_on(verifier, issuer, clock) -> None:
    token = issuer.issue("alice", [])
    clock.advance(899)
    assert verifier.verify(token).subject == "alice"
    clock.advance(1)
    assert reason(verifier, token) == "expired"


def test_leeway_tolerates_that_much_clock_skew(private_key, issuer, clock) -> None:
    lenient = JwksVerifier(jwks(private_key.public_key()), clock=clock, leeway=30)
    token = issuer.issue("alice", [])
    clock.advance(900 + 29)
    assert lenient.verify(token).subject == "alice"
    clock.advance(1)
    assert reason(lenient, token) == "expired"


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_token_valid_only_later_is_refused(verifier, private_key, claim) -> None:
    assert reason(verifier, signed(private_key, claims(**{claim: int(NOW) + 60}))) == "not yet valid"
    assert verifier.verify(signed(private_key, claims(**{claim: int(NOW)}))).subject == "alice"


def test_a_token_for_another_audience_is_refused(verifier, private_key, clock) -> None:
    token = TokenIssuer(private_key, clock=clock, audience="billing").issue("alice", [])
    assert reason(verifier, token) == "wrong audience"
    assert reason(verifier, signed(private_key, claims(aud=["billing", "mail"]))) == "wrong audience"


def test_a_token_from_another_issuer_is_refused(verifier, private_key, clock) -> None:
    token = TokenIssuer(private_key, clock=clock, issuer="evil-users").issue("alice", [])
    assert reason(verifier, token) == "wrong issuer"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_an_unsigned_token_is_refused(verifier, private_key, alg) -> None:
    token = f"{part({'alg': alg, 'typ': 'JWT', 'kid': key_id(private_key.public_key())})}.{part(claims())}."
    assert reason(verifier, token) == "algorithm not allowed"


@pytest.mark.parametrize("secret", ["pem", "raw"])
def test_hs256_signed_with_the_public_key_is_refused(verifier, private_key, secret) -> None:
    """The key-confusion attack: the public key (which anyone can fetch) used as an HMAC secret."""
    public = private_key.public_key()
    key = (
        public_pem(public).encode()
        if secret == "pem"
        else public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': key_id(public)})}.{part(claims())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    assert reason(verifier, f"{signing_input}.{b64(signature)}") == "algorithm not allowed"


@pytest.mark.parametrize("algorithms", [("HS256",), ("EdDSA", "HS256"), ("none",), ()])
def test_a_verifier_cannot_be_told_to_allow_a_shared_secret_or_nothing(private_key, algorithms) -> None:
    with pytest.raises(ValueError, match="public-key signatures"):
        JwksVerifier(jwks(private_key.public_key()), algorithms=algorithms)


def test_a_key_verifies_only_with_its_own_algorithm(private_key, clock) -> None:
    both = JwksVerifier(jwks(private_key.public_key()), algorithms=("EdDSA", "RS256"), clock=clock)
    header = part({"alg": "RS256", "typ": "JWT", "kid": key_id(private_key.public_key())})
    assert reason(both, f"{header}.{part(claims())}.{b64(b'x' * 256)}") == "algorithm not allowed"


def test_a_token_with_an_unknown_or_no_kid_is_refused(verifier, private_key, clock) -> None:
    stranger = Ed25519PrivateKey.generate()
    assert reason(verifier, TokenIssuer(stranger, clock=clock).issue("alice", [])) == "unknown key"
    no_kid = jwt.encode(claims(), private_key, algorithm="EdDSA")
    assert reason(verifier, no_kid) == "unknown key"
    assert verifier.knows(key_id(private_key.public_key()))
    assert not verifier.knows(key_id(stranger.public_key()))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.???.***",
        f"{b64(b'not json')}.{part(claims())}.sig",
        f"{part(['EdDSA'])}.{part(claims())}.sig",
        f"{part('EdDSA')}.{part(claims())}.sig",
    ],
)
def test_a_malformed_token_is_refused(verifier, token) -> None:
    assert reason(verifier, token) == "malformed"


def test_a_header_kid_that_is_not_a_string_is_malformed(verifier, private_key) -> None:
    header = part({"alg": "EdDSA", "typ": "JWT", "kid": 7})
    assert reason(verifier, f"{header}.{part(claims())}.{b64(b'x' * 64)}") == "malformed"


@pytest.mark.parametrize(
    "payload",
    [
        claims(sub=42),
        claims(exp="tomorrow"),
        claims(exp=True),
        claims(nbf="soon"),
        claims(scope=["orders:read"]),
    ],
)
def test_claims_of_the_wrong_type_are_malformed(verifier, private_key, payload) -> None:
    assert reason(verifier, signed(private_key, payload)) == "malformed"


def test_a_properly_signed_payload_that_is_not_an_object_is_malformed(verifier, private_key) -> None:
    token = jwt.api_jws.encode(
        b"[1, 2]", private_key, algorithm="EdDSA", headers={"kid": key_id(private_key.public_key())}
    )
    assert reason(verifier, token) == "malformed"


@pytest.mark.parametrize("claim", ["exp", "sub", "aud", "iss"])
def test_each_required_claim_must_be_present(verifier, private_key, claim) -> None:
    with pytest.raises(TokenRejected) as rejected:
        verifier.verify(signed(private_key, claims(**{claim: None})))
    assert rejected.value.reason == "missing claim"
    assert repr(claim) in rejected.value.detail


def test_scopes_are_checked_against_a_requirement(verifier, private_key) -> None:
    granted = verifier.verify(signed(private_key, claims(scope="orders:read orders:write")))
    assert granted.has_scopes({"orders:read"})
    assert granted.has_scopes([])
    assert not granted.has_scopes({"orders:read", "inventory:write"})
    assert granted.missing_scopes({"orders:read", "inventory:write"}) == {"inventory:write"}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({}, "keys"),
        ({"keys": "none"}, "keys"),
        ({"keys": [{"kty": "OKP"}]}, "no kid"),
        ({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k"}]}, "unusable"),
    ],
)
def test_an_unusable_jwks_document_fails_at_construction(document, problem) -> None:
    with pytest.raises(ValueError, match=problem):
        JwksVerifier(document)


def test_keys_for_other_uses_are_ignored(private_key) -> None:
    document = jwks(private_key.public_key())
    document["keys"][0]["use"] = "enc"
    assert not JwksVerifier(document).knows(key_id(private_key.public_key()))


REASONS = {
    "malformed",
    "algorithm not allowed",
    "unknown key",
    "bad signature",
    "missing claim",
    "wrong audience",
    "wrong issuer",
    "expired",
    "not yet valid",
}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(token=st.text(max_size=60) | st.lists(st.text("abcXYZ019-_=.", max_size=12), max_size=4).map(".".join))
def test_any_string_is_verified_or_refused_never_an_error(token) -> None:
    verifier = JwksVerifier(jwks(KEY.public_key()), clock=lambda: NOW)
    assert reason(verifier, token) in REASONS


@settings(max_examples=200, deadline=None)
@given(
    header=JSON,
    payload=JSON
    | st.dictionaries(st.sampled_from(["iss", "aud", "sub", "scope", "exp", "nbf", "iat"]), JSON).map(
        lambda changes: claims() | changes
    ),
)
def test_any_json_header_and_payload_are_verified_or_refused_never_an_error(header, payload) -> None:
    """Even properly signed: whatever the claims hold, the answer is Claims or TokenRejected."""
    verifier = JwksVerifier(jwks(KEY.public_key()), clock=lambda: NOW)
    if isinstance(header, dict):
        header = {**header, "alg": "EdDSA", "kid": key_id(KEY.public_key())}
    signing_input = f"{part(header)}.{part(payload)}"
    token = f"{signing_input}.{b64(KEY.sign(signing_input.encode()))}"
    try:
        verified = verifier.verify(token)
    except TokenRejected as rejected:
        assert rejected.reason in REASONS  # noqa: PT017 (a property over both outcomes, not one raise)
    else:
        assert verified.subject == payload["sub"]
