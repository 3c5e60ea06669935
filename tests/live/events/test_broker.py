"""The broker's promises, checked against both backends (the embedded broker and Redis Streams).

At least once: an event read and not acked within the ack timeout, or nacked, comes back (with its
delivery count); acked events never do; after ``max_deliveries`` failed deliveries an event is
dead-lettered instead. Groups each see the whole stream; consumers of one group share it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from live.events.broker import Broker, Delivered
from tests.live.events.conftest import POLICY, Backend

pytestmark = pytest.mark.live

T = TypeVar("T")
WAIT = POLICY.ack_timeout * 4  # a long poll that outlasts the ack timeout comfortably


def drive(backend: Backend, scenario: Callable[[Broker], Awaitable[T]]) -> T:
    """Run ``scenario`` with a fresh client of ``backend`` in its own event loop, then close it."""

    async def main() -> T:
        broker = backend.broker()
        try:
            return await scenario(broker)
        finally:
            await broker.close()

    return asyncio.run(main())


def events(delivered: list[Delivered]) -> list[dict]:
    return [d.event for d in delivered]


def test_events_are_read_in_order_and_acked_ones_never_return(backend: Backend, stream: str) -> None:
    async def scenario(broker: Broker) -> None:
        ids = [await broker.publish(stream, {"n": n}) for n in range(3)]
        assert len(set(ids)) == 3
        got = await broker.read(stream, "g", "c1", count=10)
        assert [d.id for d in got] == ids
        assert events(got) == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert {d.delivery for d in got} == {1}
        assert [await broker.ack(stream, "g", d.id) for d in got] == [True, True, True]
        assert await broker.ack(stream, "g", ids[0]) is False  # already settled
        started = time.monotonic()
        assert await broker.read(stream, "g", "c1", block=WAIT) == []  # past the ack timeout: nothing
        assert time.monotonic() - started >= WAIT * 0.9
        assert await broker.dlq(stream) == []

    drive(backend, scenario)


def test_every_group_sees_the_whole_stream_and_a_groups_consumers_share_it(
    backend: Backend, stream: str
) -> None:
    async def scenario(broker: Broker) -> None:
        for n in range(2):
            await broker.publish(stream, {"n": n})
        first = await broker.read(stream, "shop", "a", count=1)
        second = await broker.read(stream, "shop", "b", count=5)
        assert events(first) == [{"n": 0}]
        assert events(second) == [{"n": 1}]  # the held event is not handed to b
        assert events(await broker.read(stream, "audit", "x", count=5)) == [{"n": 0}, {"n": 1}]

    drive(backend, scenario)


def test_a_long_poll_returns_as_soon_as_an_event_is_published(backend: Backend, stream: str) -> None:
    async def scenario(broker: Broker) -> float:
        await broker.read(stream, "g", "c", count=1)  # creates the group: it reads from here on
        waiting = asyncio.create_task(broker.read(stream, "g", "c", count=1, block=5.0))
        await asyncio.sleep(0.2)
        published = time.monotonic()
        await broker.publish(stream, {"late": True})
        got = await waiting
        assert events(got) == [{"late": True}]
        return time.monotonic() - published

    assert drive(backend, scenario) < 1.5


def test_an_event_not_acked_in_time_is_redelivered_to_another_consumer(backend: Backend, stream: str) -> None:
    async def scenario(broker: Broker) -> None:
        event_id = await broker.publish(stream, {"job": 1})
        held = await broker.read(stream, "g", "crashing", count=1)
        assert [d.id for d in held] == [event_id]
        assert await broker.read(stream, "g", "healthy", count=1) == []  # still held: not yet
        started = time.monotonic()
        again = await broker.read(stream, "g", "healthy", count=1, block=WAIT)
        waited = time.monotonic() - started
        assert [(d.id, d.delivery, d.redelivered) for d in again] == [(event_id, 2, True)]
        assert POLICY.ack_timeout * 0.8 <= waited < WAIT
        assert await broker.ack(stream, "g", event_id) is True
        assert await broker.read(stream, "g", "healthy", count=1, block=POLICY.ack_timeout * 2) == []

    drive(backend, scenario)


def test_a_nacked_event_is_redelivered_at_once(backend: Backend, stream: str) -> None:
    async def scenario(broker: Broker) -> None:
        event_id = await broker.publish(stream, {"job": 2})
        await broker.read(stream, "g", "c", count=1)
        assert await broker.nack(stream, "g", event_id) is True
        started = time.monotonic()
        again = await broker.read(stream, "g", "c", count=1, block=WAIT)
        assert [(d.id, d.delivery) for d in again] == [(event_id, 2)]
        assert time.monotonic() - started < POLICY.ack_timeout * 0.8 + 0.3
        assert await broker.nack(stream, "g", "999999-0") is False  # never delivered

    drive(backend, scenario)


def test_after_max_deliveries_an_event_is_dead_lettered_and_the_rest_flows(
    backend: Backend, stream: str
) -> None:
    async def scenario(broker: Broker) -> None:
        poison = await broker.publish(stream, {"poison": True})
        numbers = []
        for attempt in range(POLICY.max_deliveries):
            got = await broker.read(stream, "g", f"c{attempt}", count=1, block=WAIT)
            assert [d.id for d in got] == [poison]
            numbers.append(got[0].delivery)
            if attempt % 2:  # fail some deliveries by nack, the others by silence (timeout)
                assert await broker.nack(stream, "g", poison)
        assert numbers == list(range(1, POLICY.max_deliveries + 1))
        assert await broker.read(stream, "g", "last", count=5, block=WAIT) == []  # the last one timed out
        healthy = await broker.publish(stream, {"poison": False})
        got = await broker.read(stream, "g", "last", count=5, block=WAIT)
        assert [d.id for d in got] == [healthy]  # the poison event is not delivered again
        letters = await broker.dlq(stream)
        assert [(d.id, d.group, d.event, d.deliveries) for d in letters] == [
            (poison, "g", {"poison": True}, POLICY.max_deliveries)
        ]
        assert await broker.ack(stream, "g", poison) is False

    drive(backend, scenario)


def test_bad_names_and_read_arguments_are_refused_with_the_reason(backend: Backend, stream: str) -> None:
    async def scenario(broker: Broker) -> None:
        with pytest.raises(ValueError, match="stream"):
            await broker.publish("no spaces/allowed", {"x": 1})
        with pytest.raises(ValueError, match="consumer"):
            await broker.read(stream, "g", "", count=1)
        with pytest.raises(ValueError, match="count"):
            await broker.read(stream, "g", "c", count=0)

    drive(backend, scenario)
