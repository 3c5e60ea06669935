"""Which broker a stack process uses: the embedded one (default) or Redis, chosen at ``live up``.

``live up --broker redis://127.0.0.1:PORT`` records the URL in ``<state_dir>/broker.json`` before any
process starts (:func:`choose_broker`, a prepare step; without the option the file says
``{"url": null}``, so a stack never inherits an earlier stack's choice). :func:`broker_for` reads it:
with a URL, a :class:`~live.events.redis_streams.RedisBroker`; without, a
:class:`~live.events.client.BrokerClient` that finds the stack's ``broker`` service in the registry.
Redis, like everything the stack talks to, must be on loopback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from live.common.settings import InstanceSettings
from live.events.broker import Broker, BrokerError, DeliveryPolicy

__all__ = ["BROKER_FILE", "broker_for", "broker_url", "check_broker_url", "choose_broker"]

BROKER_FILE = "broker.json"
LOOPBACK = ("127.0.0.1", "localhost")


def check_broker_url(url: str) -> str:
    """``url`` if it is ``redis://127.0.0.1:PORT[/DB]`` (or localhost), else ValueError saying why."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "redis" or parts.hostname not in LOOPBACK or port is None:
        raise ValueError(f"--broker: {url!r} is not redis://127.0.0.1:PORT (Redis on loopback)")
    return url


def choose_broker(url: str | None) -> Callable[[Path], Path]:
    """The prepare step recording ``url`` (None: the embedded broker) in the state folder."""
    if url is not None:
        check_broker_url(url)

    def prepare(state_dir: Path) -> Path:
        path = state_dir / BROKER_FILE
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps({"url": url}), encoding="utf-8")
        partial.replace(path)
        return path

    return prepare


def broker_url(state_dir: Path) -> str | None:
    """The Redis URL ``live up`` recorded, or None for the embedded broker."""
    try:
        data = json.loads((state_dir / BROKER_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    url = data.get("url")
    return None if url is None else check_broker_url(str(url))


def broker_for(settings: InstanceSettings, policy: DeliveryPolicy | None = None) -> Broker:
    """The broker this stack process uses (module docstring)."""
    url = broker_url(settings.state_dir)
    if url is not None:
        from live.events.redis_streams import RedisBroker  # only Redis stacks import redis-py

        return RedisBroker(url, policy)
    from live.common.registry_client import RegistryError, discovery_for  # `live up` needs neither
    from live.events.client import BrokerClient

    discovery = discovery_for(settings)

    async def locate() -> str:
        try:
            return (await discovery.pick("broker")).url
        except RegistryError as error:
            raise BrokerError(f"the broker could not be found: {error}") from error

    return BrokerClient(locate, on_close=discovery.client.close)
