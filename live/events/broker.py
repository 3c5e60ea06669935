"""The broker interface every backend implements, and what it hands out.

A *stream* is an append-only log of events (JSON objects). A *consumer group* reads a whole stream
(every group sees every event, from the stream's start); inside a group, *consumers* compete: each
event is delivered to one of them at a time. Delivery is *at least once*:

* :meth:`Broker.read` hands out up to ``count`` events (waiting up to ``block`` seconds for one); each
  is then held by the reading consumer until it is acked.
* :meth:`Broker.ack` settles an event for the group: it is not delivered again. An ack names the
  event, not one delivery of it: a consumer that acks after its timeout settles the event even if it
  was redelivered meanwhile (its handler did run; the new holder's ack then returns False).
* An event not acked within the ``ack_timeout`` (the consumer crashed, hangs or is slow), or
  :meth:`Broker.nack`-ed, is delivered again -- possibly to another consumer -- so consumers must be
  idempotent (the shop's inventory deduplicates by ``event_id``).
* An event whose ``max_deliveries``-th delivery fails is *dead-lettered* instead of being delivered
  again: :meth:`Broker.dlq` lists it with the group that gave up on it and its delivery count.

These are exactly the rules of :class:`patterns.messaging.Queue` (one per group): the embedded backend
runs that model, the Redis backend maps them on Streams (XREADGROUP, XACK, XAUTOCLAIM, XPENDING). One
difference is inherent to the pull API: a timed-out delivery is noticed when some consumer of the
group next reads, not at the instant its timeout ran out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Broker", "BrokerError", "DeadLetter", "Delivered", "DeliveryPolicy", "check_name"]

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
"""Streams, groups and consumers: letters, digits and ``._:-``, at most 100 characters."""

MAX_COUNT = 1000
MAX_BLOCK = 30.0


class BrokerError(RuntimeError):
    """The broker could not be reached or refused a request; the message says which and why."""


def check_name(kind: str, name: str) -> str:
    """``name`` if it is a valid stream, group or consumer name (``kind`` says which), else ValueError."""
    if not isinstance(name, str) or NAME.fullmatch(name) is None:
        raise ValueError(
            f"{kind} {name!r} is not a valid name: 1 to 100 letters, digits or ._:- (starting alphanumeric)"
        )
    return name


def check_read(stream: str, group: str, consumer: str, count: int, block: float) -> None:
    """ValueError unless the names are valid, ``1 <= count <= MAX_COUNT`` and ``0 <= block <= MAX_BLOCK``."""
    check_name("stream", stream)
    check_name("group", group)
    check_name("consumer", consumer)
    if not 1 <= count <= MAX_COUNT or not 0 <= block <= MAX_BLOCK:
        raise ValueError(
            f"read needs 1 <= count <= {MAX_COUNT} and 0 <= block <= {MAX_BLOCK} seconds, "
            f"got count={count!r}, block={block!r}"
        )


@dataclass(frozen=True)
class DeliveryPolicy:
    """How long a delivery may stay unacked (seconds), and how many deliveries an event gets at most."""

    ack_timeout: float = 10.0
    max_deliveries: int = 5

    def __post_init__(self) -> None:
        if not self.ack_timeout > 0 or self.max_deliveries < 1:
            raise ValueError(
                f"a delivery policy needs ack_timeout > 0 and max_deliveries >= 1, "
                f"got ack_timeout={self.ack_timeout!r}, max_deliveries={self.max_deliveries!r}"
            )


@dataclass(frozen=True)
class Delivered:
    """One delivery: event ``id`` of ``stream`` for ``group``, its ``delivery``-th (1 = first)."""

    stream: str
    group: str
    id: str
    event: dict[str, Any]
    delivery: int

    @property
    def redelivered(self) -> bool:
        return self.delivery > 1


@dataclass(frozen=True)
class DeadLetter:
    """An event ``group`` gave up on after ``deliveries`` failed deliveries."""

    stream: str
    group: str
    id: str
    event: dict[str, Any]
    deliveries: int


class Broker(Protocol):
    """A broker backend (module docstring); every method may raise :class:`BrokerError`."""

    async def publish(self, stream: str, event: Mapping[str, Any]) -> str:
        """Append ``event`` to ``stream`` (created on first use); returns the event's id in the stream."""
        ...

    async def read(
        self, stream: str, group: str, consumer: str, count: int = 10, block: float = 0.0
    ) -> list[Delivered]:
        """Up to ``count`` events for ``consumer`` of ``group`` (created on first use, at the stream's
        start): redeliveries first, then new events; waits up to ``block`` seconds when there is none."""
        ...

    async def ack(self, stream: str, group: str, event_id: str) -> bool:
        """Settle an event for ``group``; False when it was not held (already acked, dead, or unknown)."""
        ...

    async def nack(self, stream: str, group: str, event_id: str) -> bool:
        """Give a held event back: it counts as a failed delivery and is redelivered (or dead-lettered)."""
        ...

    async def dlq(self, stream: str) -> list[DeadLetter]:
        """The dead letters of ``stream`` (every group's), oldest first."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
