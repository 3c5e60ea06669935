"""Which answers the gateway keeps, and under which key; the store is a :class:`patterns.cache.TTLCache`.

Only GET requests on the paths the route's ``cache.paths`` cover are looked up, and only their 200
answers stored. The key is the route, the backend path and the query string, and on routes that need
a token also the caller (the token's subject), so one user's answer is never served to another.
``Cache-Control: no-store`` on the request skips the cache both ways (the caller wants a fresh answer
and does not want it kept); on the answer it keeps the gateway from storing it, as does ``private``
on an answer to an anonymous caller (there is no caller to key it by), and so does ``Set-Cookie``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from live.auth.verify import Claims
from live.gateway.config import CacheConfig
from patterns.cache import TTLCache
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
    """What the cache did for a request: ``hit`` (``answer`` is it), ``miss`` (``key`` will store the
    answer) or ``bypass`` (the request said ``no-store``). Shown to the client as ``X-Cache``."""

    outcome: str
    key: CacheKey | None = None
    answer: CachedAnswer | None = None


def _directives(headers: Mapping[str, str]) -> set[str]:
    value = headers.get("Cache-Control", "")
    return {part.split("=", 1)[0].strip().lower() for part in value.split(",") if part.strip()}


class ResponseCache:
    """The GET answers of one route (see the module docstring); ``store.stats`` counts hits and misses."""

    def __init__(self, route: str, config: CacheConfig, clock: Clock) -> None:
        self.route = route
        self.config = config
        self.store: TTLCache[CacheKey, CachedAnswer] = TTLCache(config.capacity, config.ttl, clock)

    def look_up(
        self, method: str, path: str, query: str, headers: Mapping[str, str], claims: Claims | None
    ) -> Lookup | None:
        """The cache's part in this request; None when it has none (not a GET, or a path not covered)."""
        if method != "GET" or not self.config.covers(path):
            return None
        if "no-store" in _directives(headers):
            return Lookup("bypass")
        key = (self.route, path, query, None if claims is None else claims.subject)
        answer = self.store.get(key)
        return Lookup("miss", key) if answer is None else Lookup("hit", key, answer)

    def keep(
        self, lookup: Lookup, answer: CachedAnswer, headers: Mapping[str, str], *, anonymous: bool
    ) -> None:
        """Store ``answer`` under the lookup's key if it is a 200 the service lets the gateway keep."""
        directives = _directives(headers)
        storable = (
            "no-store" not in directives
            and not (anonymous and "private" in directives)
            and "Set-Cookie" not in headers  # a cookie is for one client, never to be replayed
        )
        if lookup.outcome == "miss" and lookup.key is not None and answer.status == 200 and storable:
            self.store.put(lookup.key, answer)

    def clear(self) -> None:
        """Forget every answer (after a write on the route)."""
        self.store.clear()
