"""One SQLite file per service, shared by the service's replica processes.

Every replica opens its own connections to the same file, one connection per transaction (opening
one costs tens of microseconds, and no connection is ever shared between threads):

* WAL journal mode (set once per file; it persists) lets readers go on while one writer writes.
* A write transaction begins with ``BEGIN IMMEDIATE``: it takes the file's write lock up front. A
  deferred transaction that reads first and writes later can fail with SQLITE_BUSY at its first write,
  without waiting, when another connection wrote in between; an immediate one cannot, so a
  read-check-write (an idempotency record, a stock check) is atomic across processes.
* The busy timeout makes a writer wait up to ``busy_timeout`` seconds for the lock instead of failing
  at once; writers are therefore serialized, and each transaction must stay short.

The calls block: async code runs them in a worker thread (``asyncio.to_thread``) so that a writer
waiting for the lock never stalls the event loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path

__all__ = ["Database"]


class Database:
    """A service's SQLite file: its schema applied once, then short read and write transactions."""

    def __init__(self, path: Path, schema: str, busy_timeout: float = 10.0) -> None:
        if busy_timeout <= 0:
            raise ValueError(f"busy_timeout must be > 0 seconds, got busy_timeout={busy_timeout!r}")
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(f"BEGIN IMMEDIATE;\n{schema}\nCOMMIT;")

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: the module never opens transactions by itself; we say BEGIN and COMMIT.
        connection = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        return connection

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        with closing(self._connect()) as connection:
            connection.execute(begin)
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def read(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read transaction: one consistent snapshot of the file."""
        return self._transaction("BEGIN")

    def write(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction holding the write lock from its start; rolled back if the block raises."""
        return self._transaction("BEGIN IMMEDIATE")
