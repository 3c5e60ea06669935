"""Orders when inventory is down, broken or slow: 503, nothing placed, and a retry that settles it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from live.common.instances import InstanceInfo
from live.common.server import bind_loopback, running
from live.orders.app import create_app
from live.orders.store import OrderStore
from tests.live.http import call
from tests.live.orders.conftest import Inventories, Shop, instance, orders_settings
from tests.live.orders.stubs import broken_inventory, recording_inventory, slow_proxy

pytestmark = pytest.mark.live


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port was bound, then closed)."""
    sock = bind_loopback()
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def assert_unavailable_and_pending(shop: Shop, reply_status: int, body: dict) -> str:
    assert reply_status == 503
    assert body["code"] == "inventory_unavailable"
    [order] = shop.store.orders_of("ann")
    assert order.id == body["order_id"]
    assert order.status == "pending"
    assert shop.event_types() == []
    return order.id


def test_inventory_down_is_a_503_and_the_retry_places_the_same_order_once(shop: Shop) -> None:
    live = shop.inventories.instances
    shop.inventories.instances = [instance(closed_port_url())]
    down = shop.create("ann", "k-1", ("A-1", 2))
    assert down.headers["retry-after"] == "1"
    order_id = assert_unavailable_and_pending(shop, down.status, down.body)
    listed = call("GET", f"{shop.orders}/orders", headers={"X-User": "ann"}).body
    assert [order["status"] for order in listed] == ["pending"]
    assert shop.stock("A-1") == (10, 0)
    pending = call("POST", f"{shop.orders}/orders/{order_id}/cancel", headers={"X-User": "ann"})
    assert (pending.status, pending.body["code"]) == (409, "order_pending")

    shop.inventories.instances = live
    retried = shop.create("ann", "k-1", ("A-1", 2))
    assert (retried.status, retried.body["id"], retried.body["status"]) == (201, order_id, "placed")
    assert retried.headers["idempotent-replayed"] == "true"
    assert shop.stock("A-1") == (8, 2)
    assert shop.event_types() == ["OrderPlaced"]


def test_no_inventory_instance_is_a_503(shop: Shop) -> None:
    shop.inventories.instances = []
    reply = shop.create("ann", "k-1", ("A-1", 1))
    assert_unavailable_and_pending(shop, reply.status, reply.body)
    assert "no inventory instance" in reply.body["error"]


def test_a_discovery_that_fails_is_a_503(tmp_path: Path) -> None:
    async def registry_down(service: str) -> list[InstanceInfo]:
        raise ConnectionError("registry unreachable")

    with running(create_app(orders_settings(tmp_path), discover=registry_down)) as url:
        reply = call(
            "POST",
            f"{url}/orders",
            json_body={"items": [{"sku": "A-1", "quantity": 1}]},
            headers={"X-User": "ann", "Idempotency-Key": "k"},
        )
    assert reply.status == 503
    assert "registry unreachable" in reply.body["error"]


def test_an_inventory_answering_500_is_a_503(shop: Shop) -> None:
    with running(broken_inventory()) as broken:
        shop.inventories.instances = [instance(broken)]
        reply = shop.create("ann", "k-1", ("A-1", 1))
    assert_unavailable_and_pending(shop, reply.status, reply.body)
    assert "500" in reply.body["error"]


