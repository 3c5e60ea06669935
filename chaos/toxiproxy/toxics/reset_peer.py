"""reset_peer: on the first data (or end of stream) in its direction, wait ``timeout`` ms, then reset.

The reset is a real TCP RST: the link closes both sockets of the connection with SO_LINGER 0, so the
client's next read fails with ECONNRESET. Data in the meantime is dropped.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from chaos.toxiproxy.toxics.base import Stage, Toxic

__all__ = ["ResetPeer"]


@dataclass
class ResetPeer(Toxic):
    TYPE = "reset_peer"
    timeout: int = 0  # ms

    async def pipe(self, stage: Stage) -> None:
        await stage.receive()
        await asyncio.sleep(self.timeout / 1000)
        stage.close(reset=True)
