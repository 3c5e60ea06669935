"""The gateway's settings from the config service, applied while it runs.

Keys under ``gateway.`` (dotted paths into the YAML of :mod:`live.gateway.config`) override the file
the gateway started with, for the settings that can change without a restart:

====================================  ===========================================================
``gateway.maintenance``               ``true`` or a message: every ``/api`` request gets 503 with
                                      it (``false``/``null``: serve normally)
``gateway.rate_limit[.rate|.burst]``  the per-client token bucket (``null``: no limit)
``gateway.balancing[.policy|...]``    the global balancing policy
``gateway.routes.<route>.<setting>``  a route's ``balancing``, ``breaker``, ``retry``,
                                      ``retry_budget``, ``bulkhead``, ``cache``, ``timeout``,
                                      ``deadline`` -- whole (a JSON object) or one field of it
                                      (``gateway.routes.orders.breaker.failure_rate_threshold``)
====================================  ===========================================================

Every other key under ``gateway.`` (routes, prefixes, access rules, discovery, JWKS) is fixed at start
and reported as ignored. Shorter keys apply first, so ``gateway.rate_limit.rate`` wins over the
``rate`` inside ``gateway.rate_limit``. The result is validated like the file; a value the gateway
cannot use leaves the settings in force as they were and is logged with its problems.
:class:`LiveGatewayConfig` is the :class:`~live.common.config_client.ConfigWatcher`'s ``on_change``:
it rebuilds what changed through :meth:`~live.gateway.state.GatewayState.reconfigure`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from live.gateway.config import GatewayConfig, GatewayConfigError, parse_gateway_config
from live.gateway.state import GatewayState

__all__ = ["MAINTENANCE_MESSAGE", "PREFIX", "LiveGatewayConfig", "LiveSettings", "live_settings"]

PREFIX = "gateway."
MAINTENANCE_MESSAGE = "the shop is down for maintenance: please try again later"
_GLOBAL = frozenset({"rate_limit", "balancing"})
_ROUTE = frozenset(
    {"balancing", "breaker", "retry", "retry_budget", "bulkhead", "cache", "timeout", "deadline"}
)

log = logging.getLogger("servicelab.gateway")


@dataclass(frozen=True)
class LiveSettings:
    """The configuration in force, the maintenance message (None: open) and the keys ignored."""

    config: GatewayConfig
    maintenance: str | None
    ignored: tuple[str, ...]


def _maintenance(value: Any) -> str | None:
    if value is None or value is False:
        return None
    if value is True:
        return MAINTENANCE_MESSAGE
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise GatewayConfigError(
        [(f"{PREFIX}maintenance", "expected true, false or a message")], "config service"
    )


def _live(path: list[str], base: GatewayConfig) -> bool:
    if path[0] in _GLOBAL:
        return True
    return len(path) >= 3 and path[0] == "routes" and path[1] in base.routes and path[2] in _ROUTE


def _set(data: dict[str, Any], path: list[str], value: Any) -> None:
    for name in path[:-1]:
        if not isinstance(data.get(name), dict):
            data[name] = {}
        data = data[name]
    data[path[-1]] = value


def live_settings(base: GatewayConfig, values: Mapping[str, Any]) -> LiveSettings:
    """``base`` with the live keys of ``values`` applied (:class:`GatewayConfigError` listing problems)."""
    data = base.model_dump()
    maintenance, ignored = None, []
    for key in sorted(values, key=lambda key: (key.count("."), key)):
        if not key.startswith(PREFIX):
            continue
        path = key.removeprefix(PREFIX).split(".")
        if path == ["maintenance"]:
            maintenance = _maintenance(values[key])
        elif _live(path, base):
            _set(data, path, values[key])
        else:
            ignored.append(key)
    return LiveSettings(parse_gateway_config(data, "config service"), maintenance, tuple(ignored))


class LiveGatewayConfig:
    """``on_change`` of the gateway's watcher: ``base`` (the file) plus the keys, applied to ``state``."""

    def __init__(self, base: GatewayConfig, state: GatewayState) -> None:
        self.base = base
        self.state = state

    def __call__(self, values: dict[str, Any]) -> None:
        try:
            settings = live_settings(self.base, values)
        except GatewayConfigError as error:
            log.error("config not applied, the settings in force stay: %s", error.render())
            return
        if settings.ignored:
            log.warning("config keys ignored (fixed until a restart): %s", ", ".join(settings.ignored))
        rebuilt = self.state.reconfigure(settings.config)
        if settings.maintenance != self.state.maintenance:
            self.state.maintenance = settings.maintenance
            rebuilt.append("maintenance")
        if rebuilt:
            log.info("config applied: %s changed", ", ".join(rebuilt))
