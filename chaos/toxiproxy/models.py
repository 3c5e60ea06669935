"""A toxic as the API shows it, and the listen addresses this server accepts.

Defaults are Toxiproxy's: stream ``downstream``, toxicity 1.0, name ``<type>_<stream>``. The stream
is kept as the client spelled it (Toxiproxy compares it case-insensitively but echoes it back).

Deviation: Toxiproxy binds whatever ``listen`` names; this server binds 127.0.0.1 only. ``listen``
may say ``127.0.0.1:PORT`` or ``localhost:PORT`` (PORT 0: the kernel picks one); an empty or missing
``listen`` means ``127.0.0.1:0`` (Toxiproxy would bind every interface); any other host is refused
with a 400 naming the address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chaos.toxiproxy.errors import ApiError
from chaos.toxiproxy.toxics import Toxic

__all__ = ["LOOPBACK", "STREAMS", "ToxicSpec", "parse_hostport", "resolve_listen"]

LOOPBACK = "127.0.0.1"
STREAMS = ("upstream", "downstream")
"""Directions in the order Toxiproxy lists toxics: client -> server first, then server -> client."""
_LOOPBACK_NAMES = {LOOPBACK, "localhost"}


@dataclass
class ToxicSpec:
    """One toxic of a proxy: its identity, how often it applies, and its attributes."""

    name: str
    type: str
    stream: str
    toxicity: float
    toxic: Toxic

    @property
    def direction(self) -> str:
        return self.stream.lower()

    def as_json(self) -> dict[str, Any]:
        toxicity = self.toxicity
        return {
            "attributes": self.toxic.attributes(),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": int(toxicity) if toxicity.is_integer() else toxicity,  # Go prints 1, not 1.0
        }


def parse_hostport(text: str, *, verb: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) -> (host, port); ApiError 500 worded like Go's net errors."""
    host, colon, port = text.rpartition(":")
    if not colon:
        raise ApiError(f"{verb} tcp: address {text}: missing port in address", 500)
    if not port.isdigit() or int(port) > 65535:
        raise ApiError(f"{verb} tcp: address {text}: invalid port", 500)
    return host.removeprefix("[").removesuffix("]"), int(port)


def resolve_listen(text: str) -> str:
    """The address a ``listen`` value binds, as ``127.0.0.1:PORT`` (see the module doc)."""
    if not text:
        return f"{LOOPBACK}:0"
    host, port = parse_hostport(text, verb="listen")
    if host not in _LOOPBACK_NAMES:
        raise ApiError(
            f"listen address {text!r} refused: servicelab's Toxiproxy listens on 127.0.0.1 only "
            "(use 127.0.0.1:PORT or localhost:PORT; PORT 0 picks a free port)",
            400,
        )
    return f"{LOOPBACK}:{port}"
