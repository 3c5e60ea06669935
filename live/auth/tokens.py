"""Issuing access tokens: short-lived EdDSA JWTs that say who the bearer is and what they may do.

Every token the users service issues carries the claims the whole stack agrees on:

    header   {"alg": "EdDSA", "typ": "JWT", "kid": <thumbprint of the signing key>}
    payload  iss "servicelab-users"   who issued it
             aud "servicelab"         who may accept it
             sub <username>           who the bearer is
             scope "a b c"            what the bearer may do (space separated, as OAuth 2 writes it)
             iat, exp                 issued at, expires at (whole seconds since the epoch)
             jti                      a random id, unique per token

A token is valid for ``lifetime`` seconds (15 minutes by default) and cannot be revoked before then:
the short lifetime is what bounds the damage of a stolen one. The clock is injected so tests can
issue tokens in the past or the future.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from live.auth.keys import key_id
from patterns.clock import Clock

__all__ = ["ALGORITHM", "AUDIENCE", "DEFAULT_LIFETIME", "ISSUER", "TokenIssuer"]

ISSUER = "servicelab-users"
AUDIENCE = "servicelab"
ALGORITHM = "EdDSA"
DEFAULT_LIFETIME = 15 * 60
"""Seconds an access token stays valid."""


@dataclass(frozen=True)
class TokenIssuer:
    """Signs access tokens with one private key."""

    private_key: Ed25519PrivateKey
    lifetime: int = DEFAULT_LIFETIME
    clock: Clock = time.time
    issuer: str = ISSUER
    audience: str = AUDIENCE
    kid: str = field(init=False)

    def __post_init__(self) -> None:
        if self.lifetime <= 0:
            raise ValueError(f"token lifetime must be positive seconds, got {self.lifetime}")
        object.__setattr__(self, "kid", key_id(self.private_key.public_key()))

    def issue(self, subject: str, scopes: Iterable[str]) -> str:
        """A signed access token for ``subject`` granting ``scopes``."""
        issued_at = int(self.clock())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "scope": " ".join(sorted(set(scopes))),
            "iat": issued_at,
            "exp": issued_at + self.lifetime,
            "jti": secrets.token_urlsafe(16),
        }
        return jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})
