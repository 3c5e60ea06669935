"""A small synchronous client for Toxiproxy's HTTP API (the embedded server or a real one).

The stack hook and the Chaos Toolkit extension both drive Toxiproxy with it. It speaks only the
parts they need -- proxies (list, create, update, delete), toxics (list, add, remove) and reset --
and turns every refusal into a :class:`ToxiproxyError` carrying Toxiproxy's own message.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from typing import Any

__all__ = ["ToxiproxyClient", "ToxiproxyError"]


class ToxiproxyError(RuntimeError):
    """Toxiproxy refused a request or could not be reached."""


class ToxiproxyClient:
    """The API at ``url`` (``http://127.0.0.1:8474``)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            with contextlib.suppress(ValueError, AttributeError):  # Toxiproxy's {"error": ...} body
                detail = json.loads(detail).get("error", detail)
            raise ToxiproxyError(f"{method} {self.url}{path}: {error.code} {detail}") from None
        except (urllib.error.URLError, OSError) as error:
            raise ToxiproxyError(f"Toxiproxy at {self.url} unreachable: {error}") from None
        return json.loads(text) if text else None

    def version(self) -> str:
        request = urllib.request.Request(f"{self.url}/version")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read().decode()
        except (urllib.error.URLError, OSError) as error:
            raise ToxiproxyError(f"Toxiproxy at {self.url} unreachable: {error}") from None
        try:  # Toxiproxy >= 2.6 answers JSON, older ones the bare version
            return str(json.loads(text)["version"])
        except (ValueError, KeyError, TypeError):
            return text.strip()

    def proxies(self) -> dict[str, dict[str, Any]]:
        """Every proxy by name, each with its ``listen``, ``upstream``, ``enabled`` and ``toxics``."""
        return self._call("GET", "/proxies")

    def create_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> dict[str, Any]:
        """A new enabled proxy (``listen`` port 0: an ephemeral port, shown in the answer)."""
        return self._call("POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream})

    def update_proxy(self, name: str, **fields: Any) -> dict[str, Any]:
        return self._call("POST", f"/proxies/{name}", fields)

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}")

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/proxies/{proxy}/toxics")

    def add_toxic(self, proxy: str, toxic: dict[str, Any]) -> dict[str, Any]:
        """Add ``toxic`` (Toxiproxy's JSON: ``type``, ``attributes``, optional ``name``, ``stream``,
        ``toxicity``) to ``proxy``; the toxic as created."""
        return self._call("POST", f"/proxies/{proxy}/toxics", toxic)

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset")
