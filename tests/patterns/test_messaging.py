"""Queues and partitioned topics: delivery guarantees as properties over random schedules."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patterns.messaging import (
    ACKED,
    DEAD_LETTERED,
    EXPIRED,
    ConsumerGroup,
    Delivery,
    Queue,
    Settled,
    Topic,
    partition_of,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def queue(**kwargs: object) -> tuple[Queue, Clock, list[Settled]]:
    clock, settled = Clock(), []
    return Queue("q", clock, on_settled=settled.append, **kwargs), clock, settled  # type: ignore[arg-type]


# --- unit behaviour --------------------------------------------------------------------------


def test_fifo_round_robin_and_prefetch() -> None:
    q, _, _ = queue()
    q.subscribe("a", prefetch=2)
    q.subscribe("b", prefetch=1)
    for i in range(5):
        q.publish(i)
    deliveries = q.dispatch()
    assert [(d.message.id, d.consumer) for d in deliveries] == [(0, "a"), (1, "b"), (2, "a")]
    assert (q.ready, q.unacked, q.backlog) == (2, 3, 5)
    assert q.dispatch() == []  # nobody has credit
    assert q.ack(deliveries[1])
    assert [(d.message.id, d.consumer) for d in q.dispatch()] == [(3, "b")]


def test_nack_redelivers_first_in_publish_order_then_dead_letters() -> None:
    q, _, settled = queue(max_deliveries=2)
    q.subscribe("a", prefetch=1)
    q.publish(0)
    q.publish(1)
    (first,) = q.dispatch()
    assert q.nack(first)
    (second,) = q.dispatch()
    assert (second.message.id, second.number, second.redelivered) == (0, 2, True)
    assert q.nack(second)
    assert [s.outcome for s in settled] == [DEAD_LETTERED]
    assert q.dead_letters[0].id == 0
    assert settled[0].deliveries == 2
    (third,) = q.dispatch()
    assert third.message.id == 1


def test_stale_ack_after_a_timeout_is_ignored() -> None:
    q, clock, settled = queue()
    q.subscribe("a", prefetch=1, ack_timeout=5)
    q.subscribe("b", prefetch=1, ack_timeout=5)
    q.publish(7)
    (late,) = q.dispatch()
    clock.now = 4.9
    assert not q.time_out(late)  # not yet
    clock.now = 5.0
    assert q.time_out(late)
    (again,) = q.dispatch()
    assert again.consumer == "b"
    assert again.number == 2
    assert not q.ack(late)  # the first consumer finally answers: too late
    assert q.ack(again)
    assert [s.outcome for s in settled] == [ACKED]


def test_unsubscribe_with_requeue_fails_held_deliveries_at_once() -> None:
    q, _, _ = queue()
    q.subscribe("a", prefetch=3)
    for i in range(3):
        q.publish(i)
    q.dispatch()
    held = q.unsubscribe("a", requeue=True)
    assert len(held) == 3
    assert q.ready == 3
    assert q.unacked == 0
    q.subscribe("b", prefetch=3)
    assert [d.message.id for d in q.dispatch()] == [0, 1, 2]


def test_ttl_expires_ready_messages_at_their_expiry_time() -> None:
    q, clock, settled = queue(ttl=10)
    q.publish(0)
    clock.now = 3
    q.publish(1, ttl=1)  # its own, shorter ttl
    clock.now = 20
    q.subscribe("a")
    assert q.dispatch() == []
    assert [(s.message.id, s.outcome, s.time) for s in settled] == [(0, EXPIRED, 10), (1, EXPIRED, 4)]


def test_expire_sweeps_behind_the_head() -> None:
    q, clock, settled = queue()
    q.publish(0, ttl=100)
    q.publish(1, ttl=1)
    clock.now = 2
    assert [m.id for m in q.expire()] == [1]
    assert q.backlog == 1
    assert settled[0].time == 1


def test_invalid_settings_name_the_values() -> None:
    with pytest.raises(ValueError, match="max_deliveries"):
        Queue("q", Clock(), max_deliveries=0)
    with pytest.raises(ValueError, match="prefetch"):
        Queue("q", Clock()).subscribe("a", prefetch=0)
    with pytest.raises(ValueError, match="partition"):
        Topic("t", 0, Clock())


def test_partition_of_is_stable_and_in_range() -> None:
    assert partition_of(13, 4) == 1
    assert partition_of("order-9", 8) == partition_of("order-9", 8)
    assert all(0 <= partition_of(f"k{i}", 5) < 5 for i in range(100))


def test_group_rebalances_and_serves_one_message_per_partition() -> None:
    clock = Clock()
    topic = Topic("t", 2, clock)
    group = topic.group("g")
    group.subscribe("a", prefetch=5)
    for i in range(4):
        topic.publish(i, key=i)  # keys 0, 2 -> partition 0; 1, 3 -> partition 1
    assert sorted(d.message.id for d in group.dispatch()) == [0, 1]
    assert group.dispatch() == []  # one in flight per partition
    group.subscribe("b", prefetch=5)
    assert group.owner == ["a", "b"]
    assert group.lag == [2, 2]


def test_independent_groups_each_read_the_whole_topic() -> None:
    topic = Topic("t", 3, Clock())
    one, two = topic.group("one"), topic.group("two")
    one.subscribe("x", prefetch=3)
    two.subscribe("y", prefetch=3)
    topic.publish(0, key="k")
    for group in (one, two):
        (delivery,) = group.dispatch()
        assert group.ack(delivery)
        assert group.backlog == 0


# --- properties over random schedules -------------------------------------------------------

OPS = st.lists(
    st.tuples(st.sampled_from(["publish", "ack", "nack", "timeout", "crash", "tick"]), st.integers(0, 1000)),
    max_size=300,
)


def drive(channel: Queue | ConsumerGroup, publish, ops, failures: bool, clock: Clock) -> dict:  # type: ignore[no-untyped-def]
    """Run ``ops`` against ``channel`` with three consumers; then settle everything without failures."""
    held: list[Delivery] = []
    log: dict[str, list] = {"deliveries": [], "published": []}
    consumers = ["c0", "c1", "c2"]
    for name in consumers:
        channel.subscribe(name, prefetch=2, ack_timeout=5)
    incarnation = Counter[str]()

    def pump() -> None:
        for delivery in channel.dispatch():
            subscriber = channel.subscribers[delivery.consumer]
            assert subscriber.held <= subscriber.prefetch
            log["deliveries"].append(delivery)
            held.append(delivery)

    next_id = 0
    for op, pick in ops:
        if op == "publish":
            log["published"].append(publish(next_id))
            next_id += 1
        elif held and op == "ack":
            channel.ack(held.pop(pick % len(held)))
        elif held and failures and op == "nack":
            channel.nack(held.pop(pick % len(held)))
        elif failures and op == "crash":
            victim = consumers[pick % 3]
            channel.unsubscribe(victim, requeue=False)
            incarnation[victim] += 1
            consumers[pick % 3] = f"{victim}'"
            channel.subscribe(consumers[pick % 3], prefetch=2, ack_timeout=5)
        elif failures and op == "timeout":
            clock.now += 5
            for delivery in list(held):
                if channel.time_out(delivery):
                    held.remove(delivery)
        pump()
    for _ in range(10_000):  # drain: everybody acks, stale deliveries time out
        pump()
        if not held:
            break
        delivery = held.pop(0)
        if delivery.consumer in channel.subscribers:
            channel.ack(delivery)
        else:
            clock.now = max(clock.now, delivery.deadline)
            channel.time_out(delivery)
    pump()
    return log


@settings(max_examples=150, deadline=None)
@given(ops=OPS)
def test_without_failures_every_message_is_delivered_once_and_acked_in_fifo_order(ops) -> None:  # type: ignore[no-untyped-def]
    q, clock, settled = queue()
    log = drive(q, q.publish, ops, failures=False, clock=clock)
    ids = [m.id for m in log["published"]]
    assert [d.message.id for d in log["deliveries"]] == ids  # FIFO, no duplicates
    assert sorted(s.message.id for s in settled) == ids
    assert {s.outcome for s in settled} <= {ACKED}
    assert q.backlog == 0


@settings(max_examples=150, deadline=None)
@given(ops=OPS, max_deliveries=st.integers(1, 4))
def test_with_failures_every_message_is_delivered_at_least_once_and_dead_lettered_exactly_at_the_limit(  # type: ignore[no-untyped-def]
    ops, max_deliveries
) -> None:
    q, clock, settled = queue(max_deliveries=max_deliveries)
    log = drive(q, q.publish, ops, failures=True, clock=clock)
    delivered = Counter(d.message.id for d in log["deliveries"])
    assert set(delivered) == {m.id for m in log["published"]}
    outcome = {s.message.id: s for s in settled}
    assert set(outcome) == set(delivered)  # everything ended, once
    assert len(settled) == len(outcome)
    for message_id, count in delivered.items():
        assert count <= max_deliveries
        assert (outcome[message_id].outcome == DEAD_LETTERED) == (
            outcome[message_id].deliveries == max_deliveries and outcome[message_id].outcome != ACKED
        )
    dead = {s.message.id for s in settled if s.outcome == DEAD_LETTERED}
    assert dead == {m.id for m in q.dead_letters}
    assert all(delivered[i] == max_deliveries for i in dead)


@settings(max_examples=150, deadline=None)
@given(ops=OPS, partitions=st.integers(1, 5), keys=st.integers(1, 7), failures=st.booleans())
def test_a_group_processes_each_partition_in_publish_order_one_at_a_time(  # type: ignore[no-untyped-def]
    ops, partitions, keys, failures
) -> None:
    clock = Clock()
    topic = Topic("t", partitions, clock)
    settled: list[Settled] = []
    group = topic.group("g", max_deliveries=3, on_settled=settled.append)
    log = drive(group, lambda i: topic.publish(i, key=i % keys), ops, failures, clock)
    for partition in range(partitions):
        published = [m.id for m in log["published"] if m.partition == partition]
        first_starts = list(
            dict.fromkeys(d.message.id for d in log["deliveries"] if d.message.partition == partition)
        )
        assert first_starts == published
        done = [s.message.id for s in settled if s.message.partition == partition]
        assert done == published  # settled (committed) in order, each once
    assert group.backlog == 0
    if not failures:
        assert len(log["deliveries"]) == len(log["published"])


@settings(max_examples=100, deadline=None)
@given(gaps=st.lists(st.floats(0, 3), max_size=100), ttl=st.floats(0.5, 5))
def test_no_message_is_delivered_after_its_ttl(gaps, ttl) -> None:  # type: ignore[no-untyped-def]
    q, clock, settled = queue(ttl=ttl)
    q.subscribe("slow", prefetch=1)
    delivered: list[Delivery] = []
    for i, gap in enumerate(gaps):
        clock.now += gap
        q.publish(i)
        for delivery in q.dispatch():
            delivered.append(delivery)
            assert clock.now < delivery.message.expires
        if i % 3 == 0 and delivered and q.unacked:  # the consumer finishes one message now and then
            q.ack(delivered[-1])
    for s in settled:
        if s.outcome == EXPIRED:
            assert s.time == pytest.approx(s.message.published + ttl)
            assert s.deliveries == 0
