"""Which answers the gateway may keep, and under which key (the store is :class:`patterns.cache.TTLCache`).

Only GET requests are looked up and only their 200 answers stored. The key is the route, the backend
path and the query string, and on routes that need a token also the caller (the token's subject), so
one user's order list is never served to another. ``Cache-Control: no-store`` on the request skips
the cache both ways (the caller wants a fresh answer and does not want it kept); on the answer it
keeps the gateway from storing it, as do ``private`` answers on public routes (no caller to key by).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from live.auth.verify import Claims

__all__ = ["CacheKey", "CachedAnswer", "Lookup", "cache_key", "may_look_up", "may_store"]

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
    """What the cache did for a GET on a cached route: ``hit``, ``miss`` (then ``key`` stores the answer)
    or ``bypass`` (the request said ``no-store``)."""

    outcome: str
    key: CacheKey | None = None


def _directives(headers: Mapping[str, str]) -> set[str]:
    value = headers.get("Cache-Control", "")
    return {part.split("=", 1)[0].strip().lower() for part in value.split(",") if part.strip()}


def cache_key(route: str, path: str, query: str, claims: Claims | None) -> CacheKey:
    """The key of a GET answer: route, backend path, query string, and the caller when authenticated."""
    return route, path, query, None if claims is None else claims.subject


def may_look_up(method: str, request_headers: Mapping[str, str]) -> bool:
    """Whether this request may be answered from the cache (and its answer stored)."""
    return method == "GET" and "no-store" not in _directives(request_headers)


def may_store(status: int, response_headers: Mapping[str, str], *, authenticated: bool) -> bool:
    """Whether the backend's answer may be stored: a 200 without ``no-store`` (or ``private`` when shared)."""
    if status != 200:
        return False
    directives = _directives(response_headers)
    return "no-store" not in directives and (authenticated or "private" not in directives)
