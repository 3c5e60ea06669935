"""Asynchronous messaging: a broker's queues (competing consumers) and partitioned topics (groups).

Both are *channels* a consumer subscribes to with a ``prefetch`` (how many deliveries it may hold
unacknowledged) and an ``ack_timeout``. The broker pushes: :meth:`dispatch` hands ready messages
to subscribers with spare credit and returns the :class:`Delivery` objects to carry out. A consumer
settles each delivery with :meth:`ack` (done) or :meth:`nack` (failed: redeliver now); a delivery
neither acked nor nacked by its ``deadline`` (the consumer crashed or hangs) is failed by
:meth:`time_out`. Settling a stale delivery (one already timed out and given to someone else) does
nothing: the message is *at least once*, not exactly once.

Every failed delivery counts: a message whose ``max_deliveries``-th delivery fails is dead-lettered
(kept in ``dead_letters``) instead of being delivered again, so it is delivered at most
``max_deliveries`` times and dead-lettered exactly when its delivery count reaches that number.

:class:`Queue` -- FIFO in publish order: a redelivered message goes back to its original place
(before every message published after it), so competing consumers see the oldest message first.
Messages may carry a time to live: one still *ready* (not held by a consumer) when its ``expires``
time comes is removed as expired; a message held by a consumer does not expire, but if it comes back
after its expiry it expires then. Expiry is lazy -- found when the message reaches the head of the
queue or by :meth:`Queue.expire` -- but recorded at the instant the TTL ran out.

:class:`Topic` -- an append-only log split into ``partitions``; a message's key picks its partition
(a stable CRC-32 hash, so the same key always lands in the same partition). Every
:class:`ConsumerGroup` reads the whole topic; inside a group each partition belongs to one member
(round-robin assignment, rebalanced when members join or leave), and a partition has at most one
delivery in flight: its next message is delivered only after the previous one was acked or
dead-lettered. So within a group a partition's messages are processed one at a time in publish
order (a failing message blocks its partition until it succeeds or is dead-lettered). A group's
committed offset per partition is the number of messages settled; its lag is the log's end minus
that offset.

The clock is injected (``env.now`` in the simulator); nothing here does I/O.
"""

from __future__ import annotations

import heapq
import zlib
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from math import inf, nan
from typing import NamedTuple

from patterns.clock import Clock

__all__ = [
    "ACKED",
    "DEAD_LETTERED",
    "EXPIRED",
    "Channel",
    "ConsumerGroup",
    "Delivery",
    "Message",
    "Queue",
    "Settled",
    "Topic",
    "partition_of",
]

ACKED, DEAD_LETTERED, EXPIRED = "acked", "dead_lettered", "expired"


@dataclass(slots=True, eq=False)
class Message:
    """One published message. ``seq`` orders messages by publication within their channel."""

    id: int
    published: float
    seq: int
    key: Hashable | None = None
    payload: object = None
    expires: float = inf
    partition: int = -1
    deliveries: int = 0
    first_delivered: float = nan

    def __lt__(self, other: Message) -> bool:  # heap order: publication order
        return self.seq < other.seq


@dataclass(slots=True, eq=False)
class Delivery:
    """A message handed to ``consumer``: the ``number``-th delivery of it, to be settled by ``deadline``."""

    message: Message
    consumer: Hashable
    number: int
    deadline: float
    first_delivered: float

    @property
    def redelivered(self) -> bool:
        return self.number > 1


class Settled(NamedTuple):
    """A message's end in a channel: ``outcome`` (acked, dead_lettered, expired) at ``time``."""

    message: Message
    outcome: str
    time: float
    deliveries: int
    first_delivered: float


Listener = Callable[[Settled], None]


@dataclass(slots=True)
class _Subscriber:
    prefetch: int
    ack_timeout: float
    held: int = 0


def _check_subscription(prefetch: int, ack_timeout: float) -> None:
    if prefetch < 1 or not ack_timeout > 0:
        raise ValueError(f"a consumer needs prefetch >= 1 and ack_timeout > 0, got {prefetch}, {ack_timeout}")


