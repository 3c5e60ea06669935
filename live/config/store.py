"""The config service's versioned key/value store: environment values below, run-time writes on top.

Two layers answer a key:

* the **environment layer**: the values of the stack's environment file (:mod:`live.config.environments`),
  read once at start, never written; they have version 0 and revision 0;
* the **run-time layer**: every ``PUT`` (and ``DELETE``), kept in the service's SQLite file, shared by
  its replicas and kept across restarts of the service.

Versions: the store keeps one global counter, the **version**; every write (a put or a delete) adds
one and stamps the key's row with it as the key's **revision**. Each key also counts its own writes,
its **version** (0 before the first write): that is what an expected version (``If-Match``) compares
with, so a writer that read version 3 cannot overwrite a change made after its read. A watcher asks
for the changes after a global version it saw (:meth:`ConfigStore.changes`) and continues from the
version the answer carries: it misses no write and sees none twice.

A delete removes the run-time value only -- the key falls back to its environment value, if any --
and leaves a tombstone row, so that watchers see the deletion like any other write.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from live.common.sqlite import Database

__all__ = ["ConfigStore", "Entry", "VersionConflictError"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    value TEXT,                      -- JSON; NULL in a tombstone (deleted = 1)
    version INTEGER NOT NULL,        -- writes to this key so far
    revision INTEGER NOT NULL,       -- the global version its last write made
    deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS entries_by_revision ON entries (revision);
CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
INSERT OR IGNORE INTO counter (id, version) VALUES (1, 0);
"""


class VersionConflictError(Exception):
    """A write expected the key at ``expected`` but found it at ``current``."""

    def __init__(self, key: str, expected: int, current: int) -> None:
        super().__init__(f"{key} is at version {current}, not the expected {expected}: read it again")
        self.key, self.expected, self.current = key, expected, current


@dataclass(frozen=True)
class Entry:
    """What a key holds now. ``deleted``: neither layer has it (a watcher is told it went away)."""

    key: str
    value: Any
    version: int
    revision: int
    source: Literal["environment", "runtime", "deleted"]

    @property
    def deleted(self) -> bool:
        return self.source == "deleted"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "version": self.version,
            "revision": self.revision,
            "source": self.source,
        }


def _under(prefix: str) -> tuple[str, tuple[str, ...]]:
    """SQL condition and parameters for keys starting with ``prefix`` (no LIKE: keys may hold ``_``)."""
    return "substr(key, 1, ?) = ?", (len(prefix), prefix)


class ConfigStore:
    """Keys and values over ``environment`` (a mapping of keys to values) and the SQLite file at ``path``."""

    def __init__(self, path: Path, environment: Mapping[str, Any]) -> None:
        self.environment = dict(environment)
        self.database = Database(path, _SCHEMA)

    def close(self) -> None:
        self.database.close()

    def _entry(self, key: str, row: Any) -> Entry | None:
        """The effective entry of ``key`` given its run-time row (or None); None when it never existed."""
        if row is not None and not row["deleted"]:
            return Entry(key, json.loads(row["value"]), row["version"], row["revision"], "runtime")
        version, revision = (row["version"], row["revision"]) if row is not None else (0, 0)
        if key in self.environment:
            return Entry(key, self.environment[key], version, revision, "environment")
        return None if row is None else Entry(key, None, version, revision, "deleted")

    def version(self) -> int:
        """The global version: the number of writes so far."""
        with self.database.read() as db:
            return int(db.execute("SELECT version FROM counter").fetchone()[0])

    def get(self, key: str) -> Entry | None:
        """The key's entry; None if neither layer has a value for it."""
        with self.database.read() as db:
            row = db.execute("SELECT * FROM entries WHERE key = ?", (key,)).fetchone()
        entry = self._entry(key, row)
        return None if entry is None or entry.deleted else entry

    def list(self, prefix: str = "") -> tuple[int, list[Entry]]:
        """The global version and every key under ``prefix`` with a value, sorted by key."""
        where, parameters = _under(prefix)
        with self.database.read() as db:
            version = int(db.execute("SELECT version FROM counter").fetchone()[0])
            rows = {row["key"]: row for row in db.execute(f"SELECT * FROM entries WHERE {where}", parameters)}
        keys = sorted({key for key in self.environment if key.startswith(prefix)} | set(rows))
        entries = [self._entry(key, rows.get(key)) for key in keys]
        return version, [entry for entry in entries if entry is not None and not entry.deleted]

    def changes(self, prefix: str, after: int) -> tuple[int, list[Entry]]:
        """The global version and the keys under ``prefix`` written after version ``after``, oldest first.

        A key written several times appears once, as it is now (deletions included).
        """
        where, parameters = _under(prefix)
        with self.database.read() as db:
            version = int(db.execute("SELECT version FROM counter").fetchone()[0])
            rows = db.execute(
                f"SELECT * FROM entries WHERE revision > ? AND {where} ORDER BY revision",
                (after, *parameters),
            ).fetchall()
        return version, [entry for row in rows if (entry := self._entry(row["key"], row)) is not None]

    def _write(self, key: str, value: Any, expected: int | None, delete: bool) -> Entry | None:
        text = None if delete else json.dumps(value, separators=(",", ":"))
        with self.database.write() as db:
            row = db.execute("SELECT version, deleted FROM entries WHERE key = ?", (key,)).fetchone()
            current = 0 if row is None else int(row["version"])
            if expected is not None and expected != current:
                raise VersionConflictError(key, expected, current)
            if delete and (row is None or row["deleted"]):
                return None
            db.execute("UPDATE counter SET version = version + 1")
            revision = int(db.execute("SELECT version FROM counter").fetchone()[0])
            db.execute(
                "INSERT INTO entries (key, value, version, revision, deleted) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version, "
                "revision = excluded.revision, deleted = excluded.deleted",
                (key, text, current + 1, revision, int(delete)),
            )
            stored = db.execute("SELECT * FROM entries WHERE key = ?", (key,)).fetchone()
        return self._entry(key, stored)

    def put(self, key: str, value: Any, expected: int | None = None) -> Entry:
        """Write ``value`` (any JSON value) at run time; VersionConflictError if ``expected`` is stale."""
        entry = self._write(key, value, expected, delete=False)
        assert entry is not None  # a put always leaves a value
        return entry

    def delete(self, key: str, expected: int | None = None) -> Entry | None:
        """Drop the run-time value of ``key``; what the key holds now (its environment value, or a
        deletion), or None when it had no run-time value (nothing was written)."""
        return self._write(key, None, expected, delete=True)
