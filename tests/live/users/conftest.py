"""A users service on loopback with its own state folder, and the calls its tests make."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from live.auth.keys import ensure_signing_key
from live.common.server import running
from live.common.settings import InstanceSettings
from live.users.app import create_app
from tests.live.http import Answer, call


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_up(url: str, username: str, password: str = "correct horse", **fields: str) -> Answer:
    return call("POST", f"{url}/users", json_body={"username": username, "password": password, **fields})


def log_in(url: str, username: str, password: str = "correct horse", scope: str | None = None) -> Answer:
    form = {"username": username, "password": password}
    if scope is not None:
        form["scope"] = scope
    return call("POST", f"{url}/users/token", form=form)


def users_settings(state_dir: Path, instance: str = "users-1") -> InstanceSettings:
    return InstanceSettings(service="users", instance=instance, state_dir=state_dir)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A stack state folder with its signing key, as ``live up`` leaves it."""
    ensure_signing_key(tmp_path)
    return tmp_path


@pytest.fixture
def users_url(state_dir: Path) -> Iterator[str]:
    with running(create_app(users_settings(state_dir))) as url:
        yield url
