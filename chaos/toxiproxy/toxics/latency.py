"""latency: every chunk leaves ``latency`` ms (+- up to ``jitter`` ms) after it was read.

The delay counts from the moment the proxy read the chunk, not from when the previous one left, so a
steady stream is shifted by the latency rather than slowed down; chunks keep their order (one whose
jittered due time is earlier than its predecessor's leaves right after it). Jitter is uniform over
whole milliseconds in [-jitter, jitter), as in Toxiproxy.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from chaos.toxiproxy.toxics.base import Stage, Toxic

__all__ = ["Latency"]


@dataclass
class Latency(Toxic):
    TYPE = "latency"
    latency: int = 0  # ms
    jitter: int = 0  # ms

    def delay(self) -> float:
        """One draw of the delay, in seconds."""
        jitter = random.randrange(-self.jitter, self.jitter) if self.jitter > 0 else 0
        return (self.latency + jitter) / 1000

    async def pipe(self, stage: Stage) -> None:
        while (chunk := await stage.receive()) is not None:
            due = chunk.stamp + self.delay()
            try:
                await asyncio.sleep(max(0.0, due - stage.now()))
                chunk.stamp = max(chunk.stamp, due)
            finally:
                stage.send(chunk)  # also when interrupted: never drop data
        stage.close()
