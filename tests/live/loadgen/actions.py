"""Made-up load actions for the generator's tests: a GET of a URL, and a setup that hands them out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import aiohttp

Action = Callable[[aiohttp.ClientSession], Awaitable[int]]


def get(url: str) -> Action:
    """An action that GETs ``url`` and answers its status."""

    async def action(session: aiohttp.ClientSession) -> int:
        async with session.get(url) as response:
            await response.read()
            return response.status

    return action


def setup_with(**actions: Action) -> Callable[[aiohttp.ClientSession], Awaitable[Mapping[str, Action]]]:
    """A setup step that does nothing but name ``actions``."""

    async def setup(session: aiohttp.ClientSession) -> Mapping[str, Action]:
        return actions

    return setup
