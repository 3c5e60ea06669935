"""An event store: streams of events with versions, snapshots, and the cost of rehydrating an aggregate.

Each stream (one aggregate: an order, an account) is an append-only list of events; its
**version** is the number of events in it. ``append`` may check an expected version (optimistic
concurrency: two writers that both read version 7 cannot both append event 8). Every event also
gets a global **position** in the store's log, so a reader can follow all streams in order.

**Snapshots**: with ``snapshot_every = N`` the store keeps a snapshot of a stream's state each time
its version reaches a multiple of ``N``. Rehydrating an aggregate (loading it to handle a command)
reads the latest snapshot, if any, then replays the events after it::

    cost = load_time + replayed * per_event       replayed = version - snapshot version

(``load_time`` is the fixed part of any load: the query, and reading the snapshot when there is one)

so without snapshots the cost grows linearly with the stream's length, and with them ``replayed``
is ``version mod N < N``: the cost stays below ``load_time + N * per_event`` however long the
stream grows.

**Subscribers** (the hook for CQRS projections): ``subscribe(handler)`` calls ``handler(event)``
with every :class:`StoredEvent` appended from then on, in position order; ``read_all(after)``
returns the events after a position, so a projector can catch up from its checkpoint first.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from patterns.clock import Clock

__all__ = ["ANY_VERSION", "EventStore", "Rehydration", "StoredEvent", "VersionConflictError"]

ANY_VERSION = -1
"""``expected_version`` that accepts whatever version the stream is at."""


class VersionConflictError(Exception):
    """An append expected the stream at one version and found it at another."""

    def __init__(self, stream: Hashable, expected: int, actual: int) -> None:
        super().__init__(f"stream {stream!r} is at version {actual}, the append expected {expected}")
        self.stream, self.expected, self.actual = stream, expected, actual


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One appended event: its ``stream``, its ``version`` in it (1-based), its global ``position``
    (1-based), when it was appended, and what it says."""

    stream: Hashable
    version: int
    position: int
    time: float
    data: Any = None


@dataclass(frozen=True, slots=True)
class Rehydration:
    """Loading a stream: its ``version``, the ``snapshot`` version started from (0: none), the events
    ``replayed`` after it, and the ``cost`` in seconds."""

    version: int
    snapshot: int
    replayed: int
    cost: float


@dataclass(slots=True)
class _Stream:
    version: int = 0
    snapshot: int = 0
    events: list[StoredEvent] = field(default_factory=list)


class EventStore:
    """Streams of events with snapshots every ``snapshot_every`` events (0: never).

    ``load_time`` and ``per_event`` (seconds) price a rehydration (module docstring). With
    ``keep_events=False`` the store keeps only versions and positions, not the events themselves:
    what a long simulation needs (``read_all`` and ``events`` then raise).
    """

    __slots__ = (
        "_clock",
        "_log",
        "_streams",
        "_subscribers",
        "keep_events",
        "load_time",
        "per_event",
        "position",
        "snapshot_every",
    )

    def __init__(
        self,
        clock: Clock,
        snapshot_every: int = 0,
        load_time: float = 0.0,
        per_event: float = 0.0,
        keep_events: bool = True,
    ) -> None:
        if not (isinstance(snapshot_every, int) and snapshot_every >= 0):
            raise ValueError(f"snapshot_every must be an integer >= 0 (0: never), got {snapshot_every!r}")
        if not (load_time >= 0 and per_event >= 0):
            raise ValueError(
                "rehydration costs must be >= 0 seconds, "
                f"got load_time={load_time!r}, per_event={per_event!r}"
            )
        self._clock = clock
        self.snapshot_every, self.load_time, self.per_event = snapshot_every, load_time, per_event
        self.keep_events = keep_events
        self._streams: dict[Hashable, _Stream] = {}
        self._log: list[StoredEvent] = []
        self._subscribers: list[Callable[[StoredEvent], None]] = []
        self.position = 0

    def version(self, stream: Hashable) -> int:
        """Events in ``stream`` (0 for a stream never written)."""
        entry = self._streams.get(stream)
        return 0 if entry is None else entry.version

    def snapshot_version(self, stream: Hashable) -> int:
        """Version of ``stream``'s latest snapshot (0: none)."""
        entry = self._streams.get(stream)
        return 0 if entry is None else entry.snapshot

    def append(self, stream: Hashable, data: Any = None, expected_version: int = ANY_VERSION) -> StoredEvent:
        """Append one event to ``stream`` (checking ``expected_version`` unless it is ANY_VERSION).

        Takes a snapshot when the new version is a multiple of ``snapshot_every``, then tells every
        subscriber.
        """
        entry = self._streams.setdefault(stream, _Stream())
        if expected_version != ANY_VERSION and expected_version != entry.version:
            raise VersionConflictError(stream, expected_version, entry.version)
        entry.version += 1
        self.position += 1
        event = StoredEvent(stream, entry.version, self.position, self._clock(), data)
        if self.snapshot_every and entry.version % self.snapshot_every == 0:
            entry.snapshot = entry.version
        if self.keep_events:
            entry.events.append(event)
            self._log.append(event)
        for handler in self._subscribers:
            handler(event)
        return event

    def load(self, stream: Hashable) -> Rehydration:
        """Rehydrate ``stream`` as of now: from its latest snapshot, replaying the events after it."""
        entry = self._streams.get(stream)
        version, snapshot = (0, 0) if entry is None else (entry.version, entry.snapshot)
        replayed = version - snapshot
        return Rehydration(version, snapshot, replayed, self.load_time + replayed * self.per_event)

    def events(self, stream: Hashable, after_version: int = 0) -> list[StoredEvent]:
        """``stream``'s events after ``after_version``, in order."""
        self._check_kept()
        entry = self._streams.get(stream)
        return [] if entry is None else entry.events[after_version:]

    def read_all(self, after_position: int = 0) -> list[StoredEvent]:
        """Every stream's events after ``after_position``, in position order: a projector's catch-up."""
        self._check_kept()
        return self._log[after_position:]

    def subscribe(self, handler: Callable[[StoredEvent], None]) -> Callable[[], None]:
        """Call ``handler`` with each event appended from now on; returns a function that unsubscribes."""
        self._subscribers.append(handler)
        return lambda: self._subscribers.remove(handler)

    def _check_kept(self) -> None:
        if not self.keep_events:
            raise RuntimeError("this event store keeps versions only (keep_events=False)")

    def __len__(self) -> int:
        return self.position
