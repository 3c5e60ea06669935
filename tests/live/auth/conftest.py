"""One signing key, a hand-moved wall clock, and the issuer and verifier that share them."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from live.auth.keys import jwks
from live.auth.tokens import TokenIssuer
from live.auth.verify import JwksVerifier
from patterns.clock import ManualClock

NOW = 1_800_000_000.0
"""A fixed moment (2027-01-15) in seconds since the epoch, as JWT times are."""


@pytest.fixture
def private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def issuer(private_key: Ed25519PrivateKey, clock: ManualClock) -> TokenIssuer:
    return TokenIssuer(private_key, clock=clock)


@pytest.fixture
def verifier(private_key: Ed25519PrivateKey, clock: ManualClock) -> JwksVerifier:
    return JwksVerifier(jwks(private_key.public_key()), clock=clock)
