"""A users service on loopback with its own state folder, and a small HTTP client for it."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from live.auth.keys import ensure_signing_key
from live.common.server import running
from live.common.settings import InstanceSettings
from live.users.app import create_app


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    text: str

    @property
    def body(self) -> Any:
        return json.loads(self.text)


def call(
    method: str,
    url: str,
    *,
    json_body: Any = None,
    form: Mapping[str, str] | None = None,
    token: str | None = None,
    raw: bytes | None = None,
) -> Reply:
    """One HTTP request; any status (4xx included) comes back as a Reply."""
    headers = {"Accept": "application/json"}
    data = raw
    if json_body is not None:
        data, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if raw is not None:
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Reply(response.status, response.headers, response.read().decode())
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, error.headers, error.read().decode())


def sign_up(url: str, username: str, password: str = "correct horse", **fields: str) -> Reply:
    return call("POST", f"{url}/users", json_body={"username": username, "password": password, **fields})


def log_in(url: str, username: str, password: str = "correct horse", scope: str | None = None) -> Reply:
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
