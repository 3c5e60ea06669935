"""bandwidth: at most ``rate`` KB/s (1 KB = 1000 bytes, as Toxiproxy counts) through the link.

A byte clock: each piece may leave once the previous bytes have had their time at the rate. Chunks
larger than a tenth of a second's worth are cut into such pieces so the stream flows evenly. A rate of
0 or less means no limit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from chaos.toxiproxy.toxics.base import Chunk, Stage, Toxic

__all__ = ["Bandwidth"]


@dataclass
class Bandwidth(Toxic):
    TYPE = "bandwidth"
    rate: int = 0  # KB/s

    async def pipe(self, stage: Stage) -> None:
        free_at = stage.now()  # when the link has sent everything so far at the rate
        while (chunk := await stage.receive()) is not None:
            if self.rate <= 0:
                stage.send(chunk)
                continue
            per_second = self.rate * 1000
            piece = max(1, per_second // 10)
            data = chunk.data
            try:
                while data:
                    head = data[:piece]
                    free_at = max(free_at, stage.now()) + len(head) / per_second
                    await asyncio.sleep(max(0.0, free_at - stage.now()))
                    stage.send(Chunk(head, chunk.stamp))
                    data = data[len(head) :]
            finally:
                if data:  # interrupted: hand the rest on rather than drop it
                    stage.send(Chunk(data, chunk.stamp))
        stage.close()
