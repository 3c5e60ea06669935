"""Consumer tests of ``gateway -> orders``: the order routes the gateway forwards, with identity.

What the gateway itself contributes is in the requests: it strips ``/api``, drops client-sent
identity headers and sets ``X-User`` (the token's subject) and ``X-Scopes`` (its scopes) -- orders
trusts nothing else -- and passes ``Idempotency-Key`` through. What its clients rely on is in the
answers: an order's ``id``, ``status`` and ``items``; 404's ``code`` for an unknown order.

Provider states with parameters: ``given("an order exists", id="42", user="alice", status="placed",
...)`` has orders' state handler write order 42 into orders' own database first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pact import match

from contracts.consumers.harness import fetch, gateway_before
from contracts.consumers.identity import USER, FixedKeyVerifier, bearer
from contracts.consumers.mock import instance_of, mock_server, new_pact, write
from contracts.consumers.shapes import error_body, line, timestamp

__all__ = ["TESTS"]

CONSUMER, PROVIDER = "gateway", "orders"
ORDER_ID = "42"
USERNAME = r"^[a-z][a-z0-9_-]{2,31}$"
ORDER_EXISTS = {"id": ORDER_ID, "user": USER, "status": "placed", "sku": "KB-001", "quantity": 2}


def _order(status: str, order_id: Any = ORDER_ID) -> dict[str, Any]:
    return {
        "id": order_id,
        "user": USER,
        "status": status,
        "items": match.each_like(line()),
        "reservation_id": match.uuid("7d3f7f6c-5a0e-4a8e-9c39-2f1f3e0c9b11"),
        "created_at": timestamp(),
        "updated_at": timestamp(),
    }


def _identity(interaction: Any, scope: str) -> Any:
    """The headers the gateway adds: who the token named, and its scopes (``scope`` among them)."""
    return interaction.with_header("X-User", match.regex(USER, regex=USERNAME)).with_header(
        "X-Scopes", match.regex(f"orders:read {scope}".strip(), regex=rf"(^|.* ){scope}( .*|$)")
    )


def _through_gateway(pact: Any, method: str, path: str, scopes: tuple[str, ...], **extra: Any) -> Any:
    with mock_server(pact) as server, gateway_before(instance_of(PROVIDER, server), FixedKeyVerifier()) as gw:
        headers = {**bearer(scopes), **extra.pop("headers", {})}
        return fetch(method, f"{gw}/api{path}", headers=headers, **extra)


def place_order(folder: Path) -> None:
    """An order placed with an Idempotency-Key: 201 with the placed order."""
    pact = new_pact(CONSUMER, PROVIDER)
    interaction = (
        pact.upon_receiving("a new order")
        .given("stock of a sku", sku="KB-001", available=10)
        .with_request("POST", "/orders")
        .with_header("Idempotency-Key", match.regex("3f6c0d1e-key", regex=r"^\S{1,200}$"))
        .with_body({"items": match.each_like(line())}, content_type="application/json")
    )
    (
        _identity(interaction, "orders:write")
        .will_respond_with(201)
        .with_body(_order("placed", match.str(ORDER_ID)), content_type="application/json")
    )
    answer = _through_gateway(
        pact,
        "POST",
        "/orders",
        ("orders:write",),
        json_body={"items": [{"sku": "KB-001", "quantity": 2}]},
        headers={"Idempotency-Key": "3f6c0d1e-key"},
    )
    assert answer.status == 201, answer
    assert answer.body["status"] == "placed", answer
    assert answer.body["id"], answer
    write(pact, folder)


def get_order(folder: Path) -> None:
    """Order 42, which exists and is the caller's: 200 with it."""
    pact = new_pact(CONSUMER, PROVIDER)
    interaction = (
        pact.upon_receiving("a request for order 42")
        .given("an order exists", ORDER_EXISTS)
        .with_request("GET", f"/orders/{ORDER_ID}")
    )
    _identity(interaction, "orders:read").will_respond_with(200).with_body(
        _order("placed"), content_type="application/json"
    )
    answer = _through_gateway(pact, "GET", f"/orders/{ORDER_ID}", ("orders:read",))
    assert answer.status == 200, answer
    assert answer.body["id"] == ORDER_ID, answer
    write(pact, folder)


def list_orders(folder: Path) -> None:
    """The caller's orders: a list of orders."""
    pact = new_pact(CONSUMER, PROVIDER)
    interaction = (
        pact.upon_receiving("a request for the caller's orders")
        .given("an order exists", ORDER_EXISTS)
        .with_request("GET", "/orders")
    )
    _identity(interaction, "orders:read").will_respond_with(200).with_body(
        match.each_like(_order("placed", match.str(ORDER_ID))), content_type="application/json"
    )
    answer = _through_gateway(pact, "GET", "/orders", ("orders:read",))
    assert answer.status == 200, answer
    assert [o["status"] for o in answer.body] == ["placed"], answer
    write(pact, folder)


def cancel_order(folder: Path) -> None:
    """Cancelling placed order 42: 200 with the cancelled order."""
    pact = new_pact(CONSUMER, PROVIDER)
    interaction = (
        pact.upon_receiving("a cancellation of order 42")
        .given("an order exists", ORDER_EXISTS)
        .with_request("POST", f"/orders/{ORDER_ID}/cancel")
    )
    _identity(interaction, "orders:write").will_respond_with(200).with_body(
        _order("cancelled"), content_type="application/json"
    )
    answer = _through_gateway(pact, "POST", f"/orders/{ORDER_ID}/cancel", ("orders:read", "orders:write"))
    assert answer.status == 200, answer
    assert answer.body["status"] == "cancelled", answer
    write(pact, folder)


def unknown_order(folder: Path) -> None:
    """An order that does not exist: 404 with the code ``unknown_order``."""
    pact = new_pact(CONSUMER, PROVIDER)
    interaction = (
        pact.upon_receiving("a request for an order that does not exist")
        .given("no order exists", id="missing")
        .with_request("GET", "/orders/missing")
    )
    _identity(interaction, "orders:read").will_respond_with(404).with_body(
        error_body(404, "unknown_order"), content_type="application/json"
    )
    answer = _through_gateway(pact, "GET", "/orders/missing", ("orders:read",))
    assert answer.status == 404, answer
    assert answer.body["code"] == "unknown_order", answer
    write(pact, folder)


TESTS = (place_order, get_order, list_orders, cancel_order, unknown_order)