class Channel:
    """What queues and consumer groups share: subscribers with credit, settling, dead letters."""

    def __init__(self, name: str, clock: Clock, max_deliveries: int, on_settled: Listener | None) -> None:
        if max_deliveries < 1:
            raise ValueError(f"{name}: max_deliveries must be at least 1, got {max_deliveries}")
        self.name, self.clock, self.max_deliveries = name, clock, max_deliveries
        self.on_settled = on_settled
        self.subscribers: dict[Hashable, _Subscriber] = {}
        self.outstanding: dict[int, Delivery] = {}  # by message seq: the live delivery of each message
        self.dead_letters: list[Message] = []

    # --- subscribers ----------------------------------------------------------------------------

    def subscribe(self, consumer: Hashable, prefetch: int = 1, ack_timeout: float = 30.0) -> None:
        """``consumer`` takes deliveries from now on, holding at most ``prefetch`` unsettled ones."""
        _check_subscription(prefetch, ack_timeout)
        if consumer in self.subscribers:
            raise ValueError(f"{self.name}: {consumer!r} is already subscribed")
        self.subscribers[consumer] = _Subscriber(prefetch, ack_timeout)
        self.joined(consumer)

    def unsubscribe(self, consumer: Hashable, requeue: bool = False) -> list[Delivery]:
        """``consumer`` is gone (crashed, or closed its connection).

        With ``requeue`` its outstanding deliveries fail now (a broker that sees the connection
        drop); without, they stay outstanding until their ack timeouts (one that does not).
        Returns those deliveries.
        """
        self.subscribers.pop(consumer)
        self.left(consumer)
        held = [d for d in self.outstanding.values() if d.consumer == consumer]
        if requeue:
            for delivery in held:
                self.fail(delivery)
        return held

    def joined(self, consumer: Hashable) -> None:
        """Hook: a subscriber arrived."""

    def left(self, consumer: Hashable) -> None:
        """Hook: a subscriber left."""

    def has_credit(self, consumer: Hashable) -> bool:
        subscriber = self.subscribers.get(consumer)
        return subscriber is not None and subscriber.held < subscriber.prefetch

    # --- deliveries -----------------------------------------------------------------------------

    def deliver(self, message: Message, consumer: Hashable, now: float) -> Delivery:
        subscriber = self.subscribers[consumer]
        subscriber.held += 1
        message.deliveries += 1
        if message.deliveries == 1:
            message.first_delivered = now
        delivery = Delivery(
            message, consumer, message.deliveries, now + subscriber.ack_timeout, message.first_delivered
        )
        self.outstanding[message.seq] = delivery
        return delivery

    def settle_delivery(self, delivery: Delivery) -> bool:
        """Forget ``delivery``; whether it was still the live delivery of its message."""
        if self.outstanding.get(delivery.message.seq) is not delivery:
            return False
        del self.outstanding[delivery.message.seq]
        subscriber = self.subscribers.get(delivery.consumer)
        if subscriber is not None:
            subscriber.held -= 1
        return True

    def ack(self, delivery: Delivery) -> bool:
        """The consumer handled the message: it is done. False (and nothing happens) if stale."""
        if not self.settle_delivery(delivery):
            return False
        self.finish(delivery.message, ACKED, self.clock())
        return True

    def nack(self, delivery: Delivery) -> bool:
        """The consumer failed the message: deliver it again now (or dead-letter it). False if stale."""
        if not self.settle_delivery(delivery):
            return False
        self.retry(delivery.message)
        return True

    def time_out(self, delivery: Delivery) -> bool:
        """``delivery``'s ack timeout ran out: if it is still unsettled, it failed. Whether it was."""
        if self.clock() < delivery.deadline or not self.settle_delivery(delivery):
            return False
        self.retry(delivery.message)
        return True

    def fail(self, delivery: Delivery) -> None:
        if self.settle_delivery(delivery):
            self.retry(delivery.message)

    def retry(self, message: Message) -> None:
        """A delivery of ``message`` failed: dead-letter it at ``max_deliveries``, else make it ready."""
        if message.deliveries >= self.max_deliveries:
            self.dead_letters.append(message)
            self.finish(message, DEAD_LETTERED, self.clock())
        else:
            self.requeue(message)

    def finish(self, message: Message, outcome: str, time: float) -> None:
        self.settled(message)
        if self.on_settled is not None:
            self.on_settled(Settled(message, outcome, time, message.deliveries, message.first_delivered))

    # --- what each kind of channel defines ------------------------------------------------------

    def requeue(self, message: Message) -> None:
        raise NotImplementedError

    def settled(self, message: Message) -> None:
        """Hook: ``message`` left the channel for good."""

    def dispatch(self) -> list[Delivery]:
        raise NotImplementedError

    @property
    def backlog(self) -> int:
        """Messages published and not yet settled: ready plus unacknowledged (a group's lag)."""
        raise NotImplementedError


