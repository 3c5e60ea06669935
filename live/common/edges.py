"""Rerouting service-to-service edges through proxies: the hook the chaos experiments use.

A stack hook (``live up --chaos``) may put a proxy (Toxiproxy) in front of every callee instance for
every caller and record it in ``<state_dir>/edges.json``::

    {"orders": {"inventory-1": "127.0.0.1:41234"}, "gateway": {"orders-1": "127.0.0.1:41240", ...}}

A caller's :class:`~live.common.registry_client.Discovery` then hands out the proxy's address
instead of the instance's own, so every call on that edge crosses the proxy and its toxics. The file
is re-read whenever it changes, so proxies can be added while the stack runs; an instance without an
entry is called directly. Addresses must be on loopback, like everything else in the stack.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from live.common.instances import InstanceInfo
from live.common.settings import HOST

__all__ = ["EDGES_FILE", "EdgeMap", "write_edges"]

EDGES_FILE = "edges.json"


def _address(text: str, where: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if host != HOST or not port.isdigit():
        raise ValueError(f"{where}: {text!r} is not {HOST}:PORT")
    return host, int(port)


class EdgeMap:
    """The proxies one caller must use, from ``edges.json`` (reloaded when the file changes)."""

    def __init__(self, state_dir: Path, caller: str) -> None:
        self.path = state_dir / EDGES_FILE
        self.caller = caller
        self._stamp: float | None = None
        self._routes: dict[str, tuple[str, int]] = {}

    def _reload(self) -> None:
        try:
            stamp = self.path.stat().st_mtime
        except FileNotFoundError:
            self._stamp, self._routes = None, {}
            return
        if stamp == self._stamp:
            return
        data = json.loads(self.path.read_text(encoding="utf-8")).get(self.caller, {})
        self._routes = {
            instance: _address(address, f"{self.path} {self.caller}.{instance}")
            for instance, address in data.items()
        }
        self._stamp = stamp

    def route(self, instance: InstanceInfo) -> InstanceInfo:
        """``instance``, or the proxy in front of it for this caller."""
        self._reload()
        proxy = self._routes.get(instance.instance)
        if proxy is None:
            return instance
        host, port = proxy
        return dataclasses.replace(instance, host=host, port=port)


def write_edges(state_dir: Path, edges: dict[str, dict[str, str]]) -> Path:
    """Write ``edges.json`` atomically (callers never read half a file)."""
    path = state_dir / EDGES_FILE
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(edges, indent=2), encoding="utf-8")
    partial.replace(path)
    return path
