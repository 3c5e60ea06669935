"""The config service's HTTP API for a command line: blocking calls, one clear error type.

:meth:`ConfigClient.for_stack` finds the service of the stack in a state folder (its URL in
``state.json``, the write token in ``secrets/config-token``; under ``--mtls`` the ``operator``
mesh certificate, which the default policy lets call config). A value given on a command line is
JSON when it parses as JSON (``2``, ``true``, ``{"rate": 5}``), else the text itself
(:func:`parse_value`).
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from live.config.environments import KEY
from live.config.preparation import config_token

__all__ = ["ConfigClient", "ConfigClientError", "parse_value"]


class ConfigClientError(RuntimeError):
    """The request could not be made, or the service refused it (the message says why)."""


def parse_value(text: str) -> Any:
    """``text`` as a JSON value, or as a string when it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


class ConfigClient:
    """Get, set, unset and list keys at the config service at ``url``."""

    def __init__(
        self, url: str, token: str | None = None, timeout: float = 5.0, context: ssl.SSLContext | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.context = context

    @classmethod
    def for_stack(cls, state_dir: Path) -> ConfigClient:
        """The config service of the stack running in ``state_dir``."""
        from live.supervisor.stack import StackError, StackState  # the supervisor imports this package

        try:
            state = StackState.load(state_dir)
        except StackError as error:
            raise ConfigClientError(str(error)) from None
        url = state.url("config") if state is not None else None
        if url is None:
            raise ConfigClientError(f"no config service runs in {state_dir}: `servicelab live up` first")
        context = None
        if state.options.get("mtls"):  # the mesh: present the operator's certificate, as the policy asks
            from live.mesh.files import OPERATOR
            from live.mesh.tls import MeshTlsError, client_context

            try:
                context = client_context(state_dir, OPERATOR)
            except MeshTlsError as error:
                raise ConfigClientError(str(error)) from None
        return cls(url, config_token(state_dir), context=context)

    def _call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        sent = dict(headers or {})
        data = None
        if method in ("PUT", "DELETE"):
            if self.token is None:
                raise ConfigClientError(
                    "no config token (secrets/config-token): was the stack started by `live up`?"
                )
            sent["Authorization"] = f"Bearer {self.token}"
        if method == "PUT":
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read()).get("error")
            except (json.JSONDecodeError, AttributeError):
                message = None
            raise ConfigClientError(message or f"the config service answered {error.code}") from None
        except (urllib.error.URLError, OSError) as error:
            raise ConfigClientError(f"cannot reach the config service at {self.url}: {error}") from None

    @staticmethod
    def _key(key: str) -> str:
        if not KEY.match(key):
            raise ConfigClientError(
                f"{key!r} is not a key: dot-separated segments of a-z, 0-9, _ and - "
                "(e.g. gateway.rate_limit.rate)"
            )
        return key

    def get(self, key: str) -> dict[str, Any]:
        """The key's entry: value, version, revision, source."""
        return self._call("GET", f"/config/{self._key(key)}")

    def set(self, key: str, value: Any, expected: int | None = None) -> dict[str, Any]:
        """Write ``value``; with ``expected``, only if the key is still at that version."""
        headers = {"If-Match": str(expected)} if expected is not None else None
        return self._call("PUT", f"/config/{self._key(key)}", value, headers)

    def unset(self, key: str) -> dict[str, Any]:
        """Drop the key's run-time value; what it holds afterwards."""
        return self._call("DELETE", f"/config/{self._key(key)}")

    def list(self, prefix: str = "") -> dict[str, Any]:
        """Every key under ``prefix``: ``{"environment", "version", "entries"}``."""
        return self._call("GET", "/config?" + urllib.parse.urlencode({"prefix": prefix}))
