"""Inventory's HTTP API (aiohttp): stock levels, and reservations that are all-or-nothing and idempotent.

Routes (the gateway forwards ``/api/inventory/...`` here as ``/inventory/...``):

* ``GET /inventory/items`` and ``GET /inventory/items/{sku}``: stock per item (404 for an unknown sku).
* ``POST /inventory/reservations`` ``{request_id, order_id, items: [{sku, quantity}]}``: 201 with the
  reservation; a repeat of the same request 200 with the same reservation; 409 naming the sku when a
  line cannot be reserved (nothing is); 422 when the request_id was used with another body.
* ``POST /inventory/reservations/{request_id}/release``: 200 with the released reservation, also when
  it was released before; 404 when there is none.
* ``GET /inventory/sales``: net units sold per sku and the number of order events counted, from the
  orders stream (:mod:`live.inventory.sales`; consumed only when the app is given a broker).
* ``GET /openapi.json``: the document in :mod:`live.inventory.openapi`.

Every error is JSON in the stack's common shape (:mod:`live.common.errors`), with a machine-readable
``code``: ``{"error": message, "status": 409, "code": "out_of_stock", "sku": ...}``. The store's
blocking SQLite calls run in worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from live.common.errors import error_body
from live.common.settings import InstanceSettings
from live.events.broker import Broker, Delivered
from live.events.consumer import Consumer
from live.events.streams import ORDER_EVENTS
from live.inventory.openapi import openapi_document
from live.inventory.requests import InvalidFieldError, parse_reservation
from live.inventory.sales import SalesLedger
from live.inventory.store import (
    DEFAULT_CATALOGUE,
    InventoryStore,
    Item,
    RequestConflictError,
    StockError,
    UnknownReservationError,
)

__all__ = ["CONSUMER_GROUP", "SALES", "STORE", "create_app"]

CONSUMER_GROUP = "inventory"
"""Inventory's consumer group on the orders stream (its replicas compete within it)."""

STORE = web.AppKey("inventory.store", InventoryStore)
"""Where the app keeps its :class:`InventoryStore`."""

SALES = web.AppKey("inventory.sales", SalesLedger)
"""Where the app keeps its :class:`SalesLedger`."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    """A JSON error response in the common shape, with ``code`` for programs."""
    return web.json_response(error_body(status, message, code=code, **extra), status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own errors (unknown route, wrong method, body too large) as JSON too."""
    try:
        return await handler(request)
    except web.HTTPException as raised:
        if raised.status < 400:
            raise
        code = raised.reason.lower().replace(" ", "_")
        return error(raised.status, code, f"{raised.reason}: {request.method} {request.path}")


async def list_items(request: web.Request) -> web.Response:
    items = await asyncio.to_thread(request.app[STORE].items)
    return web.json_response([item.to_json() for item in items])


async def get_item(request: web.Request) -> web.Response:
    sku = request.match_info["sku"]
    item = await asyncio.to_thread(request.app[STORE].item, sku)
    if item is None:
        return error(404, "unknown_sku", f"sku {sku!r} is not in the catalogue", sku=sku)
    return web.json_response(item.to_json())


async def reserve(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as bad:
        return error(400, "invalid_json", f"the body is not JSON: {bad}")
    try:
        wanted = parse_reservation(body)
    except InvalidFieldError as bad:
        return error(422, "invalid_request", str(bad), field=bad.field)
    store = request.app[STORE]
    try:
        done = await asyncio.to_thread(store.reserve, wanted.request_id, wanted.order_id, wanted.lines)
    except StockError as rejected:
        return error(409, rejected.code, rejected.message, **rejected.facts())
    except RequestConflictError as conflict:
        return error(422, "request_id_conflict", str(conflict), request_id=conflict.request_id)
    return web.json_response(done.reservation.to_json(), status=201 if done.created else 200)


async def release(request: web.Request) -> web.Response:
    request_id = request.match_info["request_id"]
    try:
        released = await asyncio.to_thread(request.app[STORE].release, request_id)
    except UnknownReservationError:
        return error(
            404,
            "unknown_reservation",
            f"no reservation under request_id {request_id!r}",
            request_id=request_id,
        )
    return web.json_response(released.to_json())


async def sales(request: web.Request) -> web.Response:
    ledger = request.app[SALES]
    summary = await asyncio.to_thread(lambda: {"sold": ledger.sold(), "events": ledger.processed()})
    return web.json_response(summary)


def consume_orders(app: web.Application, broker: Broker, name: str) -> None:
    """Run consumer ``name`` of the orders stream while ``app`` runs (then close ``broker``)."""
    ledger = app[SALES]

    async def handle(delivered: Delivered) -> None:
        await asyncio.to_thread(ledger.apply, delivered.event)

    consumer = Consumer(broker, ORDER_EVENTS, CONSUMER_GROUP, name, handle)

    async def consuming(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(consumer.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await broker.close()

    app.cleanup_ctx.append(consuming)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def create_app(
    settings: InstanceSettings, *, catalogue: Iterable[Item] = DEFAULT_CATALOGUE, broker: Broker | None = None
) -> web.Application:
    """The inventory app on ``settings.database`` (seeded with ``catalogue`` if it has no item yet).

    With a ``broker``, the app consumes the orders stream into its sales ledger while it runs, as
    consumer ``settings.instance`` of the group ``inventory``.
    """
    app = web.Application(middlewares=[json_errors])
    app[STORE] = store = InventoryStore(settings.database, catalogue)
    app[SALES] = ledger = SalesLedger(settings.database)
    if broker is not None:
        consume_orders(app, broker, settings.instance)

    async def close_database(app: web.Application) -> None:
        store.db.close()
        ledger.db.close()

    app.on_cleanup.append(close_database)
    app.router.add_get("/inventory/items", list_items)
    app.router.add_get("/inventory/items/{sku}", get_item)
    app.router.add_post("/inventory/reservations", reserve)
    app.router.add_post("/inventory/reservations/{request_id}/release", release)
    app.router.add_get("/inventory/sales", sales)
    app.router.add_get("/openapi.json", openapi)
    return app
