"""Tests for patterns.eventsourcing: versions and positions, optimistic concurrency, snapshots that
bound the replay, and subscribers that see every appended event in order (the projection hook)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patterns.clock import ManualClock
from patterns.eventsourcing import EventStore, StoredEvent, VersionConflictError


def test_events_get_a_version_per_stream_and_a_position_in_the_store() -> None:
    clock = ManualClock()
    store = EventStore(clock)
    a1 = store.append("a", "created")
    clock.advance(1.0)
    b1 = store.append("b", "created")
    a2 = store.append("a", "paid", expected_version=1)
    placed = [(e.stream, e.version, e.position) for e in (a1, b1, a2)]
    assert placed == [("a", 1, 1), ("b", 1, 2), ("a", 2, 3)]
    assert b1.time == 1.0
    assert store.version("a") == 2
    assert store.version("nobody") == 0
    assert [e.data for e in store.events("a")] == ["created", "paid"]
    assert store.events("a", after_version=1) == [a2]
    assert store.read_all(after_position=1) == [b1, a2]
    assert len(store) == 3


def test_an_append_expecting_an_older_version_is_refused() -> None:
    store = EventStore(ManualClock())
    store.append("a")
    with pytest.raises(VersionConflictError, match="at version 1, the append expected 0") as conflict:
        store.append("a", expected_version=0)
    assert (conflict.value.expected, conflict.value.actual) == (0, 1)
    assert store.version("a") == 1


def test_without_snapshots_rehydration_replays_the_whole_stream() -> None:
    store = EventStore(ManualClock(), load_time=0.001, per_event=0.0001)
    for _ in range(250):
        store.append("a")
    load = store.load("a")
    assert (load.version, load.snapshot, load.replayed) == (250, 0, 250)
    assert load.cost == pytest.approx(0.001 + 250 * 0.0001)


def test_snapshots_start_the_replay_at_the_last_multiple_of_snapshot_every() -> None:
    store = EventStore(ManualClock(), snapshot_every=100, load_time=0.001, per_event=0.0001)
    for _ in range(250):
        store.append("a")
    load = store.load("a")
    assert (load.version, load.snapshot, load.replayed) == (250, 200, 50)
    assert load.cost == pytest.approx(0.001 + 50 * 0.0001)


@settings(max_examples=100)
@given(
    every=st.integers(1, 20),
    streams=st.lists(st.integers(0, 3), max_size=300),
    base=st.floats(0, 1),
    per_event=st.floats(0, 1),
)
def test_with_snapshots_a_load_costs_less_than_base_plus_n_events(every, streams, base, per_event) -> None:
    store = EventStore(ManualClock(), snapshot_every=every, load_time=base, per_event=per_event)
    for stream in streams:
        store.append(stream)
        load = store.load(stream)
        assert load.replayed == load.version % every
        assert load.cost <= base + (every - 1) * per_event + 1e-9


def test_subscribers_see_every_event_in_position_order_and_can_catch_up_first() -> None:
    store = EventStore(ManualClock())
    store.append("a", 1)
    seen: list[StoredEvent] = []
    checkpoint = 0
    for event in store.read_all(checkpoint):  # a projector starting late catches up
        seen.append(event)
    unsubscribe = store.subscribe(seen.append)
    store.append("b", 2)
    store.append("a", 3)
    unsubscribe()
    store.append("a", 4)
    assert [e.position for e in seen] == [1, 2, 3]
    assert [e.data for e in seen] == [1, 2, 3]


def test_a_store_that_keeps_versions_only_still_counts_but_cannot_replay_events() -> None:
    store = EventStore(ManualClock(), snapshot_every=10, keep_events=False)
    for _ in range(25):
        store.append("a")
    assert store.load("a").replayed == 5
    with pytest.raises(RuntimeError, match="keep_events"):
        store.read_all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"snapshot_every": -1}, "snapshot_every"), ({"per_event": -1.0}, "rehydration costs")],
)
def test_an_event_store_refuses_nonsense(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EventStore(ManualClock(), **kwargs)
