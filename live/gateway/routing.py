"""Which route a request belongs to, and which access rule applies to it.

A request path must start with the gateway's ``strip_prefix`` (``/api``); what follows is the path
the backend sees (``/api/orders/7`` -> ``/orders/7``). The route is the one with the longest prefix
that matches whole segments (``/orders`` matches ``/orders`` and ``/orders/7``, never ``/ordersx``).
Paths with ``.`` or ``..`` segments are refused: a backend that resolved them could be reached on a
path the access rules never saw.

Within a route the first rule matching the method and the path pattern decides ``auth`` and
``scopes``; what a rule leaves unset, and requests no rule matches, get the route's own.
"""

from __future__ import annotations

from dataclasses import dataclass

from live.gateway.config import GatewayConfig, RouteConfig, Rule
from live.gateway.paths import path_matches

__all__ = ["Access", "Match", "NoRoute", "Router", "UnsafePath"]


class NoRoute(LookupError):  # noqa: N818 - reads as the outcome it is
    """No route serves the path."""


class UnsafePath(ValueError):  # noqa: N818
    """The path holds a ``.`` or ``..`` segment."""


@dataclass(frozen=True)
class Access:
    """What a request needs: a token or not, and which scopes (all of them)."""

    auth: str  # "public" or "token"
    scopes: frozenset[str]


@dataclass(frozen=True)
class Match:
    """A routed request: the route's name and config, the backend path, and the access it needs."""

    name: str
    route: RouteConfig
    path: str
    access: Access


def _rule_matches(rule: Rule, method: str, path: str) -> bool:
    if rule.methods is not None and method not in rule.methods:
        return False
    return rule.path is None or path_matches(rule.path, path)


class Router:
    """Routes of one :class:`GatewayConfig`, longest prefix first."""

    def __init__(self, config: GatewayConfig) -> None:
        self.strip_prefix = config.strip_prefix
        self._routes = sorted(config.routes.items(), key=lambda item: len(item[1].prefix), reverse=True)

    @property
    def prefixes(self) -> list[str]:
        """The public prefixes served, such as ``/api/orders``, sorted."""
        return sorted(self.strip_prefix + route.prefix for _, route in self._routes)

    def match(self, method: str, path: str) -> Match:
        """The route and access of ``method path`` (the path as the client sent it, decoded).

        Raises :class:`NoRoute` or :class:`UnsafePath`.
        """
        strip = self.strip_prefix
        if not path.startswith(strip + "/"):
            raise NoRoute(path)
        rest = path[len(strip) :]
        if any(segment in (".", "..") for segment in rest.split("/")):
            raise UnsafePath(path)
        for name, route in self._routes:
            if rest == route.prefix or rest.startswith(route.prefix + "/"):
                return Match(name, route, rest, self._access(route, method, rest))
        raise NoRoute(path)

    @staticmethod
    def _access(route: RouteConfig, method: str, path: str) -> Access:
        for rule in route.rules:
            if _rule_matches(rule, method, path):
                auth = rule.auth or route.auth
                scopes = rule.scopes if rule.scopes is not None else route.scopes
                return Access(auth, frozenset() if auth == "public" else scopes)
        return Access(route.auth, route.scopes)
