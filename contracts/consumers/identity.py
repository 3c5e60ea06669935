"""Who calls through the gateway in the consumer tests: a fixed signing key and the tokens it signs.

The gateway checks bearer tokens against the users service's JWKS. In the ``gateway -> users`` tests
Pact's mock server *is* users, so the JWKS it serves (the contract's example) must hold the key that
signed the test's tokens: a key fixed by a seed keeps the example, and so the pact file, the same
from run to run. The other gateway tests are not about users; their gateway gets a verifier over
that key directly (:class:`FixedKeyVerifier`), so their pacts hold no JWKS interaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from live.auth.keys import jwks
from live.auth.tokens import TokenIssuer
from live.auth.verify import Claims, JwksVerifier

__all__ = ["BEARER", "EXAMPLE_BEARER", "USER", "FixedKeyVerifier", "bearer", "fixed_jwks"]

USER = "alice"
"""The user every consumer test acts as."""

BEARER = r"^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
"""An ``Authorization`` header carrying a JWT (three base64url parts)."""

EXAMPLE_BEARER = "Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
"""The example the pact records for :data:`BEARER` (the provider is given a real token instead)."""

_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"servicelab contract tests").digest())


def fixed_jwks() -> dict[str, Any]:
    """The JWKS document of the fixed key."""
    return jwks(_KEY.public_key())


def bearer(scopes: Iterable[str], subject: str = USER) -> dict[str, str]:
    """An ``Authorization`` header with a fresh token for ``subject`` granting ``scopes``."""
    return {"Authorization": f"Bearer {TokenIssuer(_KEY).issue(subject, scopes)}"}


class FixedKeyVerifier:
    """The gateway's :class:`~live.gateway.auth.TokenVerifier` over the fixed key (no JWKS fetch)."""

    def __init__(self) -> None:
        self._verifier = JwksVerifier(fixed_jwks())

    async def verify(self, token: str) -> Claims:
        return self._verifier.verify(token)
