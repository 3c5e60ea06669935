"""The broker on Redis Streams with consumer groups (redis-py asyncio).

The :class:`~live.events.broker.Broker` rules map onto Streams like this:

* ``publish`` is ``XADD stream * event <json>``; the entry id is the event's id.
* A group is ``XGROUP CREATE stream group 0 MKSTREAM`` on first use: it reads the stream from its start.
* ``read`` first takes over deliveries idle for longer than the ack timeout with ``XAUTOCLAIM`` (the
  entries of the group's pending list whose consumer did not ack in time, or that were nacked); each
  claim counts a delivery, and a claimed entry whose count (``XPENDING``) now exceeds
  ``max_deliveries`` is not handed out but dead-lettered: added to the stream ``<stream>.dlq`` (with
  its id, group, event and delivery count) and acked, in one MULTI/EXEC. Then new entries come with
  ``XREADGROUP ... >``; a long poll alternates the two, so a redelivery due during the wait is not
  missed.
* ``ack`` is ``XACK``. Redis has no nack: ``nack`` makes the entry look idle for the whole ack
  timeout (``XCLAIM ... IDLE ... JUSTID``, which does not count a delivery), so the next read claims it.

The policy (ack timeout, max deliveries) belongs to this client object: every consumer of a group
should use the same one.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from live.events.broker import BrokerError, DeadLetter, Delivered, DeliveryPolicy, check_name, check_read

__all__ = ["RedisBroker", "dlq_stream"]

NACKED = "servicelab-nacked"
"""The consumer a nacked entry is parked on until some reader claims it."""


def dlq_stream(stream: str) -> str:
    """The stream dead letters of ``stream`` go to."""
    return f"{stream}.dlq"


@contextlib.contextmanager
def _reaching(url: str) -> Iterator[None]:
    try:
        yield
    except ResponseError:
        raise
    except RedisError as error:
        raise BrokerError(f"Redis at {url} could not be reached: {error!r}") from error


def _entries(response: Any) -> list[tuple[str, dict[str, str]]]:
    """The entries of an XREADGROUP answer on one stream (RESP2: ``[[stream, [(id, fields), ...]]]``)."""
    return [entry for _, entries in response or [] for entry in entries]


class RedisBroker:
    """The Broker interface on the Redis server at ``url``."""

    def __init__(self, url: str, policy: DeliveryPolicy | None = None) -> None:
        self.url = url
        self.policy = policy or DeliveryPolicy()
        self.redis = aioredis.Redis.from_url(url, decode_responses=True)
        self._groups: set[tuple[str, str]] = set()

    @property
    def _idle_ms(self) -> int:
        return max(1, round(self.policy.ack_timeout * 1000))

    async def _ensure_group(self, stream: str, group: str) -> None:
        if (stream, group) in self._groups:
            return
        try:
            await self.redis.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._groups.add((stream, group))

    async def publish(self, stream: str, event: Mapping[str, Any]) -> str:
        check_name("stream", stream)
        with _reaching(self.url):
            return str(await self.redis.xadd(stream, {"event": json.dumps(dict(event))}))

    async def _dead_letter(self, stream: str, group: str, entry_id: str, event: str, deliveries: int) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                dlq_stream(stream), {"id": entry_id, "group": group, "event": event, "deliveries": deliveries}
            )
            pipe.xack(stream, group, entry_id)
            await pipe.execute()

    async def _reclaim(self, stream: str, group: str, consumer: str, count: int) -> list[Delivered]:
        """Deliveries idle past the ack timeout, claimed for ``consumer`` (dead-lettered past the limit)."""
        answer = await self.redis.xautoclaim(stream, group, consumer, self._idle_ms, "0-0", count=count)
        taken: list[Delivered] = []
        for entry_id, fields in answer[1]:
            if not fields:  # the entry was deleted from the stream (XDEL, trimming): nothing to deliver
                await self.redis.xack(stream, group, entry_id)
                continue
            pending = await self.redis.xpending_range(stream, group, entry_id, entry_id, 1)
            deliveries = int(pending[0]["times_delivered"]) if pending else 1
            if deliveries > self.policy.max_deliveries:
                await self._dead_letter(stream, group, entry_id, fields["event"], deliveries - 1)
            else:
                taken.append(Delivered(stream, group, entry_id, json.loads(fields["event"]), deliveries))
        return taken

    async def read(
        self, stream: str, group: str, consumer: str, count: int = 10, block: float = 0.0
    ) -> list[Delivered]:
        check_read(stream, group, consumer, count, block)
        deadline = time.monotonic() + block
        poll = min(self.policy.ack_timeout / 2, 1.0)  # how often a long poll looks for timed-out deliveries
        with _reaching(self.url):
            await self._ensure_group(stream, group)
            while True:
                taken = await self._reclaim(stream, group, consumer, count)
                if len(taken) < count:
                    wait_ms = round(min(deadline - time.monotonic(), poll) * 1000)
                    answer = await self.redis.xreadgroup(
                        group,
                        consumer,
                        {stream: ">"},
                        count=count - len(taken),
                        block=wait_ms if not taken and wait_ms > 0 else None,  # 0 would block forever
                    )
                    taken += [
                        Delivered(stream, group, entry_id, json.loads(fields["event"]), 1)
                        for entry_id, fields in _entries(answer)
                    ]
                if taken or time.monotonic() >= deadline:
                    return taken

    async def ack(self, stream: str, group: str, event_id: str) -> bool:
        check_name("stream", stream)
        check_name("group", group)
        with _reaching(self.url):
            try:
                return bool(await self.redis.xack(stream, group, event_id))
            except ResponseError:  # an id that is not a stream id, or no such group: nothing was held
                return False

    async def nack(self, stream: str, group: str, event_id: str) -> bool:
        check_name("stream", stream)
        check_name("group", group)
        with _reaching(self.url):
            try:
                parked = await self.redis.xclaim(
                    stream, group, NACKED, 0, [event_id], idle=self._idle_ms, justid=True
                )
            except ResponseError:
                return False
        return bool(parked)

    async def dlq(self, stream: str) -> list[DeadLetter]:
        check_name("stream", stream)
        with _reaching(self.url):
            entries = await self.redis.xrange(dlq_stream(stream))
        return [
            DeadLetter(stream, f["group"], f["id"], json.loads(f["event"]), int(f["deliveries"]))
            for _, f in entries
        ]

    async def close(self) -> None:
        await self.redis.aclose()
