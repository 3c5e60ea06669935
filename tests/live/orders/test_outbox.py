"""The outbox relay publishes every event at least once, in order, marking only what was published."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from live.orders.outbox import OutboxEvent, OutboxRelay
from live.orders.store import OrderStore


def store_with_orders(tmp_path: Path, count: int) -> tuple[OrderStore, list[str]]:
    """``count`` placed orders, so ``count`` OrderPlaced events, written the way the app writes them."""
    store = OrderStore(tmp_path / "orders.sqlite3")
    ids = []
    for i in range(count):
        order = store.begin("ann", f"k-{i}", [{"sku": "A-1", "quantity": i + 1}]).order
        assert store.place(order.id, f"res-{i}").changed
        ids.append(order.id)
    return store, ids


class Broker:
    """An in-memory publish function that can be told to fail on given event ids."""

    def __init__(self, failing: set[str] | None = None) -> None:
        self.failing = failing or set()
        self.received: list[OutboxEvent] = []

    async def __call__(self, event: OutboxEvent) -> None:
        if event.event_id in self.failing:
            raise ConnectionError(f"broker refused {event.event_id}")
        self.received.append(event)


def test_a_run_publishes_the_unpublished_events_in_order_once(tmp_path: Path) -> None:
    store, ids = store_with_orders(tmp_path, 3)
    broker = Broker()
    relay = OutboxRelay(store, broker)
    assert asyncio.run(relay.run_once()) == 3
    assert [event.aggregate_id for event in broker.received] == ids
    assert {event.type for event in broker.received} == {"OrderPlaced"}
    assert store.unpublished(10) == []
    assert asyncio.run(relay.run_once()) == 0
    assert len(broker.received) == 3


def test_a_failed_publish_leaves_its_event_and_the_later_ones_for_the_next_run(tmp_path: Path) -> None:
    store, ids = store_with_orders(tmp_path, 3)
    second = store.events()[1].event_id
    broker = Broker(failing={second})
    relay = OutboxRelay(store, broker)
    with pytest.raises(ConnectionError, match="broker refused"):
        asyncio.run(relay.run_once())
    assert [event.aggregate_id for event in broker.received] == ids[:1]
    assert [event.aggregate_id for event in store.unpublished(10)] == ids[1:]
    broker.failing.clear()
    assert asyncio.run(relay.run_once()) == 2
    assert [event.aggregate_id for event in broker.received] == ids


def test_a_limit_bounds_one_run(tmp_path: Path) -> None:
    store, ids = store_with_orders(tmp_path, 5)
    broker = Broker()
    relay = OutboxRelay(store, broker)
    assert asyncio.run(relay.run_once(limit=2)) == 2
    assert asyncio.run(relay.run_once(limit=2)) == 2
    assert asyncio.run(relay.run_once(limit=2)) == 1
    assert [event.aggregate_id for event in broker.received] == ids
    with pytest.raises(ValueError, match="limit"):
        asyncio.run(relay.run_once(limit=0))


def test_a_crash_between_publish_and_mark_publishes_again(tmp_path: Path) -> None:
    store, ids = store_with_orders(tmp_path, 1)
    broker = Broker()

    class DiesBeforeMarking:
        def unpublished(self, limit: int) -> list[OutboxEvent]:
            return store.unpublished(limit)

        def mark_published(self, event_id: str) -> None:
            raise SystemError("the process died here")

    with pytest.raises(SystemError):
        asyncio.run(OutboxRelay(DiesBeforeMarking(), broker).run_once())
    assert asyncio.run(OutboxRelay(store, broker).run_once()) == 1
    assert [event.aggregate_id for event in broker.received] == ids * 2  # at least once: twice here
    assert broker.received[0].event_id == broker.received[1].event_id  # consumers dedupe on it


def test_the_loop_relays_until_stopped_and_outlives_a_failing_broker(tmp_path: Path) -> None:
    store, ids = store_with_orders(tmp_path, 2)
    first = store.events()[0].event_id
    broker = Broker(failing={first})

    async def scenario() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(OutboxRelay(store, broker).run(0.02, stop))
        await asyncio.sleep(0.1)  # a few failing rounds
        assert broker.received == []
        broker.failing.clear()
        for _ in range(100):
            if len(broker.received) == 2:
                break
            await asyncio.sleep(0.02)
        # an event written while the loop runs is relayed too
        order = store.begin("ann", "k-late", [{"sku": "A-1", "quantity": 1}]).order
        store.place(order.id, "res-late")
        for _ in range(100):
            if len(broker.received) == 3:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(loop, 2)

    asyncio.run(scenario())
    assert [event.aggregate_id for event in broker.received][:2] == ids
    assert len(broker.received) == 3
    assert store.unpublished(10) == []


def test_the_order_events_carry_what_a_consumer_needs(tmp_path: Path) -> None:
    store, [order_id] = store_with_orders(tmp_path, 1)
    assert store.cancel(order_id).changed
    assert not store.cancel(order_id).changed  # cancelling twice writes one event
    placed, cancelled = store.events()
    assert (placed.type, cancelled.type) == ("OrderPlaced", "OrderCancelled")
    assert placed.sequence < cancelled.sequence
    assert placed.event_id != cancelled.event_id
    assert cancelled.to_json()["payload"] == {
        "order_id": order_id,
        "user": "ann",
        "items": [{"sku": "A-1", "quantity": 1}],
        "reservation_id": "res-0",
    }
