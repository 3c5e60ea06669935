"""Consumer tests of ``orders -> inventory``: what orders' InventoryClient sends and relies on.

Each test drives the real :class:`~live.orders.inventory.InventoryClient` (its ``discover`` hook
answers the mock server) and checks what orders makes of the answer: the reservation's ``id``
(which becomes the order's ``reservation_id``), a 409's JSON reason (kept on a rejected order), a
404 on release (nothing to give back).

Provider states carry parameters: ``given("stock of a sku", sku="KB-001", available=10)`` asks
inventory's state handler to seed that stock, ``given("a reservation exists", request_id=...)``
to have made that reservation first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from pact import match

from contracts.consumers.mock import instance_of, mock_server, new_pact, write
from contracts.consumers.shapes import error_body, line, timestamp
from contracts.discovery import discover_only
from live.orders.inventory import InventoryClient, StockRefusedError
from patterns.balancing import RoundRobin

__all__ = ["TESTS"]

CONSUMER, PROVIDER = "orders", "inventory"
ORDER_ID = "42"
REQUEST_ID = f"order:{ORDER_ID}"  # live.orders.store.Order.request_id

T = TypeVar("T")


def _with_client(server: Any, call: Callable[[InventoryClient], Awaitable[T]]) -> T:
    """Run ``call`` with an InventoryClient whose discovery finds only the mock server."""

    async def run() -> T:
        async with aiohttp.ClientSession() as session:
            client = InventoryClient(session, discover_only(instance_of(PROVIDER, server)), RoundRobin(), 5.0)
            return await call(client)

    return asyncio.run(run())


def _reservation(status: str) -> dict[str, Any]:
    return {
        "id": match.uuid("7d3f7f6c-5a0e-4a8e-9c39-2f1f3e0c9b11"),
        "request_id": match.str(REQUEST_ID),
        "order_id": match.str(ORDER_ID),
        "status": status,
        "items": match.each_like(line()),
        "created_at": timestamp(),
    }


def reserve_stock(folder: Path) -> None:
    """An order's lines reserved: 201 with the reservation, whose id orders keeps."""
    pact = new_pact(CONSUMER, PROVIDER)
    (
        pact.upon_receiving("a reservation of an order's lines")
        .given("stock of a sku", sku="KB-001", available=10)
        .with_request("POST", "/inventory/reservations")
        .with_body(
            {
                "request_id": match.regex(REQUEST_ID, regex=r"^order:.+$"),
                "order_id": match.str(ORDER_ID),
                "items": match.each_like(line()),
            },
            content_type="application/json",
        )
        .will_respond_with(201)
        .with_body(_reservation("reserved"), content_type="application/json")
    )
    items = [{"sku": "KB-001", "quantity": 2}]
    with mock_server(pact) as server:
        reservation = _with_client(server, lambda c: c.reserve(REQUEST_ID, ORDER_ID, items, {}))
    assert reservation["status"] == "reserved", reservation
    assert reservation["id"], reservation
    write(pact, folder)


def reserve_refused(folder: Path) -> None:
    """Too little stock: 409 whose JSON reason orders keeps on the rejected order."""
    pact = new_pact(CONSUMER, PROVIDER)
    (
        pact.upon_receiving("a reservation of more than the stock")
        .given("stock of a sku", sku="LP-006", available=0)
        .with_request("POST", "/inventory/reservations")
        .with_body(
            {
                "request_id": match.regex(REQUEST_ID, regex=r"^order:.+$"),
                "order_id": match.str(ORDER_ID),
                "items": [{"sku": "LP-006", "quantity": match.int(1)}],
            },
            content_type="application/json",
        )
        .will_respond_with(409)
        .with_body(
            {**error_body(409, "out_of_stock"), "sku": "LP-006", "requested": match.int(1), "available": 0},
            content_type="application/json",
        )
    )
    items = [{"sku": "LP-006", "quantity": 1}]
    with mock_server(pact) as server:
        try:
            _with_client(server, lambda c: c.reserve(REQUEST_ID, ORDER_ID, items, {}))
        except StockRefusedError as refused:
            reason = refused.reason
        else:
            raise AssertionError("a 409 must become StockRefusedError")
    assert reason["code"] == "out_of_stock", reason
    assert reason["sku"] == "LP-006", reason
    write(pact, folder)


def release_reservation(folder: Path) -> None:
    """A cancelled order's reservation given back: 200 with the released reservation."""
    pact = new_pact(CONSUMER, PROVIDER)
    (
        pact.upon_receiving("a release of an order's reservation")
        .given("a reservation exists", request_id=REQUEST_ID, sku="KB-001", quantity=2)
        .with_request("POST", f"/inventory/reservations/{REQUEST_ID}/release")
        .will_respond_with(200)
        .with_body({**_reservation("released"), "released_at": timestamp()}, content_type="application/json")
    )
    with mock_server(pact) as server:
        released = _with_client(server, lambda c: c.release(REQUEST_ID, {}))
    assert released is not None, released
    assert released["status"] == "released", released
    write(pact, folder)


def release_unknown(folder: Path) -> None:
    """No reservation under the request id: 404, which orders takes as nothing to give back."""
    pact = new_pact(CONSUMER, PROVIDER)
    (
        pact.upon_receiving("a release of a reservation that was never made")
        .given("no reservation exists", request_id="order:gone")
        .with_request("POST", "/inventory/reservations/order:gone/release")
        .will_respond_with(404)
        .with_body(error_body(404, "unknown_reservation"), content_type="application/json")
    )
    with mock_server(pact) as server:
        released = _with_client(server, lambda c: c.release("order:gone", {}))
    assert released is None
    write(pact, folder)


TESTS = (reserve_stock, reserve_refused, release_reservation, release_unknown)
