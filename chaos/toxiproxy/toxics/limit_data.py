"""limit_data: lets exactly ``bytes`` bytes through its direction, then closes the connection.

The count lives in the stage's state, so it survives updates of the toxic (raising the limit lets
more through on an open connection). As in Toxiproxy the close happens when data arrives, so a limit
of 0 closes the connection on its first byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from chaos.toxiproxy.toxics.base import Chunk, Stage, Toxic

__all__ = ["LimitData"]


@dataclass
class LimitData(Toxic):
    TYPE = "limit_data"
    bytes: int = 0

    async def pipe(self, stage: Stage) -> None:
        sent = stage.state.setdefault("sent", 0)
        while (chunk := await stage.receive()) is not None:
            allowed = chunk.data[: max(0, self.bytes - sent)]
            if allowed:
                stage.send(Chunk(allowed, chunk.stamp))
                sent = stage.state["sent"] = sent + len(allowed)
            if sent >= self.bytes:
                break
        stage.close()
