"""timeout: no data gets through; the connection closes ``timeout`` ms after the toxic started on it.

``timeout`` 0 means the data is dropped and the connection is never closed by the toxic. Removing a
timeout toxic closes the connections it was dropping data on (their stream is broken: bytes were
lost), as Toxiproxy does; :attr:`CLOSES_ON_REMOVE` tells the link so.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import ClassVar

from chaos.toxiproxy.toxics.base import Stage, Toxic

__all__ = ["Timeout"]


async def _drop_until_end(stage: Stage) -> None:
    while await stage.receive() is not None:
        pass


@dataclass
class Timeout(Toxic):
    TYPE = "timeout"
    CLOSES_ON_REMOVE: ClassVar[bool] = True
    timeout: int = 0  # ms

    async def pipe(self, stage: Stage) -> None:
        if self.timeout > 0:
            try:
                async with asyncio.timeout(self.timeout / 1000):
                    await _drop_until_end(stage)
            except TimeoutError:
                pass
        else:
            await _drop_until_end(stage)
        stage.close()
