"""users as a provider: the real FastAPI app on loopback, with its own signing key and SQLite file.

States: ``a user exists`` (``username``, ``password``) and ``no user exists`` (``username``); after
every interaction the users table is emptied.

Tokens: a pact's ``Authorization`` header holds the consumer's example token, which no users
instance can accept (it was not signed with its key). The verification replaces that header on every
replayed request with a real token of :data:`TOKEN_SUBJECT` (the user the contracts act as) signed by
this instance's key: ``Serving.headers``, sent by the verifier as a custom header.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from contracts.providers.serving import Serving
from contracts.providers.states import StateTable
from live.auth.keys import PRIVATE_KEY_FILE, ensure_signing_key, load_private_key
from live.auth.passwords import hash_password
from live.auth.tokens import TokenIssuer
from live.common.server import running
from live.common.settings import InstanceSettings
from live.users.app import DEFAULT_SCOPES, create_app
from live.users.store import User, UserStore

__all__ = ["TOKEN_SUBJECT", "attach_users", "serve_users", "users_states"]

TOKEN_SUBJECT = "alice"


def _settings(state_dir: Path) -> InstanceSettings:
    return InstanceSettings(service="users", instance="users-contracts", state_dir=state_dir)


def users_states(database: Path) -> StateTable:
    """The users service's provider states over its database file ``database``."""
    store = UserStore(database)

    def delete(where: str = "", *args: str) -> None:
        with closing(sqlite3.connect(database)) as db, db:
            db.execute(f"DELETE FROM users {where}", args)

    def user(username: str, password: str) -> None:
        delete("WHERE username = ?", username)
        store.add(User(username, hash_password(password), None, None, DEFAULT_SCOPES, time.time()))

    def no_user(username: str) -> None:
        delete("WHERE username = ?", username)

    return StateTable("users", {"a user exists": user, "no user exists": no_user}, delete)


def attach_users(url: str, state_dir: Path) -> Serving:
    """Users running at ``url`` on the stack state folder ``state_dir`` (its database and key)."""
    token = TokenIssuer(load_private_key(state_dir)).issue(TOKEN_SUBJECT, DEFAULT_SCOPES)
    return Serving(
        url, users_states(_settings(state_dir).database), headers={"Authorization": f"Bearer {token}"}
    )


@contextmanager
def serve_users(state_dir: Path) -> Iterator[Serving]:
    """Users on loopback with its key and database in ``state_dir``, until the block ends."""
    if not (state_dir / "secrets" / PRIVATE_KEY_FILE).exists():
        ensure_signing_key(state_dir)
    with running(create_app(_settings(state_dir))) as url:
        yield attach_users(url, state_dir)
