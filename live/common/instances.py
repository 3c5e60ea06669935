"""A running instance of a live service, as the registry lists it and callers pick it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Discover", "InstanceInfo"]


@dataclass(frozen=True)
class InstanceInfo:
    """Where one instance of a service listens (hashable: balancing policies key their state on it)."""

    service: str
    instance: str
    host: str
    port: int
    metadata: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def url(self) -> str:
        """The instance's base URL, ``http://host:port`` (``https`` when it registered that scheme: mTLS)."""
        return f"{self.metadata.get('scheme', 'http')}://{self.host}:{self.port}"

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "instance": self.instance,
            "host": self.host,
            "port": self.port,
            "url": self.url,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InstanceInfo:
        return cls(
            service=str(data["service"]),
            instance=str(data["instance"]),
            host=str(data["host"]),
            port=int(data["port"]),
            metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
        )


Discover = Callable[[str], Awaitable[list[InstanceInfo]]]
"""Service name -> its routable instances now (the registry in the real stack, a fixed list in tests)."""
