"""Issued tokens carry the agreed header and claims and verify with the issuer's public key."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from live.auth.keys import jwks, key_id
from live.auth.tokens import DEFAULT_LIFETIME, TokenIssuer
from live.auth.verify import JwksVerifier, TokenRejected
from tests.live.auth.conftest import NOW


def test_a_token_round_trips_with_every_agreed_claim(issuer, verifier, private_key) -> None:
    token = issuer.issue("alice", ["orders:write", "orders:read", "orders:read"])
    assert jwt.get_unverified_header(token) == {
        "alg": "EdDSA",
        "typ": "JWT",
        "kid": key_id(private_key.public_key()),
    }
    claims = verifier.verify(token)
    assert claims.subject == "alice"
    assert claims.scopes == {"orders:read", "orders:write"}
    assert claims.expires_at == NOW + DEFAULT_LIFETIME
    assert claims.raw["iss"] == "servicelab-users"
    assert claims.raw["aud"] == "servicelab"
    assert claims.raw["scope"] == "orders:read orders:write"
    assert claims.raw["iat"] == NOW
    assert DEFAULT_LIFETIME == 15 * 60


def test_every_token_has_its_own_jti(issuer, verifier) -> None:
    ids = {verifier.verify(issuer.issue("alice", [])).raw["jti"] for _ in range(20)}
    assert len(ids) == 20


def test_a_token_without_scopes_grants_none(issuer, verifier) -> None:
    assert verifier.verify(issuer.issue("alice", [])).scopes == frozenset()


def test_the_lifetime_is_configurable_and_ends_exactly(private_key, clock, verifier) -> None:
    token = TokenIssuer(private_key, lifetime=60, clock=clock).issue("alice", [])
    clock.advance(59)
    assert verifier.verify(token).expires_at == NOW + 60
    clock.advance(1)
    with pytest.raises(TokenRejected) as rejected:
        verifier.verify(token)
    assert rejected.value.reason == "expired"


def test_another_issuers_key_cannot_pass_for_ours(clock) -> None:
    ours, theirs = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    verifier = JwksVerifier(jwks(ours.public_key()), clock=clock)
    with pytest.raises(TokenRejected):
        verifier.verify(TokenIssuer(theirs, clock=clock).issue("alice", []))


@pytest.mark.parametrize("lifetime", [0, -5])
def test_a_lifetime_must_be_positive(private_key, lifetime) -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenIssuer(private_key, lifetime=lifetime)
