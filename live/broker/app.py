"""The broker's HTTP API (FastAPI), one route per :class:`live.events.broker.Broker` method.

* ``POST /streams/{stream}/events`` with a JSON object: 201 ``{"id"}``.
* ``POST /streams/{stream}/groups/{group}/read`` ``{consumer, count, block}``: 200 ``{"events": [{id,
  event, delivery}]}`` -- a long poll of up to ``block`` seconds when nothing is ready.
* ``POST /streams/{stream}/groups/{group}/events/{id}/ack`` and ``.../nack``: 200 ``{"settled":
  bool}`` (false: the event was not held -- acked already, timed out and redelivered, or unknown).
* ``GET /streams/{stream}/dlq``: 200 ``{"dead_letters": [{id, group, event, deliveries}]}``.

Besides the stack's usual metrics, ``/metrics`` has ``broker_backlog{stream, group}``: the events of
the stream each group has not settled yet (ready or held) -- the consumer lag an alert watches.

Names (stream, group, consumer) are 1-100 letters, digits or ``._:-``; anything else is a 422 in the
stack's common error shape, as is a body that is not a JSON object.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, FastAPI
from fastapi import Path as PathParam
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from pydantic import BaseModel, ConfigDict, Field

from live.common.errors import install_json_errors
from live.common.observability import instrument
from live.common.settings import InstanceSettings
from live.events.broker import MAX_BLOCK, MAX_COUNT, NAME, DeliveryPolicy
from live.events.embedded import EmbeddedBroker

__all__ = ["BacklogCollector", "build", "create_app"]

Name = Annotated[str, PathParam(pattern=f"^{NAME.pattern}$")]


class ReadIn(BaseModel):
    """A read request: who reads, how many events at most, how long to wait for one (seconds)."""

    model_config = ConfigDict(extra="forbid")
    consumer: str = Field(pattern=f"^{NAME.pattern}$")
    count: int = Field(default=10, ge=1, le=MAX_COUNT)
    block: float = Field(default=0.0, ge=0, le=MAX_BLOCK)


class DeliveredOut(BaseModel):
    id: str
    event: dict[str, Any]
    delivery: int = Field(description="1 for the first delivery, 2 for the first redelivery, ...")


class ReadOut(BaseModel):
    events: list[DeliveredOut]


class PublishedOut(BaseModel):
    id: str


class SettledOut(BaseModel):
    settled: bool = Field(description="False when the event was not held by the group.")


class DeadLetterOut(BaseModel):
    id: str
    group: str
    event: dict[str, Any]
    deliveries: int


class DeadLettersOut(BaseModel):
    dead_letters: list[DeadLetterOut]


def create_app(settings: InstanceSettings, policy: DeliveryPolicy | None = None) -> FastAPI:
    """The broker on ``settings.database`` with ``policy`` (default: 10 s ack timeout, 5 deliveries)."""
    broker = EmbeddedBroker(settings.database, policy)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await broker.close()

    app = FastAPI(title="servicelab broker", version="1.0.0", lifespan=lifespan)
    install_json_errors(app)
    app.state.broker = broker

    @app.post("/streams/{stream}/events", status_code=201, response_model=PublishedOut)
    async def publish(stream: Name, event: Annotated[dict[str, Any], Body()]) -> PublishedOut:
        """Append an event (a JSON object) to the stream."""
        return PublishedOut(id=await broker.publish(stream, event))

    @app.post("/streams/{stream}/groups/{group}/read", response_model=ReadOut)
    async def read(stream: Name, group: Name, body: ReadIn) -> ReadOut:
        """Events for one consumer of the group: redeliveries first, then new ones (long poll)."""
        taken = await broker.read(stream, group, body.consumer, body.count, body.block)
        return ReadOut(events=[DeliveredOut(id=d.id, event=d.event, delivery=d.delivery) for d in taken])

    @app.post("/streams/{stream}/groups/{group}/events/{event_id}/ack", response_model=SettledOut)
    async def ack(stream: Name, group: Name, event_id: str) -> SettledOut:
        """The group is done with the event."""
        return SettledOut(settled=await broker.ack(stream, group, event_id))

    @app.post("/streams/{stream}/groups/{group}/events/{event_id}/nack", response_model=SettledOut)
    async def nack(stream: Name, group: Name, event_id: str) -> SettledOut:
        """The consumer failed the event: deliver it again (or dead-letter it after max deliveries)."""
        return SettledOut(settled=await broker.nack(stream, group, event_id))

    @app.get("/streams/{stream}/dlq", response_model=DeadLettersOut)
    async def dlq(stream: Name) -> DeadLettersOut:
        """The stream's dead letters, every group's, oldest first."""
        letters = await broker.dlq(stream)
        return DeadLettersOut(
            dead_letters=[
                DeadLetterOut(id=d.id, group=d.group, event=d.event, deliveries=d.deliveries) for d in letters
            ]
        )

    return app


class BacklogCollector:
    """``broker_backlog{stream, group}`` from the broker's queues, read at each scrape."""

    def __init__(self, broker: EmbeddedBroker) -> None:
        self.broker = broker

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "broker_backlog",
            "Events not yet settled by the consumer group (ready or held)",
            labels=["stream", "group"],
        )
        for (stream, group), count in sorted(self.broker.backlog().items()):
            gauge.add_metric([stream, group], count)
        yield gauge


def build(settings: InstanceSettings) -> FastAPI:
    """The stack's broker (``python -m live.broker``): :func:`create_app`, instrumented, with its backlog."""
    app = create_app(settings)
    instrument(app, settings).metrics.registry.register(BacklogCollector(app.state.broker))
    return app
