"""A link: one direction of one proxied connection, and its chain of toxic stages.

Bytes read from the link's source socket enter the first stage; each stage runs its toxic's ``pipe``
as a task and sends what it lets through to the next stage, the last one to the destination socket.
With no toxics the link writes straight to the destination (the fast path). The end of the stream
travels down the chain behind the data, so whatever a toxic holds (a latency delay, a slow close) is
honoured before the destination closes.

Per-connection toxicity: every stage draws one uniform number when the connection (or the toxic) is
born; the toxic acts on this connection iff ``draw < toxicity``. The draw is kept, so an update of the
toxicity re-decides with the same number (raising it never switches an acting toxic off).
Toxiproxy draws again whenever it restarts a stage; this one decides once per connection per toxic.

Flow control: reading from the source pauses while the destination's write buffer is full or the
chain holds more than :data:`HIGH_WATER` bytes in its queues, and resumes below :data:`LOW_WATER`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chaos.toxiproxy.models import ToxicSpec
from chaos.toxiproxy.toxics import Chunk, forward_all

if TYPE_CHECKING:
    from chaos.toxiproxy.connection import Side

__all__ = ["HIGH_WATER", "LOW_WATER", "End", "Link", "ToxicStage"]

HIGH_WATER = 4 * 1024 * 1024
LOW_WATER = 1024 * 1024
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class End:
    """The end of a stream; ``reset``: the connection is to be reset (RST), not closed (FIN)."""

    reset: bool = False


class ToxicStage:
    """One toxic on one link: its input queue, its running ``pipe`` task, its per-connection draw."""

    def __init__(self, link: Link, spec: ToxicSpec) -> None:
        self.link = link
        self.spec = spec
        self.draw = random.random()
        self.state: dict[str, Any] = {}
        self.queue: deque[Chunk | End] = deque()
        self.ended: End | None = None  # the end of the stream, once received (it stays received)
        self.closed = False
        self.active = False
        self.task: asyncio.Task[None] | None = None
        self._waiter: asyncio.Future[None] | None = None

    # -- what the toxic sees (toxics.base.Stage) --
    def now(self) -> float:
        return self.link.loop.time()

    async def receive(self) -> Chunk | None:
        while self.ended is None:
            if self.queue:
                item = self.queue.popleft()
                if isinstance(item, End):
                    self.ended = item
                    break
                self.link.dequeued(len(item.data))
                return item
            self._waiter = self.link.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return None

    def send(self, chunk: Chunk) -> None:
        if not self.closed:
            self.link.forward(self, chunk)

    def close(self, *, reset: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self._drop_queue()
        self.link.forward(self, End(reset or (self.ended is not None and self.ended.reset)))

    # -- what the link does with it --
    def put(self, item: Chunk | End) -> None:
        if self.closed:
            return
        self.queue.append(item)
        if isinstance(item, Chunk):
            self.link.queued += len(item.data)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def start(self) -> None:
        """(Re)start the toxic: it acts on this connection iff the draw is below its toxicity."""
        self.active = self.draw < self.spec.toxicity
        pipe = self.spec.toxic.pipe(self) if self.active else forward_all(self)
        self.task = self.link.loop.create_task(pipe)
        self.task.add_done_callback(self._finished)

    async def interrupt(self) -> None:
        """Stop the running toxic (it hands on what it holds) and wait until it has."""
        task, self.task = self.task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def discard(self) -> None:
        """Forget everything: the connection is gone."""
        self.closed = True
        self._drop_queue()
        if self.task is not None:
            self.task.cancel()

    def _drop_queue(self) -> None:
        self.link.dequeued(sum(len(item.data) for item in self.queue if isinstance(item, Chunk)))
        self.queue.clear()

    def _finished(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("toxic %s failed; resetting its connection", self.spec.name, exc_info=task.exception())
            self.link.connection.reset()


class Link:
    """One direction (``upstream`` or ``downstream``) of a connection: source -> chain -> destination."""

    def __init__(
        self, connection: Any, direction: str, source: Side, dest: Side, chain: list[ToxicSpec]
    ) -> None:
        self.connection = connection
        self.direction = direction
        self.source = source
        self.dest = dest
        self.loop = asyncio.get_running_loop()
        self.stages = [ToxicStage(self, spec) for spec in chain]
        self.queued = 0  # bytes waiting in the stages' queues
        self.dest_blocked = False  # the destination's write buffer is full
        self.reading_paused = False
        self.input_ended = False
        self.finished = False

    def start(self) -> None:
        for stage in self.stages:
            stage.start()

    # -- data in --
    def feed(self, data: bytes) -> None:
        if self.stages:
            self.stages[0].put(Chunk(data, self.loop.time()))
            self.flow()
        else:
            self.dest.write(data)

    def feed_end(self, *, reset: bool = False) -> None:
        if self.input_ended:
            return
        self.input_ended = True
        if self.stages:
            self.stages[0].put(End(reset))
        else:
            self._finish(End(reset))

    # -- data along the chain and out --
    def forward(self, stage: ToxicStage, item: Chunk | End) -> None:
        try:
            following = self.stages.index(stage) + 1
        except ValueError:
            return  # a stage already taken out of the chain
        self._put_at(following, item)

    def _put_at(self, index: int, item: Chunk | End) -> None:
        if index < len(self.stages):
            self.stages[index].put(item)
            self.flow()
        elif isinstance(item, Chunk):
            self.dest.write(item.data)
        else:
            self._finish(item)

    def _finish(self, end: End) -> None:
        if not self.finished:
            self.finished = True
            self.connection.link_finished(self, reset=end.reset)

    def dequeued(self, size: int) -> None:
        self.queued -= size
        if self.reading_paused:
            self.flow()

    def flow(self) -> None:
        """Pause or resume reading the source (see the module doc)."""
        if self.reading_paused:
            if not self.dest_blocked and self.queued <= LOW_WATER:
                self.reading_paused = False
                self.source.resume_reading()
        elif self.dest_blocked or self.queued > HIGH_WATER:
            self.reading_paused = True
            self.source.pause_reading()

    # -- toxics changing while the connection is open --
    def add(self, spec: ToxicSpec) -> None:
        stage = ToxicStage(self, spec)
        self.stages.append(stage)
        stage.start()

    def _stage(self, spec: ToxicSpec) -> ToxicStage | None:
        return next((stage for stage in self.stages if stage.spec is spec), None)

    async def update(self, spec: ToxicSpec) -> None:
        stage = self._stage(spec)
        if stage is not None and not stage.closed:
            await stage.interrupt()
            if not stage.closed and stage in self.stages:
                stage.start()

    async def remove(self, spec: ToxicSpec) -> None:
        stage = self._stage(spec)
        if stage is None:
            return
        await stage.interrupt()
        if stage not in self.stages:
            return
        if spec.toxic.CLOSES_ON_REMOVE and stage.active:
            stage.close()
        index = self.stages.index(stage)
        del self.stages[index]
        if not stage.closed:
            stage.closed = True
            leftovers = list(stage.queue)
            stage._drop_queue()
            if stage.ended is not None:
                leftovers.append(stage.ended)
            for item in leftovers:  # in order, to whatever now follows the removed stage
                self._put_at(index, item)

    def discard(self) -> None:
        for stage in self.stages:
            stage.discard()
