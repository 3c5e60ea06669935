"""noop: passes the data through untouched (useful to check the chain itself)."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.toxiproxy.toxics.base import Stage, Toxic, forward_all

__all__ = ["Noop"]


@dataclass
class Noop(Toxic):
    TYPE = "noop"

    async def pipe(self, stage: Stage) -> None:
        await forward_all(stage)
