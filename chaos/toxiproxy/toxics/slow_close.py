"""slow_close: data passes untouched, but the close is held back ``delay`` ms."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from chaos.toxiproxy.toxics.base import Stage, Toxic

__all__ = ["SlowClose"]


@dataclass
class SlowClose(Toxic):
    TYPE = "slow_close"
    delay: int = 0  # ms

    async def pipe(self, stage: Stage) -> None:
        while (chunk := await stage.receive()) is not None:
            stage.send(chunk)
        await asyncio.sleep(self.delay / 1000)
        stage.close()
