"""The shop's setup and actions, against a small stand-in for the gateway with the same routes."""

from __future__ import annotations

import pytest
from aiohttp import web

from live.common.server import running
from live.loadgen.runner import SetupError
from live.loadgen.shop import load_shop

pytestmark = pytest.mark.live

SKUS = ("apple", "pear", "plum")


def _shop(login_status: int = 200, items: object = None) -> tuple[web.Application, dict]:
    """A gateway stand-in that checks what the load user sends and records it."""
    seen: dict = {"users": {}, "orders": [], "browses": 0}
    token = "token-of-the-load-user"
    listing = [{"sku": sku, "stock": 100} for sku in SKUS] if items is None else items

    def authorized(request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {token}"

    async def sign_up(request: web.Request) -> web.Response:
        body = await request.json()
        seen["users"][body["username"]] = body["password"]
        return web.json_response({"username": body["username"]}, status=201)

    async def log_in(request: web.Request) -> web.Response:
        form = await request.post()
        if login_status != 200 or seen["users"].get(form["username"]) != form["password"]:
            return web.json_response({"detail": "bad credentials"}, status=401)
        return web.json_response({"access_token": token, "token_type": "bearer"})

    async def inventory(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({"detail": "no token"}, status=401)
        seen["browses"] += 1
        return web.json_response(listing)

    async def order(request: web.Request) -> web.Response:
        body = await request.json()
        if not authorized(request) or not request.headers.get("Idempotency-Key"):
            return web.json_response({"detail": "no token or key"}, status=400)
        seen["orders"].append((request.headers["Idempotency-Key"], body))
        return web.json_response({"id": len(seen["orders"])}, status=201)

    app = web.Application()
    app.router.add_post("/api/users", sign_up)
    app.router.add_post("/api/users/token", log_in)
    app.router.add_get("/api/inventory/items", inventory)
    app.router.add_post("/api/orders", order)
    return app, seen


def test_browse_and_order_through_the_gateway_routes() -> None:
    app, seen = _shop()
    with running(app) as base:
        result = load_shop(base, rate="100/s", duration="1s", mix="browse=0.5,order=0.5", seed=3)
    frame = result.requests
    assert (frame["outcome"] == "ok").all()
    orders = frame[frame["action"] == "order"]
    assert set(orders["status"]) == {201}
    assert len(seen["orders"]) == len(orders) > 10
    assert seen["browses"] == (frame["action"] == "browse").sum() + 1  # + the setup's listing
    keys = [key for key, _ in seen["orders"]]
    assert len(set(keys)) == len(keys)
    bodies = [body for _, body in seen["orders"]]
    assert all(body["items"][0]["quantity"] == 1 for body in bodies)
    assert {body["items"][0]["sku"] for body in bodies} == set(SKUS)
    assert len(seen["users"]) == 1
    assert next(iter(seen["users"])).startswith("load-")


def test_an_items_object_listing_is_understood() -> None:
    app, seen = _shop(items={"items": [{"sku": "fig"}]})
    with running(app) as base:
        result = load_shop(base, rate="50/s", duration="0.5s", mix="order=1")
    assert (result.requests["outcome"] == "ok").all()
    assert {body["items"][0]["sku"] for _, body in seen["orders"]} == {"fig"}


def test_orders_draw_skus_in_stock_in_proportion_to_stock() -> None:
    listing = [
        {"sku": "fig", "available": 900},
        {"sku": "kiwi", "available": 100},
        {"sku": "lime", "available": 0},
    ]
    app, seen = _shop(items=listing)
    with running(app) as base:
        load_shop(base, rate="200/s", duration="2s", mix="order=1", process="constant", seed=5)
    drawn = [body["items"][0]["sku"] for _, body in seen["orders"]]
    assert "lime" not in drawn
    n = len(drawn)
    assert n > 300
    # kiwi is drawn with p = 0.1: its count is binomial, within 4 standard deviations of n p
    assert abs(drawn.count("kiwi") - 0.1 * n) <= 4 * (n * 0.1 * 0.9) ** 0.5


@pytest.mark.parametrize(
    ("shop", "message"),
    [
        ({"login_status": 401}, "log-in: POST .*/api/users/token answered 401"),
        ({"items": []}, "the inventory lists no item in stock"),
        ({"items": [{"sku": "fig", "available": 0}]}, "the inventory lists no item in stock"),
        ({"items": {"skus": ["x"]}}, "neither a list nor has an 'items' list"),
    ],
)
def test_setup_failures_name_the_step(shop: dict, message: str) -> None:
    app, seen = _shop(**shop)
    with running(app) as base, pytest.raises(SetupError, match=message):
        load_shop(base, rate="50/s", duration="1s")
    assert seen["orders"] == []


def test_a_bad_mix_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match="unknown action 'refund' in the mix; known actions: browse, order"):
        load_shop("http://127.0.0.1:9", rate="50/s", duration="1s", mix="browse=1,refund=1")
