"""A whole stack: an order's events travel from orders' outbox through the broker to inventory.

Placing an order through the gateway writes ``OrderPlaced`` in orders' outbox; the relay publishes it
to the stream ``orders``; inventory's consumer counts it in its sales ledger (``GET
/api/inventory/sales``); cancelling the order takes the units back off. Once with the embedded
broker (the stack's ``broker`` process), once with ``--broker redis://...`` (a redis-server of the test).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import redis

from live.events.choice import choose_broker
from live.supervisor import Stack
from live.supervisor.prepare import PREPARE
from tests.live.events.conftest import redis_server
from tests.live.http import call
from tests.live.test_shop import SKU, api, login, place

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("stack")]


def sales(stack: Stack) -> dict:
    answer = call("GET", f"{api(stack)}/inventory/sales")
    assert answer.status == 200, answer.body
    return answer.body


def sold_becomes(stack: Stack, expected: int, within: float = 15.0) -> dict:
    """Poll inventory's sales until ``SKU`` shows ``expected`` units sold (bounded in time)."""
    deadline = time.monotonic() + within
    seen = sales(stack)
    while seen["sold"].get(SKU, 0) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = sales(stack)
    assert seen["sold"].get(SKU, 0) == expected, seen
    return seen


def order_then_cancel(stack: Stack) -> None:
    token = login(stack)
    before = sales(stack)
    sold = before["sold"].get(SKU, 0)
    order = place(stack, token, quantity=2)
    assert order.status == 201, order.body
    after = sold_becomes(stack, sold + 2)
    assert after["events"] == before["events"] + 1
    cancelled = call(
        "POST",
        f"{api(stack)}/orders/{order.body['id']}/cancel",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert cancelled.status == 200, cancelled.body
    assert sold_becomes(stack, sold)["events"] == before["events"] + 2


def test_an_order_is_counted_by_inventory_through_the_embedded_broker(tmp_path: Path) -> None:
    stack = Stack(tmp_path, parent_pid=os.getpid(), prepare=(*PREPARE, choose_broker(None)))
    try:
        stack.up()
        order_then_cancel(stack)
        dead = call("GET", f"{stack.state.url('broker')}/streams/orders/dlq")
        assert dead.body == {"dead_letters": []}
    finally:
        stack.down()


def test_an_order_is_counted_by_inventory_through_redis_streams(tmp_path: Path) -> None:
    with redis_server(tmp_path) as url:
        stack = Stack(tmp_path / "stack", parent_pid=os.getpid(), prepare=(*PREPARE, choose_broker(url)))
        try:
            stack.up()
            order_then_cancel(stack)
        finally:
            stack.down()
        direct = redis.Redis.from_url(url, decode_responses=True)
        try:
            assert direct.xlen("orders") == 2  # the events went through Redis ...
            groups = {group["name"]: group for group in direct.xinfo_groups("orders")}
            assert groups["inventory"]["pending"] == 0  # ... and inventory acked both
            assert direct.xlen("orders.dlq") == 0
        finally:
            direct.close()
