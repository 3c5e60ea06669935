"""Who is calling: bearer tokens checked against the users service's signing keys, and scopes.

Tokens are verified by :class:`live.auth.verify.JwksVerifier` (signature, algorithm, issuer, audience,
expiry) over the key set the users service publishes at ``GET /.well-known/jwks.json``.
:class:`JwksSource` fetches that document once, keeps the verifier built from it, and fetches again
when a token names a key it does not know (the users service rotated its key), at most once per
``refetch_interval`` seconds so that a stream of made-up key ids cannot turn into a stream of fetches.

:func:`authenticate` applies a route's :class:`~live.gateway.routing.Access`: no token where one is
needed, or a rejected token, is 401 with a ``WWW-Authenticate: Bearer`` challenge (RFC 6750); a valid
token without every required scope is 403.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp

from live.auth.verify import Claims, JwksVerifier, TokenRejected
from live.gateway.errors import GatewayError
from live.gateway.routing import Access
from patterns.clock import Clock

__all__ = ["JwksSource", "TokenVerifier", "authenticate", "bearer_token"]

REALM = "servicelab"


class TokenVerifier(Protocol):
    """Anything that turns a bearer token into :class:`Claims` or raises :class:`TokenRejected`."""

    async def verify(self, token: str) -> Claims: ...


class JwksSource:
    """A :class:`TokenVerifier` over a JWKS document fetched by ``fetch`` and refreshed on unknown keys.

    ``fetch`` returns the parsed JWKS (the gateway's fetches it from an instance of the users service)
    or raises :class:`OSError`, :class:`ValueError`, :class:`TimeoutError` or an aiohttp client error
    when it cannot. Without keys, token routes then answer 503 (with ``Retry-After``) and the next
    fetch is tried ``refetch_interval`` seconds later; keys fetched earlier stay in use meanwhile.
    ``fetches`` counts the attempts.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[dict[str, Any]]],
        *,
        refetch_interval: float,
        clock: Clock,
        leeway: float = 0.0,
    ) -> None:
        self._fetch = fetch
        self._refetch_interval = refetch_interval
        self._clock = clock
        self._leeway = leeway
        self._verifier: JwksVerifier | None = None
        self._fetched_at = -math.inf
        self._failure = "not fetched yet"
        self._lock = asyncio.Lock()
        self.fetches = 0
        """JWKS documents fetched (successfully or not)."""

    async def verify(self, token: str) -> Claims:
        verifier = self._verifier or await self._refresh(None)
        try:
            return verifier.verify(token)
        except TokenRejected as rejected:
            if rejected.reason != "unknown key":
                raise
        return (await self._refresh(verifier)).verify(token)

    async def _refresh(self, seen: JwksVerifier | None) -> JwksVerifier:
        """A verifier over fresh keys; the current one if another request refreshed or it is too soon."""
        async with self._lock:
            current = self._verifier
            if current is not None and current is not seen:
                return current
            if self._clock() - self._fetched_at < self._refetch_interval:
                if current is not None:
                    return current
                raise self._unavailable()
            self.fetches += 1
            self._fetched_at = self._clock()
            try:
                jwks = await self._fetch()
            except (OSError, ValueError, TimeoutError, aiohttp.ClientError) as error:
                self._failure = str(error) or type(error).__name__
                if current is not None:
                    return current
                raise self._unavailable() from None
            try:
                verifier = JwksVerifier(jwks, leeway=self._leeway)
            except Exception as error:  # whatever a malformed key set makes the verifier raise
                self._failure = f"the key set is malformed: {error}"
                if current is not None:
                    return current
                raise self._unavailable() from None
            self._verifier = verifier
            return verifier

    def _unavailable(self) -> GatewayError:
        return GatewayError(
            503,
            f"cannot verify tokens now: the signing keys could not be fetched ({self._failure})",
            headers={"Retry-After": str(max(1, math.ceil(self._refetch_interval)))},
        )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None without one.

    Raises a 401 :class:`GatewayError` for an Authorization header of another form.
    """
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("the Authorization header must read 'Bearer <token>'", "invalid_request")
    return token.strip()


def _unauthorized(message: str, code: str | None = None, reason: str | None = None) -> GatewayError:
    challenge = f'Bearer realm="{REALM}"'
    if code is not None:
        challenge += f', error="{code}"'
    if reason is not None:
        challenge += f', error_description="{reason}"'
    extra = {"reason": reason} if reason is not None else {}
    return GatewayError(401, message, headers={"WWW-Authenticate": challenge}, **extra)


async def authenticate(access: Access, authorization: str | None, verifier: TokenVerifier) -> Claims | None:
    """The caller's verified claims, None on a public request; a :class:`GatewayError` when refused.

    Public requests are not checked at all (their Authorization header still goes to the service).
    """
    if access.auth == "public":
        return None
    token = bearer_token(authorization)
    if token is None:
        raise _unauthorized("this endpoint needs a bearer token: log in at /api/users/token")
    try:
        claims = await verifier.verify(token)
    except TokenRejected as rejected:
        raise _unauthorized(
            f"the bearer token was rejected: {rejected.reason}", "invalid_token", rejected.reason
        ) from None
    missing = sorted(access.scopes - claims.scopes)
    if missing:
        needed = " ".join(sorted(access.scopes))
        raise GatewayError(
            403,
            f"the token lacks the scope(s) this endpoint needs: {', '.join(missing)}",
            headers={
                "WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope", scope="{needed}"'
            },
            required=sorted(access.scopes),
            missing=missing,
        )
    return claims
