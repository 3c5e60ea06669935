"""The store's versions over a real SQLite file: one global counter, one per key, tombstones."""

from __future__ import annotations

from pathlib import Path

import pytest

from live.config.store import ConfigStore, VersionConflictError

ENVIRONMENT = {"gateway.rate_limit.rate": 500, "gateway.maintenance": False}


@pytest.fixture
def store(tmp_path: Path) -> ConfigStore:
    return ConfigStore(tmp_path / "config.sqlite3", ENVIRONMENT)


def test_environment_values_have_version_zero_and_a_write_lays_on_top(store: ConfigStore) -> None:
    before = store.get("gateway.rate_limit.rate")
    assert before is not None
    assert (before.value, before.version, before.source) == (500, 0, "environment")
    written = store.put("gateway.rate_limit.rate", 2)
    assert (written.value, written.version, written.revision, written.source) == (2, 1, 1, "runtime")
    assert store.get("gateway.rate_limit.rate") == written
    assert store.get("gateway.nothing") is None


def test_every_write_bumps_the_global_version_and_its_keys_own(store: ConfigStore) -> None:
    store.put("a.x", 1)
    store.put("b.y", {"nested": [1, 2]})
    third = store.put("a.x", None)  # null is a value like any other
    assert store.version() == 3
    assert (third.version, third.revision, third.value) == (2, 3, None)
    entry = store.get("b.y")
    assert entry is not None
    assert (entry.version, entry.revision, entry.value) == (1, 2, {"nested": [1, 2]})


def test_an_expected_version_that_moved_on_is_a_conflict_and_writes_nothing(store: ConfigStore) -> None:
    store.put("a.x", 1, expected=0)  # 0: not written yet
    with pytest.raises(VersionConflictError) as conflict:
        store.put("a.x", 2, expected=0)
    assert (conflict.value.expected, conflict.value.current) == (0, 1)
    assert store.version() == 1
    assert store.put("a.x", 3, expected=1).value == 3


def test_changes_after_a_version_are_those_under_the_prefix_oldest_first(store: ConfigStore) -> None:
    store.put("gateway.a", 1)
    store.put("orders.b", 2)
    store.put("gateway.c", 3)
    store.put("gateway.a", 4)
    version, changes = store.changes("gateway.", after=1)
    assert version == 4
    assert [(c.key, c.value, c.revision) for c in changes] == [("gateway.c", 3, 3), ("gateway.a", 4, 4)]
    assert store.changes("gateway.", after=4) == (4, [])
    assert [c.key for c in store.changes("gateway_", after=0)[1]] == []  # a prefix, not a LIKE pattern


def test_a_delete_falls_back_to_the_environment_and_is_seen_as_a_change(store: ConfigStore) -> None:
    store.put("gateway.rate_limit.rate", 2)
    after = store.version()
    back = store.delete("gateway.rate_limit.rate")
    assert back is not None
    assert (back.value, back.source, back.version) == (500, "environment", 2)
    gone = store.put("extra.key", 1) and store.delete("extra.key")
    assert gone is not None
    assert gone.deleted
    assert store.get("extra.key") is None
    assert store.delete("extra.key") is None  # nothing left to delete: no write
    _, changes = store.changes("", after)
    assert [(c.key, c.source) for c in changes] == [
        ("gateway.rate_limit.rate", "environment"),
        ("extra.key", "deleted"),
    ]
    assert [e.key for e in store.list()[1]] == ["gateway.maintenance", "gateway.rate_limit.rate"]


def test_replicas_share_the_file_and_a_restart_keeps_every_write(tmp_path: Path) -> None:
    path = tmp_path / "config.sqlite3"
    one, two = ConfigStore(path, ENVIRONMENT), ConfigStore(path, ENVIRONMENT)
    one.put("a.x", 1)
    two.put("a.x", 2, expected=1)
    one.close()
    two.close()
    again = ConfigStore(path, ENVIRONMENT)
    entry = again.get("a.x")
    assert entry is not None
    assert (entry.value, entry.version) == (2, 2)
    assert again.version() == 2
