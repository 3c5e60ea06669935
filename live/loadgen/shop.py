"""Load for the shop, through its gateway: browse the inventory, place orders.

Setup (before the clock starts): sign up a fresh load user (``POST /api/users`` with JSON
``{username, password}``), log in with the OAuth2 password form (``POST /api/users/token`` ->
``access_token``) and list the inventory once (``GET /api/inventory/items``) to learn the SKUs that
exist. Then the actions:

``browse``
    ``GET /api/inventory/items`` -- the catalogue read.
``order``
    ``POST /api/orders`` with the bearer token, a fresh ``Idempotency-Key`` and
    ``{"items": [{"sku": <a listed SKU, drawn at random>, "quantity": 1}]}``.

Every request carries the bearer token. The inventory listing may be a JSON list of items or an
object with an ``items`` list; each item names its ``sku``.
"""

from __future__ import annotations

import random
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from live.loadgen.mix import parse_mix
from live.loadgen.results import LoadResult
from live.loadgen.runner import Action, Limits, Setup, SetupError, run_load
from live.loadgen.schedule import Process, plan_load

__all__ = ["DEFAULT_MIX", "SHOP_ACTIONS", "ShopUser", "load_shop", "shop_setup", "sign_up"]

SHOP_ACTIONS = ("browse", "order")
DEFAULT_MIX = "browse=0.7,order=0.3"


async def _expect(response: aiohttp.ClientResponse, step: str, accept: tuple[int, ...]) -> Any:
    """The JSON body of ``response`` to setup ``step``, or a SetupError naming the step and status."""
    text = await response.text()
    if response.status not in accept:
        raise SetupError(f"{step}: {response.method} {response.url} answered {response.status}: {text[:200]}")
    try:
        return await response.json(content_type=None) if text else None
    except ValueError:
        raise SetupError(f"{step}: {response.url} answered {text[:200]!r}, which is not JSON") from None


def _skus(listing: Any) -> dict[str, float]:
    """The SKUs in stock, each with its weight: its stock (1 when the listing does not say).

    Orders draw SKUs in proportion to stock, so a long run does not empty the scarce items and
    turn the load into a stream of out-of-stock refusals.
    """
    items = listing.get("items") if isinstance(listing, dict) else listing
    if not isinstance(items, list):
        raise SetupError(
            f"the inventory listing is neither a list nor has an 'items' list: {str(listing)[:200]}"
        )
    weights = {}
    for item in items:
        if isinstance(item, dict) and "sku" in item:
            available = item.get("available", 1)
            if isinstance(available, int | float) and available > 0:
                weights[str(item["sku"])] = float(available)
    return weights


@dataclass(frozen=True)
class ShopUser:
    """A fresh shop account, signed in: its bearer ``auth`` header and the SKUs in stock (with weights)."""

    username: str
    password: str
    auth: dict[str, str]
    skus: dict[str, float]


async def sign_up(session: aiohttp.ClientSession, base_url: str) -> ShopUser:
    """Sign up a fresh load user at the gateway ``base_url``, log in and list the inventory once
    (SetupError naming the step that failed)."""
    base = base_url.rstrip("/")
    username, password = f"load-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    async with session.post(f"{base}/api/users", json={"username": username, "password": password}) as r:
        await _expect(r, "sign-up", (200, 201))
    form = {"username": username, "password": password}
    async with session.post(f"{base}/api/users/token", data=form) as r:
        token = (await _expect(r, "log-in", (200,)) or {}).get("access_token")
    if not token:
        raise SetupError("log-in: the answer has no access_token")
    auth = {"Authorization": f"Bearer {token}"}
    async with session.get(f"{base}/api/inventory/items", headers=auth) as r:
        skus = _skus(await _expect(r, "inventory listing", (200,)))
    if not skus:
        raise SetupError("the inventory lists no item in stock, so there is nothing to order")
    return ShopUser(username, password, auth, skus)


def shop_setup(base_url: str, seed: int = 0) -> Setup:
    """The setup of a shop run against the gateway at ``base_url`` (SKUs for orders drawn with ``seed``)."""
    base = base_url.rstrip("/")

    async def setup(session: aiohttp.ClientSession) -> Mapping[str, Action]:
        user = await sign_up(session, base)
        auth = user.auth
        draw, names, weights = random.Random(seed).choices, list(user.skus), list(user.skus.values())

        def pick() -> str:
            return draw(names, weights)[0]

        async def browse(session: aiohttp.ClientSession) -> int:
            async with session.get(f"{base}/api/inventory/items", headers=auth) as response:
                await response.read()
                return response.status

        async def order(session: aiohttp.ClientSession) -> int:
            headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
            body = {"items": [{"sku": pick(), "quantity": 1}]}
            async with session.post(f"{base}/api/orders", json=body, headers=headers) as response:
                await response.read()
                return response.status

        return {"browse": browse, "order": order}

    return setup


def load_shop(
    base_url: str,
    *,
    rate: float | str,
    duration: float | str,
    mix: str = DEFAULT_MIX,
    process: Process = "poisson",
    seed: int = 0,
    max_requests: int | None = None,
    limits: Limits | None = None,
    progress: bool = False,
) -> LoadResult:
    """Drive the shop behind the gateway at ``base_url`` open loop at ``rate`` for ``duration`` with
    ``mix`` (``"browse=0.7,order=0.3"``); ValueError for a bad rate, duration or mix, SetupError when
    the load user cannot sign up, log in or list the inventory."""
    plan = plan_load(
        rate, duration, parse_mix(mix, SHOP_ACTIONS), process=process, seed=seed, max_requests=max_requests
    )
    return run_load(plan, shop_setup(base_url, seed), limits, progress=progress)
