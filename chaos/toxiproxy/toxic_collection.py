"""The toxics of one proxy, and their changes applied to its open connections.

Toxics are kept in the order they were added; a link's chain is the toxics of its direction in that
order, and the API lists upstream toxics before downstream ones (as Toxiproxy does). Adding a toxic
appends a stage to every open link of its direction; updating merges the given attributes into the
existing ones (and the toxicity if given) and restarts the stage; removing flushes the stage's
data on down the chain, except for a timeout toxic, whose removal closes the connections it acted on.
Changes are serialized by a lock, like Toxiproxy's collection mutex.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from chaos.toxiproxy import errors
from chaos.toxiproxy.decoding import assign, lookup
from chaos.toxiproxy.models import STREAMS, ToxicSpec
from chaos.toxiproxy.toxics import TOXICS

if TYPE_CHECKING:
    from chaos.toxiproxy.proxy import Proxy

__all__ = ["ToxicCollection"]

_WRAPPER_FIELDS = {"name": str, "type": str, "stream": str, "toxicity": float}


class ToxicCollection:
    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.specs: list[ToxicSpec] = []
        self.lock = asyncio.Lock()

    def listed(self) -> list[ToxicSpec]:
        """All toxics, upstream first, each direction in insertion order."""
        return sorted(self.specs, key=lambda spec: STREAMS.index(spec.direction))

    def chain(self, direction: str) -> list[ToxicSpec]:
        return [spec for spec in self.specs if spec.direction == direction]

    def find(self, name: str) -> ToxicSpec:
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise errors.toxic_not_found()

    def _links(self, spec: ToxicSpec) -> list[Any]:
        return [conn.links[spec.direction] for conn in list(self.proxy.connections) if conn.links]

    async def add(self, body: Any) -> ToxicSpec:
        """Create a toxic from a request body (checks in Toxiproxy's order; ApiError 400/409)."""
        async with self.lock:
            values: dict[str, Any] = {"name": "", "type": "", "stream": "downstream", "toxicity": 1.0}
            assign(values, _WRAPPER_FIELDS, body, "ToxicWrapper")
            attributes = lookup(body, "attributes")
            if attributes is not None and not isinstance(attributes, dict):
                assign({}, {}, attributes, "NoopToxic")  # raises Go's "cannot unmarshal" 400
            if values["stream"].lower() not in STREAMS:
                raise errors.invalid_stream()
            if not values["name"]:
                values["name"] = f"{values['type']}_{values['stream']}"
            kind = TOXICS.get(values["type"])
            if kind is None:
                raise errors.invalid_toxic_type()
            if any(spec.name == values["name"] for spec in self.specs):
                raise errors.toxic_exists()
            toxic = kind()
            toxic.merge(attributes)
            spec = ToxicSpec(toxic=toxic, **values)
            self.specs.append(spec)
            for link in self._links(spec):
                link.add(spec)
            return spec

    async def update(self, name: str, body: Any) -> ToxicSpec:
        """Merge ``attributes`` (and ``toxicity``, if given) into a toxic; ApiError 400/404."""
        async with self.lock:
            spec = self.find(name)
            values: dict[str, Any] = {"toxicity": spec.toxicity}
            assign(values, {"toxicity": float}, body, "ToxicWrapper")
            candidate = type(spec.toxic)(**spec.toxic.attributes())
            candidate.merge(lookup(body, "attributes"))
            spec.toxic, spec.toxicity = candidate, values["toxicity"]
            await asyncio.gather(*(link.update(spec) for link in self._links(spec)))
            return spec

    async def remove(self, name: str) -> None:
        async with self.lock:
            await self._remove(self.find(name))

    async def reset(self) -> None:
        """Remove every toxic (POST /reset)."""
        async with self.lock:
            for spec in list(self.specs):
                await self._remove(spec)

    async def _remove(self, spec: ToxicSpec) -> None:
        self.specs.remove(spec)
        await asyncio.gather(*(link.remove(spec) for link in self._links(spec)))
