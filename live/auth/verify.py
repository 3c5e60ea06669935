"""Verifying access tokens: the checks every receiver of a bearer token makes before trusting it.

A :class:`JwksVerifier` holds the public keys of a JWKS document and accepts a token only when all of
these hold, in this order (the first that fails names the reason in :class:`TokenRejected`):

1. it parses as a JWS compact token whose header is a JSON object            else "malformed"
2. its header ``alg`` is in the verifier's allow-list                        else "algorithm not allowed"
   (so ``alg: none`` and HMAC algorithms never reach a key)
3. its header ``kid`` names a key of the JWKS, and that key signs with
   that algorithm                                                            else "unknown key" /
                                                                                  "algorithm not allowed"
4. the signature verifies with that key                                     else "bad signature"
5. ``exp``, ``sub``, ``aud`` and ``iss`` are present                         else "missing claim"
6. ``aud`` is the verifier's audience, ``iss`` its issuer                    else "wrong audience" /
                                                                                  "wrong issuer"
7. by the injected clock, give or take ``leeway`` seconds, the token has not
   expired and is already valid (``nbf`` and ``iat`` not in the future)      else "expired" /
                                                                                  "not yet valid"

The key-confusion attack (a token signed with HS256 using the *public* key as the HMAC secret, which
a verifier that lets the token choose its algorithm would accept) fails at step 2, and could not pass
step 3 either: the allow-list may hold asymmetric algorithms only, and each key verifies with its own
algorithm, never the one a token asks for.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from live.auth.tokens import ALGORITHM, AUDIENCE, ISSUER
from patterns.clock import Clock

__all__ = ["ASYMMETRIC_ALGORITHMS", "REQUIRED_CLAIMS", "Claims", "JwksVerifier", "TokenRejected"]

ASYMMETRIC_ALGORITHMS = frozenset(
    {"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
"""Algorithms a verifier may allow: public-key signatures, never a shared HMAC secret."""

REQUIRED_CLAIMS = ("exp", "sub", "aud", "iss")


class TokenRejected(Exception):  # noqa: N818 (the name the shared contract fixes)
    """A token the verifier refuses; ``reason`` is short and stable, ``detail`` says more."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Claims:
    """What a verified token says: who the bearer is, what they may do, until when."""

    subject: str
    scopes: frozenset[str]
    expires_at: float
    raw: dict[str, Any]

    def missing_scopes(self, required: Iterable[str]) -> frozenset[str]:
        """The scopes of ``required`` this token does not grant."""
        return frozenset(required) - self.scopes

    def has_scopes(self, required: Iterable[str]) -> bool:
        """Whether this token grants every scope of ``required``."""
        return not self.missing_scopes(required)


def _keys_by_id(document: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS document, by kid (ValueError names what is wrong with the document)."""
    entries = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        raise ValueError('a JWKS document is a JSON object with a "keys" list')
    keys: dict[str, jwt.PyJWK] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("kid"), str):
            raise ValueError(f"JWKS key #{index} has no kid")
        if entry.get("use", "sig") != "sig":
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(dict(entry))
        except jwt.PyJWTError as error:
            raise ValueError(f"JWKS key {entry['kid']!r} is unusable: {error}") from None
    return keys


def _number(payload: Mapping[str, Any], claim: str) -> float | None:
    """A NumericDate claim as seconds, None when absent (TokenRejected when it is not a number)."""
    value = payload.get(claim)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenRejected("malformed", f"claim {claim!r} must be a number of seconds, got {value!r}")
    return float(value)


class JwksVerifier:
    """Accepts the tokens signed by the keys of one JWKS document, for one issuer and audience."""

    def __init__(
        self,
        jwks: Mapping[str, Any],
        *,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
        algorithms: Iterable[str] = (ALGORITHM,),
        leeway: float = 0.0,
        clock: Clock = time.time,
    ) -> None:
        self.algorithms = tuple(algorithms)
        unsafe = set(self.algorithms) - ASYMMETRIC_ALGORITHMS
        if unsafe or not self.algorithms:
            raise ValueError(
                f"allowed algorithms must be public-key signatures "
                f"({', '.join(sorted(ASYMMETRIC_ALGORITHMS))}), got {list(self.algorithms)}"
            )
        if leeway < 0:
            raise ValueError(f"leeway must be >= 0 seconds, got {leeway}")
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.clock = clock
        self._keys = _keys_by_id(jwks)

    def knows(self, kid: str) -> bool:
        """Whether the JWKS holds a signing key with this kid (a verifier may refetch the JWKS if not)."""
        return kid in self._keys

    def verify(self, token: str) -> Claims:
        """The claims of a valid token; TokenRejected (with the reason) for any other."""
        key, algorithm = self._key_for(token)
        payload = self._decode(token, key, algorithm)
        self._check_times(payload)
        scope = payload.get("scope", "")
        if not isinstance(scope, str):
            raise TokenRejected("malformed", f"claim 'scope' must be a space separated string, got {scope!r}")
        return Claims(
            subject=payload["sub"],
            scopes=frozenset(scope.split()),
            expires_at=float(payload["exp"]),
            raw=payload,
        )

    def _key_for(self, token: str) -> tuple[jwt.PyJWK, str]:
        """Steps 1-3: the key the header names, if the header's algorithm is allowed and is that key's."""
        if not isinstance(token, str) or token.count(".") != 2:
            raise TokenRejected("malformed", "a JWT is three base64url parts separated by dots")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise TokenRejected("malformed", str(error)) from None
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            allowed = list(self.algorithms)
            raise TokenRejected("algorithm not allowed", f"alg {algorithm!r}, allowed {allowed}")
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenRejected("unknown key", f"kid {kid!r} is not in the JWKS")
        if key.algorithm_name != algorithm:
            detail = f"key {kid!r} signs with {key.algorithm_name}, the token says {algorithm}"
            raise TokenRejected("algorithm not allowed", detail)
        return key, algorithm

    def _decode(self, token: str, key: jwt.PyJWK, algorithm: str) -> dict[str, Any]:
        """Steps 4-6: signature, required claims, audience and issuer (times are checked on our clock)."""
        options = {
            "require": list(REQUIRED_CLAIMS),
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
        }
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options=options,
            )
        except jwt.InvalidSignatureError:
            raise TokenRejected("bad signature", "the signature does not match header and payload") from None
        except jwt.MissingRequiredClaimError as error:
            raise TokenRejected("missing claim", f"the token has no {error.claim!r} claim") from None
        except jwt.InvalidAudienceError as error:
            raise TokenRejected("wrong audience", f"{error}; expected {self.audience!r}") from None
        except jwt.InvalidIssuerError as error:
            raise TokenRejected("wrong issuer", f"{error}; expected {self.issuer!r}") from None
        except jwt.InvalidTokenError as error:
            raise TokenRejected("malformed", str(error)) from None

    def _check_times(self, payload: Mapping[str, Any]) -> None:
        """Step 7: not expired, already valid, by the injected clock with ``leeway`` seconds of slack."""
        now = self.clock()
        expires = _number(payload, "exp")
        if expires is not None and expires <= now - self.leeway:
            raise TokenRejected("expired", f"expired {now - expires:.0f} s ago")
        for claim in ("nbf", "iat"):
            moment = _number(payload, claim)
            if moment is not None and moment > now + self.leeway:
                raise TokenRejected("not yet valid", f"{claim} is {moment - now:.0f} s in the future")
