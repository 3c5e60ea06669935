"""The users table: one SQLite file per stack, shared by every replica of the users service.

Replicas are separate processes writing the same file, so the file runs in WAL mode (readers never
block the writer, and a reader sees the last committed state) with a busy timeout (a writer waits
for another replica's write instead of failing). Each operation opens its own short connection, so
the store is safe from any thread of any replica. Usernames are unique by a PRIMARY KEY: when two
replicas sign up the same name at once, the database, not a check-then-insert race, picks the winner.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["User", "UserStore", "UsernameTaken"]

BUSY_TIMEOUT = 5.0
"""Seconds a write waits for another replica's write to finish."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    email         TEXT,
    full_name     TEXT,
    scopes        TEXT NOT NULL,
    created_at    REAL NOT NULL
)
"""


class UsernameTaken(Exception):  # noqa: N818 (a condition, not a failure of the store)
    """Sign-up of a username that already exists."""

    def __init__(self, username: str) -> None:
        super().__init__(f"username {username!r} is taken")
        self.username = username


@dataclass(frozen=True)
class User:
    """One account: its password hash (never the password), profile fields and the scopes it may hold."""

    username: str
    password_hash: str
    email: str | None
    full_name: str | None
    scopes: frozenset[str]
    created_at: float  # seconds since the epoch


class UserStore:
    """The users of one SQLite file; creates the table (and WAL mode) on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connection() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(_SCHEMA)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation: committed if the block succeeds, rolled back if not, closed."""
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT)
        try:
            with connection:
                yield connection
        finally:
            connection.close()

    def add(self, user: User) -> None:
        """Store a new user (UsernameTaken if the name exists)."""
        row = (
            user.username,
            user.password_hash,
            user.email,
            user.full_name,
            " ".join(sorted(user.scopes)),
            user.created_at,
        )
        try:
            with self._connection() as connection:
                connection.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)", row)
        except sqlite3.IntegrityError:
            raise UsernameTaken(user.username) from None

    def get(self, username: str) -> User | None:
        """The user with this name, or None."""
        with self._connection() as connection:
            row = connection.execute(
                "SELECT username, password_hash, email, full_name, scopes, created_at FROM users"
                " WHERE username = ?",
                (username,),
            ).fetchone()
        if row is None:
            return None
        name, password_hash, email, full_name, scopes, created_at = row
        return User(name, password_hash, email, full_name, frozenset(scopes.split()), created_at)
