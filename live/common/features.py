"""Feature flags of one service, switched at run time through the config service.

A service's flags are the keys ``features.<service>.<flag>`` (``features.orders.cancel_enabled``).
:class:`FeatureFlags` is a :class:`~live.common.config_client.ConfigWatcher`'s ``on_change``: it
keeps the values last delivered, and :meth:`FeatureFlags.enabled` reads one as the request is served.
Only ``true`` and ``false`` count; a flag the config service does not have (or that holds anything
else) takes the default the code gives, so a service cut off from the config service keeps running on
its last values, or on its defaults if it never reached it.

:meth:`FeatureFlags.follow` runs the watcher for the life of a FastAPI app, around the app's own
lifespan.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from live.common.config_client import ConfigWatcher, Locate

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["FeatureFlags"]


class FeatureFlags:
    """The ``features.<service>.*`` flags: ``flags.enabled("cancel_enabled", default=True)``."""

    def __init__(self, service: str) -> None:
        self.prefix = f"features.{service}."
        self.values: dict[str, Any] = {}

    def __call__(self, values: dict[str, Any]) -> None:
        self.values = values

    def enabled(self, flag: str, default: bool = True) -> bool:
        """The flag's value, or ``default`` when the config service has no true/false for it."""
        value = self.values.get(self.prefix + flag)
        return value if isinstance(value, bool) else default

    def follow(self, app: FastAPI, locate: str | Locate, **watcher: Any) -> ConfigWatcher:
        """Keep the flags current while ``app`` runs: a watcher started before its lifespan, stopped after."""
        following = ConfigWatcher(locate, self.prefix, self, **watcher)
        inner = app.router.lifespan_context

        @contextlib.asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
            following.start()
            try:
                async with inner(app) as state:
                    yield state
            finally:
                await following.stop()

        app.router.lifespan_context = lifespan
        return following
