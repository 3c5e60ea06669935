"""The embedded broker: its promises across a restart (its state is in SQLite), its HTTP API, its metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from live.broker.app import build
from live.common.server import running
from live.common.settings import InstanceSettings
from live.events.broker import Broker
from tests.live.events.conftest import POLICY, Backend
from tests.live.http import call

pytestmark = pytest.mark.live


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_unsettled_events_and_dead_letters_survive_a_broker_restart(backend: Backend, stream: str) -> None:
    async def before(broker: Broker) -> list[str]:
        ids = [await broker.publish(stream, {"n": n}) for n in range(4)]
        got = await broker.read(stream, "g", "c", count=2)  # events 0 and 1 delivered ...
        assert await broker.ack(stream, "g", got[0].id)  # ... 0 acked, 1 held when the broker stops
        for _ in range(POLICY.max_deliveries):  # event 0 of another group dead-lettered
            await broker.read(stream, "other", "c", count=1, block=POLICY.ack_timeout * 4)
            await broker.nack(stream, "other", ids[0])
        for attempt in range(POLICY.max_deliveries):  # a third group's last delivery cut short by the stop
            got = await broker.read(stream, "third", "c", count=1, block=POLICY.ack_timeout * 4)
            assert [d.delivery for d in got] == [attempt + 1]
            if attempt + 1 < POLICY.max_deliveries:
                await broker.nack(stream, "third", ids[0])
        return ids

    async def after(broker: Broker) -> None:
        got = await broker.read(stream, "g", "c", count=10)
        assert [(d.id, d.event, d.delivery) for d in got] == [
            (ids[1], {"n": 1}, 2),  # its delivery before the restart counts
            (ids[2], {"n": 2}, 1),
            (ids[3], {"n": 3}, 1),
        ]
        letters = await broker.dlq(stream)
        assert [(d.id, d.group, d.deliveries) for d in letters] == [
            (ids[0], "other", POLICY.max_deliveries),
            (ids[0], "third", POLICY.max_deliveries),  # never delivered a fourth time
        ]
        third = await broker.read(stream, "third", "c", count=10)
        assert [(d.id, d.delivery) for d in third] == [(i, 1) for i in ids[1:]]
        other = await broker.read(stream, "other", "c", count=10)
        assert [d.id for d in other] == ids[1:]  # the dead letter is not delivered again
        assert await broker.publish(stream, {"n": 4}) not in ids  # ids are never reused

    async def drive(scenario):  # type: ignore[no-untyped-def]
        broker = backend.broker()
        try:
            return await scenario(broker)
        finally:
            await broker.close()

    ids = asyncio.run(drive(before))
    port_before = backend.url
    backend.restart()
    assert backend.url != port_before
    asyncio.run(drive(after))


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_the_http_api_refuses_bad_input_in_the_common_error_shape(backend: Backend) -> None:
    bad_name = call("POST", f"{backend.url}/streams/bad%20name/events", json_body={"x": 1})
    assert bad_name.status == 422
    assert bad_name.body["status"] == 422
    assert "stream" in bad_name.body["error"]
    not_an_object = call("POST", f"{backend.url}/streams/s/events", json_body=[1, 2])
    assert not_an_object.status == 422
    broken = call("POST", f"{backend.url}/streams/s/events", raw=b"{not json")
    assert broken.status == 422
    read = f"{backend.url}/streams/s/groups/g/read"
    too_long = call("POST", read, json_body={"consumer": "c", "block": 99})
    assert too_long.status == 422
    assert "block" in too_long.body["error"]
    unknown = call("POST", f"{backend.url}/streams/s/groups/g/events/nope/ack")
    assert (unknown.status, unknown.body) == (200, {"settled": False})


def test_the_broker_process_exports_each_groups_backlog(tmp_path: Path) -> None:
    settings = InstanceSettings(service="broker", instance="broker-1", state_dir=tmp_path)
    with running(build(settings)) as url:
        for n in range(3):
            assert call("POST", f"{url}/streams/shop/events", json_body={"n": n}).status == 201
        read = call("POST", f"{url}/streams/shop/groups/audit/read", json_body={"consumer": "c", "count": 2})
        first = read.body["events"][0]["id"]
        assert call("POST", f"{url}/streams/shop/groups/audit/events/{first}/ack").body == {"settled": True}
        text = call("GET", f"{url}/metrics").body
    assert 'broker_backlog{group="audit",stream="shop"} 2.0' in text  # one held, one ready
