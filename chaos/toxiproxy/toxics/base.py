"""What every toxic is: typed attributes, and a coroutine that pipes chunks through one stage.

A proxy connection has two links (upstream: client -> server, downstream: server -> client). Each
link is a chain of stages, one per toxic of its direction in the order the toxics were added. A
stage hands its toxic's ``pipe`` a small interface (:class:`Stage`): ``receive`` the next chunk
(``None`` once the stream has ended), ``send`` a chunk on to the next stage, ``close`` the stream
(``reset=True``: with a TCP RST). ``pipe`` runs until it closes the stage; when the toxic is updated
or removed the stage *interrupts* it (cancels the task) and ``pipe`` must not drop the data it holds
unless dropping is its job (timeout, reset_peer).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from chaos.toxiproxy.decoding import FieldKind, assign

__all__ = ["Chunk", "Stage", "Toxic", "forward_all"]


@dataclass(slots=True)
class Chunk:
    """Bytes read from one socket read, stamped with the event loop's clock when they were read."""

    data: bytes
    stamp: float


class Stage(Protocol):
    """What a toxic sees of the stage it runs in."""

    state: dict[str, Any]  # survives restarts of the toxic (limit_data counts its bytes here)

    async def receive(self) -> Chunk | None: ...

    def send(self, chunk: Chunk) -> None: ...

    def close(self, *, reset: bool = False) -> None: ...

    def now(self) -> float: ...


@dataclass
class Toxic:
    """A toxic's attributes (all integers, default 0 as in Toxiproxy) and its behaviour."""

    TYPE: ClassVar[str]
    CLOSES_ON_REMOVE: ClassVar[bool] = False  # removing it closes the connections it acted on

    def fields(self) -> dict[str, FieldKind]:
        return {field.name: int for field in dataclasses.fields(self)}

    def attributes(self) -> dict[str, int]:
        """The ``attributes`` object of the API, in Toxiproxy's field order."""
        return dataclasses.asdict(self)

    def merge(self, data: Any) -> None:
        """Overwrite the attributes ``data`` names (the others keep their values). ApiError 400."""
        values = self.attributes()
        assign(values, self.fields(), data, type(self).__name__)
        for name, value in values.items():
            setattr(self, name, value)

    async def pipe(self, stage: Stage) -> None:
        raise NotImplementedError


async def forward_all(stage: Stage) -> None:
    """Pass every chunk on unchanged, then close: the noop toxic, and a toxic its toxicity spared."""
    while (chunk := await stage.receive()) is not None:
        stage.send(chunk)
    stage.close()
