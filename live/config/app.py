"""The config service (FastAPI): versioned keys and values, watched by long polling.

    GET    /config?prefix=gateway.      every key under the prefix with its value, and the global version
    GET    /config/watch?prefix=gateway.&after=12&timeout=30
                                        the keys under the prefix written after version 12: answered at
                                        once if there are some, else held until a write or the timeout
    GET    /config/{key}                one key (404 when neither layer has it); ``ETag`` is its version
    PUT    /config/{key}                write a JSON value (bearer token); ``If-Match: 3`` writes only if
                                        the key is still at version 3 (409 otherwise; 0: not yet written)
    DELETE /config/{key}                drop the run-time value (bearer token): back to the environment's

A watch always answers 200 with ``{"version": V, "changes": [...]}``; after a timeout ``changes`` is
empty and ``V`` is where to continue (a 304 would carry no body, and the watcher needs ``V``). A change
whose ``source`` is ``deleted`` is a key that has no value any more. Watches are woken at once by a
write to this process, and notice writes through another replica within ``poll_interval`` seconds
(replicas share the SQLite file). A stopping process answers its watches at once, with no changes.

The store and its two layers (environment file, run-time writes) are :mod:`live.config.store`'s.
"""

# No ``from __future__ import annotations``: FastAPI reads endpoint annotations when they are defined.
import asyncio
import contextlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header, HTTPException, Path, Query, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from live.common.errors import install_json_errors
from live.common.lifecycle import lifecycle_of
from live.config.environments import KEY
from live.config.store import ConfigStore, Entry, VersionConflictError

__all__ = ["MAX_VALUE_BYTES", "WATCH_TIMEOUT_MAX", "create_app"]

MAX_VALUE_BYTES = 64 * 1024
WATCH_TIMEOUT_MAX = 60.0
_BEARER = HTTPBearer(auto_error=False)
_KEY = Path(pattern=KEY.pattern, max_length=200, description="dotted key, e.g. gateway.rate_limit.rate")
_PREFIX = Query(max_length=200, pattern=r"^[a-z0-9_.-]*$", description="keys starting with this")


class _Writes:
    """Wakes the watches of this process when it writes (replaced after each wake-up)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def notify(self) -> None:
        self.event.set()
        self.event = asyncio.Event()


def _expected(if_match: str | None) -> int | None:
    """``If-Match: 3`` (or ``"3"``) as the expected version; 400 for anything else."""
    if if_match is None:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise HTTPException(400, f"If-Match must be a key version (a whole number), got {if_match!r}")
    return int(text)


def _answer(entry: Entry, response: Response) -> dict[str, Any]:
    response.headers["ETag"] = f'"{entry.version}"'
    return entry.to_json()


def create_app(
    store: ConfigStore, token: str, *, environment: str = "dev", poll_interval: float = 0.5
) -> FastAPI:
    """The config service over ``store``; writes need ``Authorization: Bearer <token>``."""
    if not token:
        raise ValueError("the config service needs a non-empty write token")
    if poll_interval <= 0:
        raise ValueError(f"poll_interval must be > 0 seconds, got {poll_interval!r}")
    writes: _Writes | None = None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal writes
        writes = _Writes()  # its event belongs to the running loop
        yield
        store.close()

    app = FastAPI(
        title="servicelab config",
        version="0.1.0",
        summary="Versioned configuration: keys and JSON values, per-environment files, long-poll watch.",
        lifespan=lifespan,
    )
    app.state.store = store
    install_json_errors(app)
    lifecycle = lifecycle_of(app)

    def writer(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
        if credentials is None:
            raise HTTPException(
                401, "config writes need the stack's config token", {"WWW-Authenticate": "Bearer"}
            )
        if not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
            raise HTTPException(403, "wrong config token")

    @app.get("/config")
    async def list_keys(prefix: Annotated[str, _PREFIX] = "") -> dict[str, Any]:
        """Every key under ``prefix`` with its value and versions, and the global version."""
        version, entries = await asyncio.to_thread(store.list, prefix)
        return {
            "environment": environment,
            "version": version,
            "entries": [entry.to_json() for entry in entries],
        }

    @app.get("/config/watch")
    async def watch(
        prefix: Annotated[str, _PREFIX] = "",
        after: Annotated[int, Query(ge=0, le=2**62, description="the global version already seen")] = 0,
        timeout: Annotated[float, Query(ge=0, le=WATCH_TIMEOUT_MAX, description="seconds to hold")] = 30.0,
    ) -> dict[str, Any]:
        """The keys under ``prefix`` written after version ``after``; held until one is, or ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            woken = writes.event if writes is not None else asyncio.Event()  # taken before reading
            version, changes = await asyncio.to_thread(store.changes, prefix, after)
            remaining = deadline - time.monotonic()
            if changes or remaining <= 0 or lifecycle.draining:
                return {"version": version, "changes": [entry.to_json() for entry in changes]}
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), min(remaining, poll_interval))

    @app.get("/config/{key}")
    async def get_key(key: Annotated[str, _KEY], response: Response) -> dict[str, Any]:
        """One key's value, versions and source (environment or runtime)."""
        entry = await asyncio.to_thread(store.get, key)
        if entry is None:
            raise HTTPException(404, f"no value for {key!r}")
        return _answer(entry, response)

    @app.put(
        "/config/{key}",
        dependencies=[Depends(writer)],
        responses={409: {"description": "The key moved past the If-Match version."}},
    )
    async def put_key(
        key: Annotated[str, _KEY],
        value: Annotated[Any, Body(description="any JSON value")],
        response: Response,
        if_match: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        """Write the key's run-time value (``If-Match``: only if it is still at that version)."""
        expected = _expected(if_match)
        if key == "watch":
            raise HTTPException(422, "'watch' is reserved (GET /config/watch); choose another key")
        try:
            size = len(json.dumps(value, allow_nan=False))
        except ValueError:
            raise HTTPException(422, "NaN and Infinity are not JSON values") from None
        if size > MAX_VALUE_BYTES:
            raise HTTPException(413, f"a value may take at most {MAX_VALUE_BYTES} bytes of JSON")
        try:
            entry = await asyncio.to_thread(store.put, key, value, expected)
        except VersionConflictError as conflict:
            raise HTTPException(409, {"error": str(conflict), "version": conflict.current}) from None
        if writes is not None:
            writes.notify()
        return _answer(entry, response)

    @app.delete("/config/{key}", dependencies=[Depends(writer)])
    async def delete_key(
        key: Annotated[str, _KEY], response: Response, if_match: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        """Drop the key's run-time value; answers what the key holds now (its environment value, if any)."""
        expected = _expected(if_match)
        try:
            entry = await asyncio.to_thread(store.delete, key, expected)
        except VersionConflictError as conflict:
            raise HTTPException(409, {"error": str(conflict), "version": conflict.current}) from None
        if entry is None:
            raise HTTPException(404, f"{key!r} has no run-time value to delete")
        if writes is not None:
            writes.notify()
        return _answer(entry, response)

    return app
