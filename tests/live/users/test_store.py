"""The users table: round trip, unique names, WAL mode for replicas sharing the file."""

from __future__ import annotations

import sqlite3

import pytest

from live.users.store import User, UsernameTaken, UserStore


def user(name: str = "alice", **changes: object) -> User:
    fields = {
        "username": name,
        "password_hash": "scrypt$16384$8$1$c2FsdA==$aGFzaA==",
        "email": None,
        "full_name": "Alice Liddell",
        "scopes": frozenset({"orders:read", "orders:write"}),
        "created_at": 1_800_000_000.5,
    }
    return User(**{**fields, **changes})


def test_a_stored_user_reads_back_equal(tmp_path) -> None:
    store = UserStore(tmp_path / "users.sqlite3")
    store.add(user(email="alice@example.org"))
    assert store.get("alice") == user(email="alice@example.org")
    assert store.get("bob") is None


def test_a_second_store_on_the_same_file_sees_the_first_ones_users(tmp_path) -> None:
    UserStore(tmp_path / "users.sqlite3").add(user())
    assert UserStore(tmp_path / "users.sqlite3").get("alice") == user()


def test_a_username_is_unique(tmp_path) -> None:
    store = UserStore(tmp_path / "users.sqlite3")
    store.add(user())
    with pytest.raises(UsernameTaken, match="'alice' is taken"):
        store.add(user(full_name="Another Alice"))
    assert store.get("alice") == user()


def test_the_file_is_in_wal_mode(tmp_path) -> None:
    UserStore(tmp_path / "users.sqlite3")
    with sqlite3.connect(tmp_path / "users.sqlite3") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
