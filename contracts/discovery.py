"""Fixed discovery: the ``discover`` hook of a service, answering one known instance.

In the stack a caller finds its callees through the registry (``discover("inventory")`` -> the
instances registered now). For contracts the callee is a known address instead: Pact's mock server
(consumer tests) or a provider's real dependency started next to it (orders' inventory during
orders' verification). The caller's code is unchanged; only the hook it was built with differs.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from live.common.instances import Discover, InstanceInfo

__all__ = ["discover_only", "instance_at"]


def instance_at(service: str, url: str) -> InstanceInfo:
    """The instance of ``service`` listening at ``url`` (``http://127.0.0.1:PORT``)."""
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"{url!r} names no host and port")
    return InstanceInfo(service, f"{service}-{parts.port}", parts.hostname, parts.port)


def discover_only(instance: InstanceInfo) -> Discover:
    """A ``discover`` hook that knows one instance of one service (and no other service)."""

    async def discover(service: str) -> list[InstanceInfo]:
        return [instance] if service == instance.service else []

    return discover
