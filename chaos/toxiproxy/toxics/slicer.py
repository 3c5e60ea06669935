"""slicer: cuts each chunk into pieces of about ``average_size`` bytes, ``delay`` microseconds apart.

A chunk is halved recursively, each cut moved by up to ``size_variation`` bytes either way, until a
piece is no more than ``average_size + size_variation`` long; the pieces leave in order, each
followed by the delay. Unlike Toxiproxy (whose recursion never ends for ``average_size`` 0 and panics
when the variation exceeds half a piece) every cut here stays strictly inside its piece, so the
smallest piece is one byte.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from chaos.toxiproxy.toxics.base import Chunk, Stage, Toxic

__all__ = ["Slicer"]


@dataclass
class Slicer(Toxic):
    TYPE = "slicer"
    average_size: int = 0  # bytes
    size_variation: int = 0  # bytes
    delay: int = 0  # microseconds

    def cuts(self, length: int) -> list[int]:
        """The end offsets of the pieces of a chunk of ``length`` bytes, in order (last = length)."""
        ends: list[int] = []
        pending = [(0, length)]
        while pending:
            start, end = pending.pop()
            if end - start <= 1 or (end - start) - self.average_size <= self.size_variation:
                ends.append(end)
                continue
            middle = start + (end - start) // 2
            if self.size_variation > 0:
                middle += random.randrange(-self.size_variation, self.size_variation)
            middle = min(max(middle, start + 1), end - 1)
            pending += [(middle, end), (start, middle)]  # the left half is cut (and sent) first
        return ends

    async def pipe(self, stage: Stage) -> None:
        while (chunk := await stage.receive()) is not None:
            sent = 0
            try:
                for end in self.cuts(len(chunk.data)):
                    stage.send(Chunk(chunk.data[sent:end], chunk.stamp))
                    sent = end
                    await asyncio.sleep(self.delay / 1_000_000)
            finally:
                if sent < len(chunk.data):  # interrupted: the rest goes on in one piece
                    stage.send(Chunk(chunk.data[sent:], chunk.stamp))
        stage.close()
