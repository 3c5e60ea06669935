"""One SQLite file per service, shared by the service's replica processes.

Every replica opens its own connections to the same file and keeps the idle ones in a small pool
(opening a connection costs milliseconds, and closing the last one checkpoints the WAL; a pooled
connection is used by one thread at a time):

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
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path

__all__ = ["Database"]


class Database:
    """A service's SQLite file: its schema applied once, then short read and write transactions."""

    def __init__(self, path: Path, schema: str, busy_timeout: float = 10.0, pool_size: int = 8) -> None:
        if busy_timeout <= 0 or pool_size < 1:
            raise ValueError(
                f"Database needs busy_timeout > 0 seconds and pool_size >= 1, "
                f"got busy_timeout={busy_timeout!r}, pool_size={pool_size!r}"
            )
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.pool_size = pool_size
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(f"BEGIN IMMEDIATE;\n{schema}\nCOMMIT;")

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: the module never opens transactions by itself; we say BEGIN and COMMIT.
        connection = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        return connection

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            connection = self._idle.pop() if self._idle else None
        if connection is None:
            connection = self._connect()
        try:
            connection.execute(begin)
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            self._give_back(connection)

    def _give_back(self, connection: sqlite3.Connection) -> None:
        """Pool a connection for the next transaction, unless it is mid-transaction (a failed COMMIT)."""
        with self._lock:
            if not (connection.in_transaction or self._closed or len(self._idle) >= self.pool_size):
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        """Close the pooled connections; a transaction still running closes its own when it ends."""
        with self._lock:
            idle, self._idle, self._closed = self._idle, [], True
        for connection in idle:
            connection.close()

    def read(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read transaction: one consistent snapshot of the file."""
        return self._transaction("BEGIN")

    def write(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction holding the write lock from its start; rolled back if the block raises."""
        return self._transaction("BEGIN IMMEDIATE")
