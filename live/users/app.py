"""The users service as a FastAPI app: accounts, the OAuth 2 password flow, and the public key.

    POST /users                   sign up (JSON) -> 201 profile; 409 name taken; 422 a rule broken
    POST /users/token             log in (form: username, password, scope) -> access token; 401 wrong
                                  credentials; 400 none of the requested scopes may be granted
    GET  /users/me                the bearer's own profile (401 without a valid token)
    GET  /users/{username}        anyone's public profile (404 if there is no such user)
    GET  /.well-known/jwks.json   the public key that verifies the tokens

The service verifies bearer tokens itself, with the same JwksVerifier the gateway uses, so ``/me`` is
safe whether or not the request came through the gateway. Tokens are signed with the stack's key from
the state folder, which ``live up`` creates before the first users process starts.

Scopes: every account may hold ``orders:read orders:write inventory:read``; a login that asks for no
scope gets all of them, one that asks for some gets those it may hold (the response's ``scope`` says
which, as RFC 6749 requires when it differs from the request).
"""

# No ``from __future__ import annotations``: FastAPI reads endpoint annotations when they are defined,
# and they name dependencies local to create_app.
import functools
import secrets
import time
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Response, status
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from live.auth.keys import jwks, load_private_key
from live.auth.passwords import hash_password, verify_password
from live.auth.tokens import TokenIssuer
from live.auth.verify import JwksVerifier, TokenRejected
from live.common.errors import install_json_errors
from live.common.settings import InstanceSettings
from live.users.schemas import Profile, PublicProfile, SignUp, TokenResponse
from live.users.store import User, UsernameTaken, UserStore
from patterns.clock import Clock

__all__ = ["DEFAULT_SCOPES", "create_app"]

DEFAULT_SCOPES = frozenset({"orders:read", "orders:write", "inventory:read"})
"""The scopes every account may hold, and what a login that names none is granted."""

_WRONG_CREDENTIALS = "wrong username or password"


@functools.cache
def _decoy_hash() -> str:
    """A hash to check a password against when the username is unknown: a wrong name then costs as long
    as a wrong password, so response times do not tell which usernames exist."""
    return hash_password(secrets.token_urlsafe(16))


def _unauthorized(detail: str, error: str | None = None) -> HTTPException:
    """401 with the challenge RFC 6750 asks for (naming the token's fault when there was a token)."""
    challenge = f'Bearer error="invalid_token", error_description="{error}"' if error else "Bearer"
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": challenge})


def create_app(settings: InstanceSettings, *, clock: Clock = time.time) -> FastAPI:
    """The users app of one instance: the key from the state folder, accounts in ``settings.database``."""
    private_key = load_private_key(settings.state_dir)
    issuer = TokenIssuer(private_key, clock=clock)
    key_set = jwks(private_key.public_key())
    verifier = JwksVerifier(key_set, clock=clock)
    store = UserStore(settings.database)
    bearer = OAuth2PasswordBearer(tokenUrl="users/token")

    app = FastAPI(
        title="servicelab users",
        version="0.1.0",
        summary="Sign-up, login (OAuth 2 password flow, EdDSA JWTs), profiles and the JWKS.",
    )
    install_json_errors(app)

    def bearer_user(token: Annotated[str, Depends(bearer)]) -> User:
        try:
            claims = verifier.verify(token)
        except TokenRejected as rejected:
            raise _unauthorized(f"invalid token: {rejected.reason}", rejected.reason) from None
        user = store.get(claims.subject)
        if user is None:
            raise _unauthorized(f"the token's user {claims.subject!r} does not exist", "unknown user")
        return user

    @app.post(
        "/users",
        status_code=status.HTTP_201_CREATED,
        responses={409: {"description": "The username is taken."}},
    )
    def sign_up(body: SignUp) -> Profile:
        """Create an account."""
        user = User(
            username=body.username,
            password_hash=hash_password(body.password),
            email=body.email,
            full_name=body.full_name,
            scopes=DEFAULT_SCOPES,
            created_at=clock(),
        )
        try:
            store.add(user)
        except UsernameTaken as taken:
            raise HTTPException(status.HTTP_409_CONFLICT, str(taken)) from None
        return Profile.of(user)

    @app.post(
        "/users/token",
        responses={
            400: {"description": "None of the requested scopes may be granted."},
            401: {"description": "Wrong username or password."},
        },
    )
    def log_in(form: Annotated[OAuth2PasswordRequestForm, Depends()], response: Response) -> TokenResponse:
        """Exchange a username and password for an access token (the OAuth 2 password flow)."""
        user = store.get(form.username)
        if user is None:
            verify_password(form.password, _decoy_hash())
            raise _unauthorized(_WRONG_CREDENTIALS)
        if not verify_password(form.password, user.password_hash):
            raise _unauthorized(_WRONG_CREDENTIALS)
        requested = frozenset(form.scopes)
        granted = user.scopes & requested if requested else user.scopes
        if not granted:
            allowed = sorted(user.scopes)
            detail = f"none of the scopes {sorted(requested)} may be granted; this account may hold {allowed}"
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail)
        response.headers["Cache-Control"] = "no-store"
        return TokenResponse(
            access_token=issuer.issue(user.username, granted),
            expires_in=issuer.lifetime,
            scope=" ".join(sorted(granted)),
        )

    @app.get("/users/me", responses={401: {"description": "No valid bearer token."}})
    def me(user: Annotated[User, Depends(bearer_user)]) -> Profile:
        """The bearer's own profile."""
        return Profile.of(user)

    @app.get("/users/{username}", responses={404: {"description": "No such user."}})
    def public_profile(username: str) -> PublicProfile:
        """Anyone's public profile."""
        user = store.get(username)
        if user is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {username!r}")
        return PublicProfile.of(user)

    @app.get("/.well-known/jwks.json")
    def jwks_document(response: Response) -> dict[str, Any]:
        """The public keys that verify this service's tokens (RFC 7517 JWK Set)."""
        response.headers["Cache-Control"] = "public, max-age=300"
        return key_set

    return app