class Queue(Channel):
    """A FIFO queue with competing consumers (module docstring): round-robin pushes, TTL, DLQ."""

    def __init__(
        self,
        name: str,
        clock: Clock,
        ttl: float | None = None,
        max_deliveries: int = 20,
        on_settled: Listener | None = None,
    ) -> None:
        super().__init__(name, clock, max_deliveries, on_settled)
        if ttl is not None and not ttl > 0:
            raise ValueError(f"{name}: ttl must be positive, got {ttl}")
        self.ttl = ttl
        self._fresh: deque[Message] = deque()  # never delivered, in publish order
        self._returned: list[Message] = []  # heap of redelivered messages, by publish order
        self._hungry: deque[Hashable] = deque()  # subscribers with credit, round robin
        self._seq = 0

    @property
    def ready(self) -> int:
        return len(self._fresh) + len(self._returned)

    @property
    def unacked(self) -> int:
        return len(self.outstanding)

    @property
    def backlog(self) -> int:
        return self.ready + self.unacked

    def publish(
        self, message_id: int, key: Hashable | None = None, payload: object = None, ttl: float | None = None
    ) -> Message:
        """Append a message; ``ttl`` (else the queue's) is its time to live while ready."""
        now = self.clock()
        life = self.ttl if ttl is None else ttl
        message = Message(message_id, now, self._seq, key, payload, inf if life is None else now + life)
        self._seq += 1
        self._fresh.append(message)
        return message

    def requeue(self, message: Message) -> None:
        heapq.heappush(self._returned, message)

    def _head(self) -> Message | None:
        """The oldest ready message that has not expired (expiring the ones in front of it)."""
        now = self.clock()
        while True:
            fresh = self._fresh[0] if self._fresh else None
            returned = self._returned[0] if self._returned else None
            head = fresh if returned is None or (fresh is not None and fresh.seq < returned.seq) else returned
            if head is None or head.expires > now:
                return head
            self._take(head)
            self.finish(head, EXPIRED, head.expires)

    def _take(self, message: Message) -> None:
        if self._fresh and self._fresh[0] is message:
            self._fresh.popleft()
        else:
            heapq.heappop(self._returned)

    def expire(self) -> list[Message]:
        """Remove every ready message whose time to live has run out; return them (oldest first)."""
        now = self.clock()
        gone = sorted(m for m in (*self._fresh, *self._returned) if m.expires <= now)
        if gone:
            self._fresh = deque(m for m in self._fresh if m.expires > now)
            self._returned = [m for m in self._returned if m.expires > now]
            heapq.heapify(self._returned)
            for message in gone:
                self.finish(message, EXPIRED, message.expires)
        return gone

    def pending(self) -> list[Message]:
        """Messages still in the queue (ready or held by a consumer), in publish order."""
        held = [d.message for d in self.outstanding.values()]
        return sorted([*self._fresh, *self._returned, *held])

    def joined(self, consumer: Hashable) -> None:
        self._hungry.append(consumer)

    def dispatch(self) -> list[Delivery]:
        """Push ready messages, oldest first, to subscribers with credit in round-robin order."""
        deliveries: list[Delivery] = []
        hungry, now = self._hungry, self.clock()
        while hungry:
            consumer = hungry[0]
            if not self.has_credit(consumer):
                hungry.popleft()  # full or gone: it rejoins when it settles something
                continue
            message = self._head()
            if message is None:
                break
            self._take(message)
            hungry.popleft()
            deliveries.append(self.deliver(message, consumer, now))
            if self.has_credit(consumer):
                hungry.append(consumer)
        return deliveries

    def settle_delivery(self, delivery: Delivery) -> bool:
        if not super().settle_delivery(delivery):
            return False
        consumer = delivery.consumer
        subscriber = self.subscribers.get(consumer)
        if subscriber is not None and subscriber.held == subscriber.prefetch - 1:
            self._hungry.append(consumer)  # it had no credit, so it was not in line
        return True


def partition_of(key: Hashable, partitions: int) -> int:
    """The partition of ``key``: integers modulo the count, anything else by CRC-32 of its text."""
    if isinstance(key, int):
        return key % partitions
    return zlib.crc32(str(key).encode()) % partitions


@dataclass(slots=True)
class _Partition:
    log: list[Message] = field(default_factory=list)


class Topic:
    """A partitioned log; every consumer group (:meth:`group`) reads all of it (module docstring)."""

    def __init__(self, name: str, partitions: int, clock: Clock) -> None:
        if partitions < 1:
            raise ValueError(f"{name}: a topic needs at least one partition, got {partitions}")
        self.name, self.clock = name, clock
        self.partitions = [_Partition() for _ in range(partitions)]
        self.groups: dict[str, ConsumerGroup] = {}
        self._seq = 0

    def group(self, name: str, max_deliveries: int = 20, on_settled: Listener | None = None) -> ConsumerGroup:
        """The consumer group ``name``, created (reading from the start of the log) on first use."""
        if name not in self.groups:
            self.groups[name] = ConsumerGroup(f"{self.name}:{name}", self, max_deliveries, on_settled)
        return self.groups[name]

    def publish(self, message_id: int, key: Hashable, payload: object = None) -> Message:
        """Append a message to the partition of ``key``."""
        partition = partition_of(key, len(self.partitions))
        message = Message(message_id, self.clock(), self._seq, key, payload, inf, partition)
        self._seq += 1
        self.partitions[partition].log.append(message)
        for group in self.groups.values():
            group.appended(partition)
        return message

    def end_offsets(self) -> list[int]:
        return [len(p.log) for p in self.partitions]


