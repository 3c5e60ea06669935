"""All proxies of a server, by name: create, populate, update, delete, reset.

``populate`` follows Toxiproxy: the whole list is checked first (every entry needs ``name`` and
``upstream``; here also a loopback ``listen``) and nothing is created if one fails (400 naming the
entry); then each entry is created, or left untouched when a proxy of that name already has the same
listen address and upstream (its toxics and state survive), or replaced when they differ. A failure
while creating (a port in use) stops there: the proxies done so far stay, and the answer carries the
error with them.
"""

from __future__ import annotations

from typing import Any

from chaos.toxiproxy import errors
from chaos.toxiproxy.decoding import assign, require_object_list
from chaos.toxiproxy.errors import ApiError
from chaos.toxiproxy.models import resolve_listen
from chaos.toxiproxy.proxy import Proxy

__all__ = ["ProxyCollection"]

_PROXY_FIELDS = {"name": str, "listen": str, "upstream": str, "enabled": bool}


def _refuse_foreign(listen: str) -> None:
    """400 for a well-formed listen address off loopback; malformed ones fail later, when bound."""
    try:
        resolve_listen(listen)
    except ApiError as error:
        if error.status == 400:
            raise


class ProxyCollection:
    def __init__(self) -> None:
        self.proxies: dict[str, Proxy] = {}

    def get(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise errors.proxy_not_found() from None

    def as_json(self) -> dict[str, Any]:
        return {name: self.proxies[name].as_json() for name in sorted(self.proxies)}  # Go sorts map keys

    async def create(self, body: Any) -> Proxy:
        """POST /proxies: ApiError 400 (missing field, foreign listen), 409 (name taken), 500 (bind)."""
        values: dict[str, Any] = {"name": "", "listen": "", "upstream": "", "enabled": True}
        assign(values, _PROXY_FIELDS, body, "Proxy")
        if not values["name"]:
            raise errors.missing_field("name")
        if not values["upstream"]:
            raise errors.missing_field("upstream")
        _refuse_foreign(values["listen"])
        if values["name"] in self.proxies:
            raise errors.proxy_exists()
        proxy = Proxy(values["name"], values["listen"], values["upstream"])
        if values["enabled"]:
            await proxy.start()
        self.proxies[proxy.name] = proxy
        return proxy

    async def update(self, name: str, body: Any) -> Proxy:
        """POST/PATCH /proxies/{name}: fields not given keep their values."""
        proxy = self.get(name)
        values: dict[str, Any] = {
            "listen": proxy.listen,
            "upstream": proxy.upstream,
            "enabled": proxy.enabled,
        }
        assign(values, _PROXY_FIELDS, body, "Proxy")
        _refuse_foreign(values["listen"])
        await proxy.update(values["listen"], values["upstream"], values["enabled"])
        return proxy

    def delete(self, name: str) -> None:
        self.get(name).stop()
        del self.proxies[name]

    async def populate(self, body: Any) -> tuple[list[Proxy], ApiError | None]:
        """POST /populate: the proxies created or kept, and the error that stopped it (if any)."""
        entries = []
        for number, item in enumerate(require_object_list(body, "Proxy"), start=1):
            values: dict[str, Any] = {"name": "", "listen": "", "upstream": "", "enabled": True}
            assign(values, _PROXY_FIELDS, item, "Proxy")
            if not values["name"]:
                raise errors.missing_field(f"name at proxy {number}")
            if not values["upstream"]:
                raise errors.missing_field(f"upstream at proxy {number}")
            _refuse_foreign(values["listen"])
            entries.append(values)
        done: list[Proxy] = []
        for values in entries:
            try:
                done.append(await self._add_or_replace(values))
            except ApiError as error:
                return done, error
        return done, None

    async def _add_or_replace(self, values: dict[str, Any]) -> Proxy:
        existing = self.proxies.get(values["name"])
        if existing is not None:
            if not existing.differs(values["listen"], values["upstream"]):
                return existing
            existing.stop()
        proxy = Proxy(values["name"], values["listen"], values["upstream"])
        if values["enabled"]:
            await proxy.start()
        self.proxies[proxy.name] = proxy
        return proxy

    async def reset(self) -> None:
        """POST /reset: every proxy enabled again, every toxic removed."""
        for proxy in list(self.proxies.values()):
            await proxy.start()
            await proxy.toxics.reset()

    def stop_all(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()
