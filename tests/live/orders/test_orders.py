"""Placing, reading and cancelling orders through orders' HTTP API, with a real inventory behind it."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from live.common.server import running
from live.orders.app import create_app
from tests.live.http import call
from tests.live.orders.conftest import Shop, orders_settings

pytestmark = pytest.mark.live


def test_placing_an_order_reserves_its_stock_and_writes_order_placed(shop: Shop) -> None:
    placed = shop.create("ann", "k-1", ("A-1", 2), ("B-2", 1))
    assert placed.status == 201, placed
    order = placed.body
    assert (order["user"], order["status"]) == ("ann", "placed")
    assert order["items"] == [{"sku": "A-1", "quantity": 2}, {"sku": "B-2", "quantity": 1}]
    assert order["reservation_id"]
    assert "idempotent-replayed" not in placed.headers
    assert shop.stock("A-1") == (8, 2)
    assert shop.stock("B-2") == (2, 1)
    [event] = shop.store.events()
    assert (event.type, event.aggregate_id) == ("OrderPlaced", order["id"])
    assert event.payload["reservation_id"] == order["reservation_id"]
    assert event.payload["items"] == order["items"]


def test_a_retried_create_returns_the_same_order_and_reserves_once(shop: Shop) -> None:
    first = shop.create("ann", "k-1", ("A-1", 2))
    again = shop.create("ann", "k-1", ("A-1", 2))
    assert again.status == 201
    assert again.body == first.body
    assert again.headers["idempotent-replayed"] == "true"
    assert len(call("GET", f"{shop.orders}/orders", headers={"X-User": "ann"}).body) == 1
    assert shop.stock("A-1") == (8, 2)
    assert shop.event_types() == ["OrderPlaced"]


def test_concurrent_retries_on_two_replicas_make_one_order_and_one_reservation(
    shop: Shop, tmp_path: Path
) -> None:
    second = create_app(orders_settings(tmp_path, "orders-2"), discover=shop.inventories, timeout=5.0)
    with running(second) as other, ThreadPoolExecutor(10) as pool:
        replies = list(
            pool.map(
                lambda i: shop.create("ann", "k-1", ("A-1", 3), url=(shop.orders, other)[i % 2]), range(10)
            )
        )
    assert [reply.status for reply in replies] == [201] * 10, [str(reply) for reply in replies]
    assert len({reply.body["id"] for reply in replies}) == 1
    assert Counter(reply.headers.get("idempotent-replayed") for reply in replies) == {None: 1, "true": 9}
    assert {reply.body["status"] for reply in replies} == {"placed"}
    assert len(shop.store.orders_of("ann")) == 1
    assert shop.stock("A-1") == (7, 3)
    assert shop.event_types() == ["OrderPlaced"]


def test_the_same_key_with_other_items_is_a_422(shop: Shop) -> None:
    first = shop.create("ann", "k-1", ("A-1", 2))
    for changed in (shop.create("ann", "k-1", ("A-1", 3)), shop.create("ann", "k-1", ("A-1", 2), ("B-2", 1))):
        assert changed.status == 422
        assert changed.body["code"] == "idempotency_key_reused"
        assert changed.body["order_id"] == first.body["id"]
        assert "k-1" in changed.body["error"]
    assert len(shop.store.orders_of("ann")) == 1
    assert shop.stock("A-1") == (8, 2)


def test_keys_belong_to_their_user(shop: Shop) -> None:
    ann = shop.create("ann", "k-1", ("A-1", 1))
    bob = shop.create("bob", "k-1", ("A-1", 1))
    assert (ann.status, bob.status) == (201, 201)
    assert ann.body["id"] != bob.body["id"]
    assert "idempotent-replayed" not in bob.headers
    assert shop.stock("A-1") == (8, 2)


def test_an_order_inventory_refuses_is_rejected_with_its_reason_and_replayed(shop: Shop) -> None:
    refused = shop.create("ann", "k-1", ("A-1", 1), ("B-2", 4))
    assert refused.status == 409
    assert refused.body["code"] == "order_rejected"
    assert "B-2" in refused.body["error"]
    order = refused.body["order"]
    assert order["status"] == "rejected"
    assert (order["rejection"]["code"], order["rejection"]["sku"]) == ("out_of_stock", "B-2")
    assert shop.stock("A-1") == (10, 0)
    again = shop.create("ann", "k-1", ("A-1", 1), ("B-2", 4))
    assert (again.status, again.headers["idempotent-replayed"]) == (409, "true")
    assert again.body["order"]["id"] == order["id"]
    assert shop.event_types() == []
    unknown = shop.create("ann", "k-2", ("NOPE", 1))
    assert (unknown.status, unknown.body["order"]["rejection"]["code"]) == (409, "unknown_sku")


def test_cancelling_releases_the_stock_once_and_writes_order_cancelled(shop: Shop) -> None:
    order = shop.create("ann", "k-1", ("A-1", 4)).body
    assert shop.stock("A-1") == (6, 4)
    cancel = f"{shop.orders}/orders/{order['id']}/cancel"
    cancelled = call("POST", cancel, headers={"X-User": "ann"})
    assert (cancelled.status, cancelled.body["status"]) == (200, "cancelled")
    assert shop.stock("A-1") == (10, 0)
    again = call("POST", cancel, headers={"X-User": "ann"})
    assert (again.status, again.body["status"]) == (200, "cancelled")
    assert shop.stock("A-1") == (10, 0)
    assert shop.event_types() == ["OrderPlaced", "OrderCancelled"]
    assert shop.store.events()[1].aggregate_id == order["id"]
    # the create's retry still names the same (now cancelled) order, and reserves nothing
    replay = shop.create("ann", "k-1", ("A-1", 4))
    assert (replay.status, replay.body["id"], replay.body["status"]) == (201, order["id"], "cancelled")
    assert shop.stock("A-1") == (10, 0)


def test_only_a_placed_order_can_be_cancelled(shop: Shop) -> None:
    rejected = shop.create("ann", "k-1", ("B-2", 9)).body["order"]
    refused = call("POST", f"{shop.orders}/orders/{rejected['id']}/cancel", headers={"X-User": "ann"})
    assert (refused.status, refused.body["code"]) == (409, "order_rejected")
    assert shop.event_types() == []


def test_users_see_and_cancel_only_their_own_orders(shop: Shop) -> None:
    first = shop.create("ann", "k-1", ("A-1", 1)).body
    second = shop.create("ann", "k-2", ("B-2", 1)).body
    shop.create("bob", "k-1", ("A-1", 1))
    listed = call("GET", f"{shop.orders}/orders", headers={"X-User": "ann"})
    assert [order["id"] for order in listed.body] == [second["id"], first["id"]]
    assert call("GET", f"{shop.orders}/orders/{first['id']}", headers={"X-User": "ann"}).body == first
    other = call("GET", f"{shop.orders}/orders/{first['id']}", headers={"X-User": "bob"})
    assert (other.status, other.body["code"]) == (403, "forbidden")
    stolen = call("POST", f"{shop.orders}/orders/{first['id']}/cancel", headers={"X-User": "bob"})
    assert stolen.status == 403
    assert shop.stock("A-1") == (8, 2)
    missing = call("GET", f"{shop.orders}/orders/nope", headers={"X-User": "ann"})
    assert (missing.status, missing.body["code"]) == (404, "unknown_order")
    assert call("POST", f"{shop.orders}/orders/nope/cancel", headers={"X-User": "ann"}).status == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/orders"), ("GET", "/orders/x"), ("POST", "/orders/x/cancel"), ("POST", "/orders")],
)
def test_a_request_without_x_user_is_a_401(shop: Shop, method: str, path: str) -> None:
    body = {"items": "not even a list"} if method == "POST" else None
    reply = call(method, f"{shop.orders}{path}", json_body=body, headers={"Idempotency-Key": "k"})
    assert (reply.status, reply.body["code"]) == (401, "unauthenticated")


def test_a_create_without_idempotency_key_is_a_400(shop: Shop) -> None:
    reply = shop.create("ann", None, ("A-1", 1))
    assert (reply.status, reply.body["code"]) == (400, "idempotency_key_missing")
    assert shop.create("ann", " ", ("A-1", 1)).status == 400
    assert shop.create("ann", "k" * 201, ("A-1", 1)).status == 400
    assert shop.store.orders_of("ann") == []


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({}, "body.items"),
        ({"items": []}, "body.items"),
        ({"items": [{"sku": "A-1", "quantity": 0}]}, "body.items.0.quantity"),
        ({"items": [{"sku": "A-1", "quantity": "2"}]}, "body.items.0.quantity"),
        ({"items": [{"sku": "A-1", "quantity": 1.5}]}, "body.items.0.quantity"),
        ({"items": [{"sku": "", "quantity": 1}]}, "body.items.0.sku"),
        ({"items": [{"sku": "A-1", "quantity": 1, "price": 3}]}, "body.items.0.price"),
        ({"items": [{"sku": "A-1", "quantity": 1}, {"sku": "A-1", "quantity": 2}]}, "body.items"),
        ([1], "body"),
    ],
)
def test_a_bad_body_is_a_422_naming_the_field(shop: Shop, body: object, where: str) -> None:
    reply = call(
        "POST", f"{shop.orders}/orders", json_body=body, headers={"X-User": "ann", "Idempotency-Key": "k"}
    )
    assert reply.status == 422
    assert any(problem.startswith(f"{where}: ") for problem in reply.body["problems"]), reply.body
    assert shop.store.orders_of("ann") == []
    assert shop.stock("A-1") == (10, 0)


def test_a_body_that_is_not_json_is_a_422(shop: Shop) -> None:
    reply = call(
        "POST", f"{shop.orders}/orders", raw=b"{nope", headers={"X-User": "ann", "Idempotency-Key": "k"}
    )
    assert reply.status == 422
    assert "JSON decode error" in reply.body["error"]


def test_the_openapi_document_lists_the_routes(shop: Shop) -> None:
    paths = call("GET", f"{shop.orders}/openapi.json").body["paths"]
    assert {(path, method) for path, item in paths.items() for method in item} == {
        ("/orders", "get"),
        ("/orders", "post"),
        ("/orders/{order_id}", "get"),
        ("/orders/{order_id}/cancel", "post"),
    }
