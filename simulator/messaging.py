"""Scenario schema of asynchronous messaging: brokers with queues and topics, publish steps, consumers.

```yaml
brokers:
  bus:
    publish_time: 1ms                 # the broker's work per publish (network latency as usual)
    queues:
      order-placed: {ttl: 60s, max_deliveries: 5}
    topics:
      orders: {partitions: 4}
routes:
  checkout:
    - call: orders
      calls:
        - publish: {broker: bus, queue: order-placed}   # fire and forget
consumers:
  - name: shipping
    service: shipping                 # its replicas are the competing consumers
    broker: bus
    queue: order-placed               # or topic: orders, group: billing
    prefetch: 10
    ack_timeout: 30s
    route: ship                       # what handling a message calls (made by the service)
    poison: 0.001                     # share of messages whose handling always fails
```

The model (pure logic in :mod:`patterns.messaging`):

- A **publish** step sends the message to the broker (one network hop, then the broker's
  ``publish_time``), where it is stored, and the publisher goes on once the broker's confirm is back
  (another hop): it never waits for a consumer. A message published to a topic lands in the
  partition of the request's ``key`` (when its workload draws keys) or of its id.
- A **consumer** is a service reading one queue, or one consumer group of a topic (``group``,
  default the consumer's name). Each replica of the service is one subscriber holding up to
  ``prefetch`` unacknowledged messages; a message it holds waits in the replica's queue for one of
  its ``concurrency`` slots. Handling a message is a visit to the service (its service time) that
  makes the ``route``'s steps as its nested calls while holding the slot.
- Handling that succeeds **acks** the message. Handling that fails (an error, a failed call, a
  ``poison`` message) **nacks** it: it is redelivered at once, at its place in publish order. A
  consumer replica that crashes says nothing: what it held is redelivered when each delivery's
  ``ack_timeout`` runs out (as is a delivery whose handling outlasts the timeout: then the message is
  handled twice). The ``max_deliveries``-th failed delivery dead-letters the message.
- A queue's ``ttl``: a message still waiting for delivery that long after its publication is
  removed as expired (one being handled does not expire).
- In a topic's consumer group each partition goes to one replica and is handled one message at a
  time in publish order; a failing message holds up its partition until it succeeds or is
  dead-lettered.

Messages, and what became of them, are the ``messages`` records (:mod:`simulator.records`).
Cross-references (unknown brokers, queues, services, routes) are checked by
:mod:`simulator.topology`.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from simulator.fields import Duration, PositiveDuration, Probability, StrictModel

__all__ = ["BrokerConfig", "Consumer", "PublishTarget", "QueueConfig", "TopicConfig", "scaled_channel"]

DEFAULT_MAX_DELIVERIES = 20
"""RabbitMQ's default delivery limit of quorum queues; finite so that a message cannot loop forever."""


class QueueConfig(StrictModel):
    ttl: PositiveDuration | None = None
    max_deliveries: int = Field(DEFAULT_MAX_DELIVERIES, ge=1, le=10_000)


class TopicConfig(StrictModel):
    partitions: int = Field(1, ge=1, le=10_000)
    max_deliveries: int = Field(DEFAULT_MAX_DELIVERIES, ge=1, le=10_000)


class BrokerConfig(StrictModel):
    """A message broker: named queues and topics, and its own work per publish."""

    publish_time: Duration = 0.0
    queues: dict[str, QueueConfig] = Field(default_factory=dict)
    topics: dict[str, TopicConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _distinct_names(self) -> BrokerConfig:
        both = sorted(set(self.queues) & set(self.topics))
        if both:
            raise ValueError(f"{both[0]!r} is both a queue and a topic")
        return self


def _one_destination(queue: str | None, topic: str | None) -> None:
    if (queue is None) == (topic is None):
        raise ValueError("name exactly one of 'queue' or 'topic'")


class PublishTarget(StrictModel):
    broker: str
    queue: str | None = None
    topic: str | None = None

    @model_validator(mode="after")
    def _one(self) -> PublishTarget:
        _one_destination(self.queue, self.topic)
        return self

    @property
    def destination(self) -> str:
        return self.queue or self.topic or ""


class Consumer(StrictModel):
    """A service consuming one queue, or one consumer group of a topic (module docstring)."""

    name: str
    service: str
    broker: str
    queue: str | None = None
    topic: str | None = None
    group: str | None = None
    prefetch: int = Field(1, ge=1, le=100_000)
    ack_timeout: PositiveDuration = 30.0
    route: str | None = None
    poison: Probability = 0.0

    @model_validator(mode="after")
    def _one(self) -> Consumer:
        _one_destination(self.queue, self.topic)
        if self.group is not None and self.topic is None:
            raise ValueError("'group' belongs to consumers of a topic")
        return self

    @property
    def channel(self) -> str:
        """The name of what it reads: the queue, or ``topic:group``."""
        return self.queue if self.queue is not None else f"{self.topic}:{self.group or self.name}"


def scaled_channel(service: str, channel: str | None, consumers: list[Consumer]) -> str:
    """The channel whose backlog scales ``service`` (``autoscaling: {metric: backlog}``).

    ``channel`` when the autoscaling block names one; else the one channel ``service`` consumes.
    Raises ``ValueError`` with a message for a person when that is none or several.
    """
    if channel is not None:
        return channel
    read = [c.channel for c in consumers if c.service == service]
    if len(read) == 1:
        return read[0]
    if not read:
        raise ValueError(
            f"metric: backlog needs a channel: {service!r} consumes no queue or topic, "
            "so name the queue (or topic:group) with 'channel'"
        )
    raise ValueError(
        f"metric: backlog is ambiguous: {service!r} consumes {', '.join(map(repr, read))}; "
        "name one with 'channel'"
    )