class ConsumerGroup(Channel):
    """One consumer group of a topic: a partition per member at a time, one message in flight each.

    A group keeps its own delivery counts: the topic's :class:`Message` objects are shared by every
    group, so the group counts deliveries of each partition's head message itself.
    """

    def __init__(self, name: str, topic: Topic, max_deliveries: int, on_settled: Listener | None) -> None:
        super().__init__(name, topic.clock, max_deliveries, on_settled)
        self.topic = topic
        count = len(topic.partitions)
        self.committed = [0] * count
        self.owner: list[Hashable | None] = [None] * count
        self.busy = [False] * count
        self.attempts = [0] * count
        self.first = [nan] * count
        self.members: list[Hashable] = []
        self._waiting: set[int] = set()  # partitions with a message to deliver and none in flight
        self._cursor = 0

    @property
    def lag(self) -> list[int]:
        """Per partition: messages not yet settled by this group (end offset minus committed offset)."""
        return [end - done for end, done in zip(self.topic.end_offsets(), self.committed, strict=True)]

    @property
    def backlog(self) -> int:
        return sum(self.lag)

    def appended(self, partition: int) -> None:
        if not self.busy[partition]:
            self._waiting.add(partition)

    def joined(self, consumer: Hashable) -> None:
        self.members.append(consumer)
        self._rebalance()

    def left(self, consumer: Hashable) -> None:
        self.members.remove(consumer)
        self._rebalance()

    def _rebalance(self) -> None:
        members = self.members
        for partition in range(len(self.owner)):
            self.owner[partition] = members[partition % len(members)] if members else None

    def deliver(self, message: Message, consumer: Hashable, now: float) -> Delivery:
        partition = message.partition
        self.attempts[partition] += 1
        if self.attempts[partition] == 1:
            self.first[partition] = now
        subscriber = self.subscribers[consumer]
        subscriber.held += 1
        delivery = Delivery(
            message, consumer, self.attempts[partition], now + subscriber.ack_timeout, self.first[partition]
        )
        self.outstanding[message.seq] = delivery
        self.busy[partition] = True
        self._waiting.discard(partition)
        return delivery

    def settle_delivery(self, delivery: Delivery) -> bool:
        if not super().settle_delivery(delivery):
            return False
        partition = delivery.message.partition
        self.busy[partition] = False
        self._waiting.add(partition)
        return True

    def retry(self, message: Message) -> None:
        partition = message.partition
        if self.attempts[partition] >= self.max_deliveries:
            self.dead_letters.append(message)
            self.finish(message, DEAD_LETTERED, self.clock())
        # otherwise it stays at the partition's head and is delivered again

    def finish(self, message: Message, outcome: str, time: float) -> None:
        partition = message.partition
        if self.on_settled is not None:
            self.on_settled(Settled(message, outcome, time, self.attempts[partition], self.first[partition]))
        self.committed[partition] += 1
        self.attempts[partition] = 0
        self.first[partition] = nan
        if self.committed[partition] == len(self.topic.partitions[partition].log):
            self._waiting.discard(partition)

    def requeue(self, message: Message) -> None:  # a group redelivers from its committed offset
        pass

    def pending(self) -> list[Message]:
        """Messages this group has not settled yet, in publish order."""
        return sorted(
            m for p, part in enumerate(self.topic.partitions) for m in part.log[self.committed[p] :]
        )

    def dispatch(self) -> list[Delivery]:
        """Deliver each idle partition's next message to its owner, if the owner has credit."""
        deliveries: list[Delivery] = []
        now, count = self.clock(), len(self.owner)
        # Scan from where the last scan delivered, so a member short of credit serves its partitions in turn.
        for partition in sorted(self._waiting, key=lambda p: (p - self._cursor) % count):
            log = self.topic.partitions[partition].log
            offset = self.committed[partition]
            owner = self.owner[partition]
            if offset >= len(log):
                self._waiting.discard(partition)
            elif owner is not None and self.has_credit(owner):
                deliveries.append(self.deliver(log[offset], owner, now))
                self._cursor = partition + 1
        return deliveries