def test_a_slow_inventory_times_out_and_the_retry_finds_the_reservation_it_made(
    tmp_path: Path, inventory_url: str
) -> None:
    inventories = Inventories()
    settings = orders_settings(tmp_path)
    with (
        running(slow_proxy(inventory_url, delay=0.8)) as slow,
        running(create_app(settings, discover=inventories, timeout=0.2)) as url,
    ):
        inventories.instances = [instance(slow)]
        shop = Shop(url, inventory_url, inventories, OrderStore(settings.database))
        started = time.monotonic()
        reply = shop.create("ann", "k-1", ("A-1", 3))
        assert time.monotonic() - started < 0.7  # the timeout, not the slow answer, ended the call
        order_id = assert_unavailable_and_pending(shop, reply.status, reply.body)
        deadline = time.monotonic() + 5
        while shop.stock("A-1") != (7, 3) and time.monotonic() < deadline:  # the late reservation lands
            time.sleep(0.05)
        assert shop.stock("A-1") == (7, 3)
        inventories.instances = [instance(inventory_url)]
        retried = shop.create("ann", "k-1", ("A-1", 3))
    assert (retried.status, retried.body["id"], retried.body["status"]) == (201, order_id, "placed")
    assert shop.stock("A-1") == (7, 3)
    assert shop.event_types() == ["OrderPlaced"]


def test_cancel_while_inventory_is_down_is_a_503_and_keeps_the_order_placed(shop: Shop) -> None:
    order = shop.create("ann", "k-1", ("A-1", 2)).body
    live = shop.inventories.instances
    shop.inventories.instances = [instance(closed_port_url())]
    cancel = f"{shop.orders}/orders/{order['id']}/cancel"
    down = call("POST", cancel, headers={"X-User": "ann"})
    assert (down.status, down.body["code"]) == (503, "inventory_unavailable")
    assert shop.store.get(order["id"]).status == "placed"
    assert shop.stock("A-1") == (8, 2)
    shop.inventories.instances = live
    assert call("POST", cancel, headers={"X-User": "ann"}).body["status"] == "cancelled"
    assert shop.stock("A-1") == (10, 0)
    assert shop.event_types() == ["OrderPlaced", "OrderCancelled"]


@pytest.mark.parametrize("traceparent", ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None])
def test_the_callers_traceparent_goes_on_to_inventory(shop: Shop, traceparent: str | None) -> None:
    seen: list[dict[str, str]] = []
    headers = {"X-User": "ann", "Idempotency-Key": "k-1"}
    if traceparent:
        headers["traceparent"] = traceparent
    with running(recording_inventory(seen)) as recorder:
        shop.inventories.instances = [instance(recorder)]
        reply = call(
            "POST",
            f"{shop.orders}/orders",
            json_body={"items": [{"sku": "A-1", "quantity": 1}]},
            headers=headers,
        )
    assert reply.status == 201
    [sent] = seen
    assert sent.get("traceparent") == traceparent
    assert sent.get("X-User") is None  # the caller's identity is not passed on


def test_a_pending_order_nobody_retries_settles_by_itself_once_inventory_is_back(
    tmp_path: Path, inventory_url: str
) -> None:
    inventories = Inventories([instance(closed_port_url())])
    settings = orders_settings(tmp_path)
    app = create_app(settings, discover=inventories, timeout=0.2, settle_pending_after=0.4)
    with running(app) as url:
        shop = Shop(url, inventory_url, inventories, OrderStore(settings.database))
        down = shop.create("ann", "k-1", ("A-1", 2))
        order_id = assert_unavailable_and_pending(shop, down.status, down.body)
        time.sleep(0.8)  # rounds that find inventory still down leave the order pending
        assert shop.store.get(order_id).status == "pending"
        inventories.instances = [instance(inventory_url)]
        deadline = time.monotonic() + 10
        while shop.store.get(order_id).status == "pending" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert shop.store.get(order_id).status == "placed"
        assert shop.stock("A-1") == (8, 2)
        assert shop.event_types() == ["OrderPlaced"]
        replay = shop.create("ann", "k-1", ("A-1", 2))
        assert (replay.status, replay.body["id"], replay.headers["idempotent-replayed"]) == (
            201,
            order_id,
            "true",
        )
    assert shop.stock("A-1") == (8, 2)


def test_settling_must_wait_longer_than_a_call_to_inventory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="settle_pending_after"):
        create_app(orders_settings(tmp_path), discover=Inventories(), timeout=2.0, settle_pending_after=1.0)
