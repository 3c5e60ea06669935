"""Which answers the gateway keeps, and under which key; the store is a :class:`patterns.cache.TTLCache`.

Only GET requests on the paths the route's ``cache.paths`` cover are looked up, and only their 200
answers stored. The key is the route, the backend path and the query string, and on routes that need
a token also the caller (the token's subject), so one user's answer is never served to another.
``Cache-Control: no-store`` on the request skips the cache both ways (the caller wants a fresh answer
and does not want it kept); on the answer it keeps the gateway from storing it, as does ``private``
on an answer to an anonymous caller (there is no caller to key it by), and so does ``Set-Cookie``.

Concurrent misses for one key are coalesced with :class:`patterns.cache.SingleFlight`: the first
fetches, the others wait for its answer instead of calling the service too (so an entry expiring under
load costs the service one call, not one per waiting request). If the first gets nothing it may keep
(an error, a ``no-store`` answer), each waiting request then fetches its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from live.auth.verify import Claims
from live.gateway.config import CacheConfig
from patterns.cache import SingleFlight, TTLCache
from patterns.clock import Clock

__all__ = ["CacheKey", "CachedAnswer", "Lookup", "ResponseCache"]

CacheKey = tuple[str, str, str, str | None]
"""(route, backend path, query string, caller or None)."""


@dataclass(frozen=True)
class CachedAnswer:
    """A stored answer: status, the headers worth replaying, and the body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True)
class Lookup:
    """What the cache did for a request, shown to the client as ``X-Cache``: ``hit`` (``answer`` is it),
    ``coalesced`` (``answer`` is what a concurrent miss just fetched), ``miss`` (with ``key``: this
    request fetches and may store the answer) or ``bypass`` (the request said ``no-store``)."""

    outcome: str
    key: CacheKey | None = None
    answer: CachedAnswer | None = None


def _directives(headers: Mapping[str, str]) -> set[str]:
    value = headers.get("Cache-Control", "")
    return {part.split("=", 1)[0].strip().lower() for part in value.split(",") if part.strip()}


class ResponseCache:
    """The GET answers of one route (see the module docstring); ``store.stats`` counts hits and misses,
    ``flights`` the misses that fetched (``leaders``) and those that waited for one (``coalesced``)."""

    def __init__(self, route: str, config: CacheConfig, clock: Clock) -> None:
        self.route = route
        self.config = config
        self.store: TTLCache[CacheKey, CachedAnswer] = TTLCache(config.capacity, config.ttl, clock)
        self.flights: SingleFlight[asyncio.Future[CachedAnswer | None]] = SingleFlight()

    async def look_up(
        self, method: str, path: str, query: str, headers: Mapping[str, str], claims: Claims | None
    ) -> Lookup | None:
        """The cache's part in this request; None when it has none (not a GET, or a path not covered).

        A miss leads the fetch for its key (``key`` set: the caller must :meth:`release` it once done),
        unless another request already leads it: then this one waits for that answer (``coalesced``),
        or, if the leader had nothing to share, goes to the service on its own (a miss without key).
        """
        if method != "GET" or not self.config.covers(path):
            return None
        if "no-store" in _directives(headers):
            return Lookup("bypass")
        key = (self.route, path, query, None if claims is None else claims.subject)
        answer = self.store.get(key)
        if answer is not None:
            return Lookup("hit", key, answer)
        waiter: asyncio.Future[CachedAnswer | None] = asyncio.get_running_loop().create_future()
        if self.flights.join(key, waiter):
            return Lookup("miss", key)
        shared = await waiter
        return Lookup("miss") if shared is None else Lookup("coalesced", key, shared)

    def keep(
        self, lookup: Lookup, answer: CachedAnswer, headers: Mapping[str, str], *, anonymous: bool
    ) -> CachedAnswer | None:
        """Store ``answer`` under the lookup's key if it is a 200 the service lets the gateway keep;
        the answer kept, or None."""
        directives = _directives(headers)
        storable = (
            "no-store" not in directives
            and not (anonymous and "private" in directives)
            and "Set-Cookie" not in headers  # a cookie is for one client, never to be replayed
        )
        if lookup.outcome != "miss" or lookup.key is None or answer.status != 200 or not storable:
            return None
        self.store.put(lookup.key, answer)
        return answer

    def release(self, lookup: Lookup, kept: CachedAnswer | None) -> None:
        """End a leading miss: hand what it kept (None: nothing) to the requests waiting for it."""
        if lookup.outcome != "miss" or lookup.key is None:
            return
        for waiter in self.flights.complete(lookup.key):
            if not waiter.done():  # a waiter whose client went away was cancelled
                waiter.set_result(kept)

    def clear(self) -> None:
        """Forget every answer (after a write on the route)."""
        self.store.clear()
