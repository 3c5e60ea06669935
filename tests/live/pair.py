"""Two instrumented services for tests: ``orders`` (FastAPI) calling ``inventory`` (aiohttp).

A request to ``GET /orders/check/{sku}`` makes one call to ``GET /inventory/items/{sku}``; the sku
``broken`` makes inventory answer 500. Their spans go to ``<state_dir>/traces``.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from fastapi import FastAPI

from live.common.observability import instrument
from live.common.settings import InstanceSettings


def settings(state_dir: Path, service: str) -> InstanceSettings:
    return InstanceSettings(service=service, instance=f"{service}-1", state_dir=state_dir)


def inventory_app(state_dir: Path) -> web.Application:
    async def item(request: web.Request) -> web.Response:
        if request.match_info["sku"] == "broken":
            raise web.HTTPInternalServerError(text="boom")
        return web.json_response({"sku": request.match_info["sku"], "available": 3})

    app = web.Application()
    app.router.add_get("/inventory/items/{sku}", item)
    instrument(app, settings(state_dir, "inventory"))
    return app


def orders_app(state_dir: Path, inventory_url: str) -> FastAPI:
    app = FastAPI()
    observed = instrument(app, settings(state_dir, "orders"))

    @app.get("/orders/check/{sku}")
    async def check(sku: str) -> dict:
        async with (
            observed.client_session() as session,
            session.get(f"{inventory_url}/inventory/items/{sku}") as response,
        ):
            return {"upstream": response.status}

    return app
